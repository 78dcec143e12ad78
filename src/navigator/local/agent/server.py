"""The kubelet endpoint the API server talks to: container logs over TLS.

Serves ``GET /containerLogs/<namespace>/<pod>/<container>`` (with ``follow``,
``previous``, ``tailLines``, ``limitBytes``) on the node's InternalIP and the
port advertised in ``Node.status.daemonEndpoints``. Clients must present a
certificate from the cluster CA; only the API server's kubelet-client identity
and cluster admins (``system:masters``) are served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from navigator.local.agent.config import AgentConfig

if TYPE_CHECKING:
    from navigator.local.agent.pods import PodManager, PodWorker

log = logging.getLogger(__name__)

ALLOWED_ORGS = {"system:masters"}
ALLOWED_USERS = {"kube-apiserver-kubelet-client"}


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
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = (await reader.readline()).decode(errors="replace").split()
        while (await reader.readline()).strip():
            pass
        if len(request) < 2:
            return
        if not allowed(writer.get_extra_info("peercert")):
            await _respond(writer, 403, b"Forbidden\n")
            return
        url = urlsplit(request[1])
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        if request[0] != "GET" or len(parts) != 4 or parts[0] != "containerLogs":
            await _respond(writer, 404, b"not found\n")
            return
        await self._logs(writer, parts[1], parts[2], parts[3], parse_qs(url.query))

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
        while True:
            running = container in worker.procs and worker.uid in self.pods.workers
            try:
                with path.open("rb") as fh:
                    fh.seek(offset)
                    more = fh.read()
            except OSError:
                break
            offset += len(more)
            await _chunk(writer, more)
            if not running:
                break
            await asyncio.sleep(0.2)
        writer.write(b"0\r\n\r\n")
        await writer.drain()


async def _chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    if data:
        writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        await writer.drain()


async def _respond(writer: asyncio.StreamWriter, code: int, body: bytes) -> None:
    reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found"}[code]
    head = (
        f"HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
