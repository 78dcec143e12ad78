"""The kubelet endpoint the API server talks to: logs, exec, attach, port-forward.

Serves, on the node's InternalIP and the port advertised in
``Node.status.daemonEndpoints``:

- ``GET /containerLogs/<namespace>/<pod>/<container>`` (with ``follow``,
  ``previous``, ``tailLines``, ``limitBytes``);
- ``/exec/<namespace>/<pod>[/<uid>]/<container>?command=...`` and
  ``/attach/...`` (``input``, ``output``, ``error``, ``tty``), see
  `remotecommand`;
- ``/portForward/<namespace>/<pod>[/<uid>]``, see `portforward`.

The last three are HTTP upgrades to SPDY/3.1 (`spdy_session`), negotiated
with ``X-Stream-Protocol-Version`` as k8s.io/streaming's ``Handshake`` does.
Clients must present a certificate from the cluster CA; only the API server's
kubelet-client identity and cluster admins (``system:masters``) are served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from navigator.local.agent import netns, portforward, remotecommand, runtime
from navigator.local.agent.config import AgentConfig
from navigator.local.agent.spdy_session import Session, Stream

if TYPE_CHECKING:
    from navigator.local.agent.pods import PodManager, PodWorker
    from navigator.local.agent.probes import Target

log = logging.getLogger(__name__)

ALLOWED_ORGS = {"system:masters"}
ALLOWED_USERS = {"kube-apiserver-kubelet-client"}
MAX_HEADER_LINES = 200
SPDY = "SPDY/3.1"
REASONS = {
    200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 500: "Internal Server Error",
}  # fmt: skip


def server_context(cfg: AgentConfig) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cfg.serving_cert_file), str(cfg.serving_key_file))
    ctx.load_verify_locations(str(cfg.ca_file))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def allowed(peer_cert: object) -> bool:
    if not isinstance(peer_cert, dict):
        return False
    names: dict[str, set[str]] = {}
    for rdn in peer_cert.get("subject", ()):
        for key, value in rdn:
            names.setdefault(key, set()).add(value)
    return bool(
        names.get("commonName", set()) & ALLOWED_USERS
        or names.get("organizationName", set()) & ALLOWED_ORGS
    )


def tail(data: bytes, lines: int | None, limit: int | None) -> bytes:
    if lines is not None:
        parts = data.splitlines(keepends=True)
        data = b"".join(parts[-lines:]) if lines > 0 else b""
    if limit is not None:
        data = data[:limit]
    return data


@dataclass(frozen=True)
class Request:
    method: str
    path: list[str]  # the unquoted segments
    query: dict[str, list[str]]
    headers: dict[str, list[str]]  # by lower-case name

    @classmethod
    def parse(cls, request_line: str, header_lines: list[str]) -> Request:
        method, target = [*request_line.split(), "", ""][:2]
        url = urlsplit(target)
        headers: dict[str, list[str]] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        path = [unquote(p) for p in url.path.strip("/").split("/")]
        return cls(method, path, parse_qs(url.query), headers)

    def values(self, name: str) -> list[str]:
        """Every value of a header, comma-separated ones split."""
        items = (v.strip() for line in self.headers.get(name.lower(), []) for v in line.split(","))
        return [v for v in items if v]


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    request_line = (await reader.readline()).decode(errors="replace").strip()
    lines: list[str] = []
    while len(lines) < MAX_HEADER_LINES:
        line = (await reader.readline()).decode(errors="replace").strip()
        if not line:
            break
        lines.append(line)
    return Request.parse(request_line, lines) if request_line else None


@dataclass(frozen=True)
class Handshake:
    """The answer to an upgrade request: 101 with `protocol`, or an error."""

    status: int
    protocol: str = ""
    message: str = ""
    accepted: tuple[str, ...] = ()


def handshake(request: Request, supported: tuple[str, ...]) -> Handshake:
    """k8s.io/streaming's SPDY upgrade checks and protocol negotiation: the
    first protocol the client offers that the server supports."""
    upgrade = [v.lower() for v in request.values("upgrade")]
    if "upgrade" not in [v.lower() for v in request.values("connection")] or (
        SPDY.lower() not in upgrade
    ):
        return Handshake(400, message="unable to upgrade: missing upgrade headers in request")
    offered = request.values("X-Stream-Protocol-Version")
    if not offered:
        return Handshake(
            400, message="unable to upgrade: header X-Stream-Protocol-Version does not exist"
        )
    for protocol in offered:
        if protocol in supported:
            return Handshake(101, protocol)
    message = (
        f"unable to upgrade: unable to negotiate protocol: client supports {offered}, "
        f"server accepts {list(supported)}"
    )
    return Handshake(403, message=message, accepted=supported)


class KubeletServer:
    def __init__(self, cfg: AgentConfig, pods: PodManager) -> None:
        self.cfg = cfg
        self.pods = pods
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(
            self._handle, self.cfg.node_ip, self.cfg.kubelet_port, ssl=server_context(self.cfg)
        )

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError, ValueError) as err:
            log.debug("kubelet endpoint: %s", err)
        except asyncio.CancelledError:
            # The agent is stopping with a session open (exec, port-forward):
            # Python 3.11's stream server logs a cancelled handler as an error.
            log.debug("kubelet endpoint: connection cancelled")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        if request is None:
            return
        if not allowed(writer.get_extra_info("peercert")):
            await _respond(writer, 403, b"Forbidden\n")
            return
        kind, args = request.path[0], request.path[1:]
        if kind == "containerLogs" and len(args) == 3 and request.method == "GET":
            await self._logs(writer, args[0], args[1], args[2], request.query)
        elif kind in ("exec", "attach") and len(args) in (3, 4) and _streaming(request):
            await self._remote_command(reader, writer, request, kind, args)
        elif kind == "portForward" and len(args) in (2, 3) and _streaming(request):
            await self._port_forward(reader, writer, request, args)
        else:
            await _respond(writer, 404, b"not found\n")

    def _worker(self, ns: str, pod: str, uid: str | None) -> PodWorker | None:
        worker = self.pods.find(ns, pod)
        return worker if worker is not None and uid in (None, worker.uid) else None

    async def _logs(
        self,
        writer: asyncio.StreamWriter,
        ns: str,
        pod: str,
        container: str,
        query: dict[str, list[str]],
    ) -> None:
        worker = self.pods.find(ns, pod)
        if worker is None:
            await _respond(writer, 404, f"pod {ns}/{pod} not found on this node\n".encode())
            return
        try:
            st = worker.state(container)
        except KeyError:
            await _respond(writer, 400, f"container {container} is not valid\n".encode())
            return
        previous = query.get("previous", ["false"])[0] == "true"
        restart = st.restart_count - 1 if previous else st.restart_count
        path = worker.log_path(container, restart)
        if restart < 0 or not path.exists():
            msg = (
                f'previous terminated container "{container}" not found'
                if previous
                else (f'container "{container}" in pod "{pod}" is waiting to start')
            )
            await _respond(writer, 400, msg.encode() + b"\n")
            return
        lines = int(query["tailLines"][0]) if "tailLines" in query else None
        limit = int(query["limitBytes"][0]) if "limitBytes" in query else None
        data = tail(path.read_bytes(), lines, limit)
        follow = query.get("follow", ["false"])[0] == "true" and not previous
        if not follow:
            await _respond(writer, 200, data)
            return
        await self._follow(writer, worker, container, path, data)

    async def _follow(
        self,
        writer: asyncio.StreamWriter,
        worker: PodWorker,
        container: str,
        path: Path,
        data: bytes,
    ) -> None:
        """Stream the log until the container stops or the client goes away."""
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        offset = path.stat().st_size  # noqa: ASYNC240 (small local file operation)
        await _chunk(writer, data)
        async for more in self.follow_log(worker, container, path, offset):
            await _chunk(writer, more)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def follow_log(
        self, worker: PodWorker, container: str, path: Path, offset: int
    ) -> AsyncIterator[bytes]:
        """What a container writes to its log from `offset` on, until it stops."""
        while True:
            running = container in worker.procs and worker.uid in self.pods.workers
            try:
                with path.open("rb") as fh:
                    fh.seek(offset)
                    more = fh.read()
            except OSError:
                return
            offset += len(more)
            if more:
                yield more
            if not running:
                return
            await asyncio.sleep(0.2)

    async def _remote_command(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: Request,
        kind: str,
        args: list[str],
    ) -> None:
        ns, pod, container = args[0], args[1], args[-1]
        worker = self._worker(ns, pod, args[2] if len(args) == 4 else None)
        if worker is None:
            await _respond(writer, 404, b"pod does not exist\n")
            return
        target = await worker.running_target(container)
        if target is None:
            await _respond(writer, 404, f'container not found ("{container}")\n'.encode())
            return
        try:
            opts = remotecommand.Options.from_query(request.query)
        except ValueError as err:
            await _respond(writer, 400, f"{err}\n".encode())
            return
        if kind == "exec":
            await self._exec(reader, writer, request, opts, target)
        else:
            await self._attach(reader, writer, request, opts, worker, container)

    async def _exec(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: Request,
        opts: remotecommand.Options,
        target: Target,
    ) -> None:
        argv = request.query.get("command", [])
        if not argv:
            await _respond(writer, 400, b"you must specify a command\n")
            return
        assert target.init_pid is not None
        env = {**target.env, "TERM": "xterm"} if opts.tty else target.env
        command = runtime.exec_command(target.init_pid, argv, env, target.process, tty=opts.tty)
        session = await _upgrade(
            reader, writer, request, remotecommand.PROTOCOLS, remotecommand.accept
        )
        if session is not None:
            run = remotecommand.run_exec
            job = remotecommand.serve(session, opts, lambda ch: run(session, ch, opts, command))
            await _run(session, job)

    async def _attach(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: Request,
        opts: remotecommand.Options,
        worker: PodWorker,
        container: str,
    ) -> None:
        path = worker.log_path(container, worker.state(container).restart_count)
        offset = os.stat(path).st_size if path.exists() else 0
        session = await _upgrade(
            reader, writer, request, remotecommand.PROTOCOLS, remotecommand.accept
        )
        if session is not None:
            output = self.follow_log(worker, container, path, offset)
            run = remotecommand.run_attach
            await _run(
                session, remotecommand.serve(session, opts, lambda ch: run(session, ch, output))
            )

    async def _port_forward(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: Request,
        args: list[str],
    ) -> None:
        worker = self._worker(args[0], args[1], args[2] if len(args) == 3 else None)
        sandbox = worker.sandbox if worker is not None else None
        if worker is None or sandbox is None:
            await _respond(writer, 404, b"pod does not exist\n")
            return
        session = await _upgrade(reader, writer, request, portforward.PROTOCOLS, portforward.accept)
        if session is not None:
            describe = f"pod {worker.ns}/{worker.name}, uid {worker.uid}"
            connect = lambda port: netns.open_connection_in(sandbox.path, port)  # noqa: E731
            await _run(session, portforward.Forwarder(session, connect, describe).run())


def _streaming(request: Request) -> bool:
    return request.method in ("GET", "POST")


async def _upgrade(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    request: Request,
    protocols: tuple[str, ...],
    accept: Callable[[Stream], str | None],
) -> Session | None:
    """Switch to SPDY (a session whose client may open the streams `accept`
    lets through), or answer why not (None)."""
    answer = handshake(request, protocols)
    if answer.status != 101:
        extra = [("X-Accepted-Stream-Protocol-Versions", p) for p in answer.accepted]
        await _respond(writer, answer.status, answer.message.encode() + b"\n", extra)
        return None
    writer.write(
        (
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
            f"Upgrade: {SPDY}\r\nX-Stream-Protocol-Version: {answer.protocol}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    return Session(reader, writer, accept)


async def _run(session: Session, job: Awaitable[None]) -> None:
    """Serve the session's frames while `job` uses its streams; then GOAWAY."""
    frames = asyncio.ensure_future(session.serve())
    try:
        await job
        await session.close()
    finally:
        session.writer.close()
        frames.cancel()
        await asyncio.gather(frames, return_exceptions=True)


async def _chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    if data:
        writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        await writer.drain()


async def _respond(
    writer: asyncio.StreamWriter,
    code: int,
    body: bytes,
    headers: list[tuple[str, str]] | None = None,
) -> None:
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers or [])
    head = (
        f"HTTP/1.1 {code} {REASONS[code]}\r\nContent-Type: text/plain\r\n{extra}"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
