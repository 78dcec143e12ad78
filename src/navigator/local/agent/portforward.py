"""`kubectl port-forward`: TCP to a pod's ports over SPDY, as a kubelet serves it.

kubectl tunnels SPDY through a WebSocket to the API server, which hands the
bytes on to the node after an upgrade to SPDY/3.1 with sub-protocol
``portforward.k8s.io``. Each forwarded connection is a pair of streams with
the same ``requestID`` and ``port`` headers: ``streamType: error`` and
``streamType: data``. The agent connects to the port on the pod's loopback
(inside its network namespace, as containerd does) and relays bytes until the
pod's side closes; a connection that fails is reported as text on the error
stream. (k8s.io/cri-streaming/pkg/streaming/portforward, v0.36.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from navigator.local.agent.spdy_session import Session, Stream

log = logging.getLogger(__name__)

PROTOCOLS = ("portforward.k8s.io",)
STREAM_CREATION_TIMEOUT = 30.0
CHUNK = 32 * 1024

Connect = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


def port_of(stream: Stream) -> int:
    """The stream's ``port`` header (ValueError when it is not one)."""
    text = stream.header("port")
    if not text:
        raise ValueError('"port" header is required')
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError(f"port {text!r} must be between 1 and 65535")
    return port


def accept(stream: Stream) -> str | None:
    """Why a new stream is refused (None: it is fine), as the kubelet checks."""
    try:
        port_of(stream)
    except ValueError as err:
        return f"unable to parse port: {err}"
    kind = stream.header("streamType")
    if not kind:
        return '"streamType" header is required'
    return None if kind in ("data", "error") else f"invalid stream type {kind!r}"


def request_id(stream: Stream) -> str:
    """The pair a stream belongs to; clients too old to send ``requestID``
    open error then data streams with consecutive odd ids."""
    rid = stream.header("requestID")
    if rid:
        return rid
    return str(stream.id if stream.header("streamType") == "error" else stream.id - 2)


@dataclass
class Pair:
    """The streams of one forwarded connection, by `streamType`."""

    streams: dict[str, Stream] = field(default_factory=dict)
    expiry: asyncio.Task[None] | None = None

    def add(self, stream: Stream) -> tuple[Stream, Stream] | None:
        """(data, error) once both are here."""
        self.streams[stream.header("streamType")] = stream
        data, error = self.streams.get("data"), self.streams.get("error")
        return (data, error) if data and error else None


class Forwarder:
    """One port-forward connection: pairs streams, forwards each pair."""

    def __init__(self, session: Session, connect: Connect, describe: str) -> None:
        self.session = session
        self.connect = connect
        self.describe = describe  # "pod NS/NAME, uid UID", for error messages
        self.pairs: dict[str, Pair] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Until the client closes the connection."""
        getter: asyncio.Task[Stream] | None = None
        gone = asyncio.ensure_future(self.session.closed.wait())
        try:
            while not self.session.closed.is_set():
                getter = getter or asyncio.ensure_future(self.session.incoming.get())
                await asyncio.wait({getter, gone}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    self._add(getter.result())
                    getter = None
        finally:
            for task in [*self.tasks, gone, *([getter] if getter else [])]:
                task.cancel()
            await asyncio.gather(*self.tasks, gone, return_exceptions=True)

    def _add(self, stream: Stream) -> None:
        rid = request_id(stream)
        if rid not in self.pairs:
            self.pairs[rid] = Pair()
            self.pairs[rid].expiry = self._spawn(self._expire(rid))
        pair = self.pairs[rid]
        complete = pair.add(stream)
        if complete is not None:
            del self.pairs[rid]
            if pair.expiry is not None:
                pair.expiry.cancel()
            self._spawn(self.forward(*complete, port_of(stream)))

    def _spawn(self, job: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(job)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _expire(self, rid: str) -> None:
        """A pair still incomplete after a while is given up, as the kubelet does."""
        await asyncio.sleep(STREAM_CREATION_TIMEOUT)
        pair = self.pairs.pop(rid)
        message = f"timed out waiting for the streams of request {rid}"
        await _fail(pair.streams.get("data"), pair.streams.get("error"), message)

    async def forward(self, data: Stream, error: Stream, port: int) -> None:
        try:
            reader, writer = await self.connect(port)
        except OSError as err:
            await _fail(data, error, f"error forwarding port {port} to {self.describe}: {err}")
            return
        try:
            await relay(data, reader, writer)
        finally:
            writer.close()
            await error.close()


async def _fail(data: Stream | None, error: Stream | None, message: str) -> None:
    log.info("port-forward: %s", message)
    if error is not None:
        await error.write(message.encode())
        await error.close()
    if data is not None:
        await data.reset()


async def relay(stream: Stream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Bytes both ways until the pod's side has finished sending (or the client
    reset the stream); the client's end of input half-closes the pod's side."""
    upstream = asyncio.ensure_future(_to_pod(stream, writer))
    try:
        while data := await reader.read(CHUNK):
            if stream.was_reset:
                return
            await stream.write(data)
        await stream.close()
    except OSError as err:
        log.debug("port-forward: %s", err)
        await stream.reset()
    finally:
        upstream.cancel()
        await asyncio.gather(upstream, return_exceptions=True)


async def _to_pod(stream: Stream, writer: asyncio.StreamWriter) -> None:
    while data := await stream.read():
        writer.write(data)
        await writer.drain()
    if stream.was_reset:
        writer.transport.abort()
    elif writer.can_write_eof():
        with contextlib.suppress(OSError):
            writer.write_eof()
