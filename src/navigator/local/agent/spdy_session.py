"""The server side of one upgraded SPDY/3.1 connection: streams over asyncio.

Behaves as k8s.io/streaming's SPDY connection over moby/spdystream does on a
kubelet: every stream the client opens is offered to `accept`, then answered
with an empty SYN_REPLY, or refused with RST_STREAM when `accept` says why
not; pings the client starts are echoed; GOAWAY closes the connection. Each
stream is read as a byte stream (``b""`` once the client has finished
sending) and written in DATA frames; `Stream.close` half-closes (FIN).

There is no flow control in spdystream, so back-pressure is TCP's: a stream
whose reader falls behind by more than `INBOX_LIMIT` bytes stops the
connection's reader until it catches up (spdystream's frame workers block the
same way). A stream nobody will read must be `discard`-ed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable

from navigator.local.agent import spdy

log = logging.getLogger(__name__)

INBOX_LIMIT = 1 << 20
DATA_CHUNK = 32 * 1024
MAX_STREAMS = 1000
CLOSE_LINGER = 5.0


class Stream:
    """One stream the client opened."""

    def __init__(self, session: Session, frame: spdy.SynStream) -> None:
        self.session = session
        self.id = frame.stream_id
        self.headers = frame.headers
        self.remote_done = False  # the client sent FIN or RST, or went away
        self.local_done = frame.unidirectional  # we sent FIN or RST
        self.was_reset = False  # by the client
        self._chunks: collections.deque[bytes] = collections.deque()
        self._queued = 0
        self._discard = False
        self._readable = asyncio.Event()
        self._drained = asyncio.Event()

    def header(self, name: str) -> str:
        return (self.headers.get(name.lower()) or [""])[0]

    async def read(self) -> bytes:
        """The next bytes the client sent on this stream; ``b""`` at its end."""
        while not self._chunks and not self.remote_done:
            self._readable.clear()
            await self._readable.wait()
        if not self._chunks:
            return b""
        data = self._chunks.popleft()
        self._queued -= len(data)
        if self._queued <= INBOX_LIMIT:
            self._drained.set()
        return data

    async def write(self, data: bytes) -> None:
        """Send `data` (nothing once this side is closed or the stream reset)."""
        for start in range(0, len(data), DATA_CHUNK):
            if self.local_done:
                return
            await self.session.send(spdy.Data(self.id, data[start : start + DATA_CHUNK]))

    async def close(self) -> None:
        """Half-close: FIN, the client reads to its end."""
        if not self.local_done:
            self.local_done = True
            self._forget_when_done()
            await self.session.send(spdy.Data(self.id, fin=True))

    async def reset(self) -> None:
        if not (self.local_done and self.remote_done):
            self.local_done = True
            self.finish()
            await self.session.send(spdy.RstStream(self.id, spdy.RstStatus.CANCEL))

    def reset_by_client(self) -> None:
        self.was_reset = self.local_done = True
        self.finish()

    def discard(self) -> None:
        """Nobody reads this stream: drop what arrives on it."""
        self._discard = True
        self._chunks.clear()
        self._queued = 0
        self._drained.set()

    async def deliver(self, data: bytes) -> None:
        if self._discard or self.remote_done or not data:
            return
        self._chunks.append(data)
        self._queued += len(data)
        self._readable.set()
        while self._queued > INBOX_LIMIT and not self._discard and not self.remote_done:
            self._drained.clear()
            await self._drained.wait()

    def finish(self) -> None:
        """The client will send no more on this stream."""
        self.remote_done = True
        self._readable.set()
        self._drained.set()
        self._forget_when_done()

    def _forget_when_done(self) -> None:
        if self.local_done and self.remote_done:
            self.session.streams.pop(self.id, None)


class Session:
    """One SPDY connection; run `serve`, take streams from `incoming`."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        accept: Callable[[Stream], str | None] = lambda _: None,
    ) -> None:
        self.reader, self.writer = reader, writer
        self.accept = accept
        self.incoming: asyncio.Queue[Stream] = asyncio.Queue()
        self.streams: dict[int, Stream] = {}
        self.closed = asyncio.Event()  # the client is gone (or broke the protocol)
        self.going_away = asyncio.Event()  # GOAWAY, either way
        self.last_id = 0  # the last stream the client opened
        self._encoder, self._decoder = spdy.Encoder(), spdy.Decoder()

    async def send(self, frame: spdy.Frame) -> None:
        if self.writer.is_closing():
            return
        self.writer.write(self._encoder.encode(frame))  # in order: one header context
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    async def serve(self) -> None:
        """Read frames until the client closes the connection."""
        try:
            while data := await self.reader.read(64 * 1024):
                for frame in self._decoder.feed(data):
                    await self._dispatch(frame)
        except spdy.SpdyError as err:
            log.warning("SPDY connection: %s", err)
            await self.send(spdy.GoAway(self.last_id, 1))
        except (OSError, asyncio.IncompleteReadError) as err:
            log.debug("SPDY connection: %s", err)
        finally:
            self.closed.set()
            self.going_away.set()
            for stream in list(self.streams.values()):
                stream.finish()

    async def close(self, linger: float = CLOSE_LINGER) -> None:
        """GOAWAY, then wait (a while) for the client to close its end."""
        if not self.going_away.is_set():
            self.going_away.set()
            await self.send(spdy.GoAway(self.last_id))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closed.wait(), linger)
        self.writer.close()

    async def _dispatch(self, frame: spdy.Frame) -> None:
        match frame:
            case spdy.SynStream():
                await self._open(frame)
            case spdy.Data(stream_id, data, fin):
                stream = self.streams.get(stream_id)
                if stream is not None:
                    await stream.deliver(data)
                    if fin:
                        stream.finish()
            case spdy.RstStream(stream_id):
                if (stream := self.streams.get(stream_id)) is not None:
                    stream.reset_by_client()
            case spdy.Ping(ping_id) if ping_id % 2 == 1:  # the client's own ping
                await self.send(frame)
            case spdy.GoAway():
                self.going_away.set()

    async def _open(self, frame: spdy.SynStream) -> None:
        sid = frame.stream_id
        if sid <= self.last_id or sid % 2 == 0 or len(self.streams) >= MAX_STREAMS:
            await self.send(spdy.RstStream(sid, spdy.RstStatus.PROTOCOL_ERROR))
            return
        self.last_id = sid
        stream = Stream(self, frame)
        refused = self.accept(stream)
        if refused is not None:
            log.info("SPDY stream %d refused: %s", sid, refused)
            await self.send(spdy.RstStream(sid, spdy.RstStatus.CANCEL))
            return
        self.streams[sid] = stream
        await self.send(spdy.SynReply(sid, {}))
        if frame.fin:
            stream.finish()
        self.incoming.put_nowait(stream)
