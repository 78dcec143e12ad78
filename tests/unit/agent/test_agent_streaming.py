"""The agent's streaming endpoints without a cluster: a SPDY session over a
socket pair, driven the way the API server drives a kubelet."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest

from navigator.local.agent import portforward, remotecommand, server, spdy
from navigator.local.agent.spdy_session import Session, Stream

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]


class Client:
    """The API server's end of a SPDY connection, in miniature."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.encoder, self.decoder = spdy.Encoder(), spdy.Decoder()
        self.pending: list[spdy.Frame] = []

    async def send(self, *frames: spdy.Frame) -> None:
        for frame in frames:
            self.writer.write(self.encoder.encode(frame))
        await self.writer.drain()

    async def open(self, sid: int, fin: bool = False, **headers: str) -> None:
        await self.send(spdy.SynStream(sid, {k: [v] for k, v in headers.items()}, fin=fin))

    async def next(self) -> spdy.Frame | None:
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), 10)
            if not data:
                return None
            self.pending.extend(self.decoder.feed(data))
        return self.pending.pop(0)

    async def until_closed(self) -> list[spdy.Frame]:
        frames = []
        while (frame := await self.next()) is not None:
            frames.append(frame)
            if isinstance(frame, spdy.GoAway):
                self.writer.close()
        return frames


def received(frames: list[spdy.Frame], sid: int) -> bytes:
    return b"".join(f.data for f in frames if isinstance(f, spdy.Data) and f.stream_id == sid)


def finished(frames: list[spdy.Frame], sid: int) -> bool:
    return any(isinstance(f, spdy.Data) and f.stream_id == sid and f.fin for f in frames)


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Session, Client]]:
    ours, theirs = socket.socketpair()
    session = Session(*await asyncio.open_connection(sock=ours))
    client = Client(*await asyncio.open_connection(sock=theirs))
    yield session, client
    client.writer.close()
    session.writer.close()


async def serving(session: Session, job: Any) -> asyncio.Task[None]:
    """What the server does with an upgraded connection (`server._run`)."""
    return asyncio.ensure_future(server._run(session, job))


# -- the session ----------------------------------------------------------------


async def test_streams_are_answered_read_to_their_end_and_written(
    pair: tuple[Session, Client],
) -> None:
    session, client = pair
    serve = asyncio.ensure_future(session.serve())
    await client.open(1, streamType="stdin")
    assert await client.next() == spdy.SynReply(1, {})
    stream = await session.incoming.get()
    assert stream.header("streamType") == "stdin"
    await client.send(spdy.Data(1, b"abc"), spdy.Data(1, b"def", fin=True))
    assert [await stream.read(), await stream.read(), await stream.read()] == [b"abc", b"def", b""]
    await stream.write(b"x" * 70000)
    await stream.close()
    frames = [await client.next() for _ in range(4)]
    assert [len(f.data) for f in frames if isinstance(f, spdy.Data)] == [32768, 32768, 4464, 0]
    assert 1 not in session.streams  # both ways finished
    serve.cancel()


async def test_pings_refusals_and_protocol_errors(pair: tuple[Session, Client]) -> None:
    session, client = pair
    session.accept = lambda s: None if s.header("streamType") == "ok" else "no"
    frames = asyncio.ensure_future(session.serve())
    await client.send(spdy.Ping(7), spdy.Ping(8))  # the client's (odd) is echoed
    assert await client.next() == spdy.Ping(7)
    await client.open(3, streamType="bad")
    assert await client.next() == spdy.RstStream(3, spdy.RstStatus.CANCEL)
    await client.open(5, streamType="ok")
    assert await client.next() == spdy.SynReply(5, {})
    await client.open(5, streamType="ok")  # ids only grow
    assert await client.next() == spdy.RstStream(5, spdy.RstStatus.PROTOCOL_ERROR)
    client.writer.write(b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01")  # SPDY/2
    assert await client.next() == spdy.GoAway(5, 1)
    await asyncio.wait_for(frames, 5)
    assert session.closed.is_set()


async def test_close_says_goaway_and_waits_for_the_client(pair: tuple[Session, Client]) -> None:
    session, client = pair
    job = asyncio.sleep(0)
    task = await serving(session, job)
    assert await client.until_closed() == [spdy.GoAway(0)]
    await asyncio.wait_for(task, 5)


# -- exec -------------------------------------------------------------------------


def exec_job(session: Session, opts: remotecommand.Options, command: list[str]) -> Any:
    run = remotecommand.run_exec
    return remotecommand.serve(session, opts, lambda ch: run(session, ch, opts, command))


async def test_exec_relays_stdio_and_reports_the_exit_code(pair: tuple[Session, Client]) -> None:
    session, client = pair
    session.accept = remotecommand.accept
    opts = remotecommand.Options(stdin=True, stdout=True, stderr=True, tty=False)
    task = await serving(session, exec_job(session, opts, ["sh", "-c", "cat; echo e >&2; exit 3"]))
    for sid, kind in ((1, "error"), (3, "stdin"), (5, "stdout"), (7, "stderr")):
        await client.open(sid, fin=kind == "error", streamType=kind)
    await client.send(spdy.Data(3, b"hello\n"), spdy.Data(3, b"", fin=True))
    frames = await client.until_closed()
    await asyncio.wait_for(task, 5)
    assert (received(frames, 5), received(frames, 7)) == (b"hello\n", b"e\n")
    assert json.loads(received(frames, 1)) == remotecommand.exited(3)
    assert all(finished(frames, sid) for sid in (1, 3, 5, 7))
    assert isinstance(frames[-1], spdy.GoAway)


async def test_exec_waits_for_every_stream_it_was_asked_for(pair: tuple[Session, Client]) -> None:
    session, client = pair
    session.accept = remotecommand.accept
    opts = remotecommand.Options(stdin=False, stdout=True, stderr=True, tty=False)
    task = await serving(session, exec_job(session, opts, ["echo", "ok"]))
    await client.open(1, fin=True, streamType="error")
    await client.open(3, streamType="stdout")
    await asyncio.sleep(0.3)
    assert not task.done()  # stderr has not been opened yet
    await client.open(5, streamType="stderr")
    frames = await client.until_closed()
    assert received(frames, 3) == b"ok\n"
    assert json.loads(received(frames, 1)) == {"status": "Success"}


async def test_exec_with_a_terminal_follows_resizes(pair: tuple[Session, Client]) -> None:
    session, client = pair
    session.accept = remotecommand.accept
    opts = remotecommand.Options(stdin=True, stdout=True, stderr=False, tty=True)
    script = "read go; stty size; test -t 0 && echo TTY"
    task = await serving(session, exec_job(session, opts, ["sh", "-c", script]))
    for sid, kind in ((1, "error"), (3, "stdin"), (5, "stdout"), (7, "resize")):
        await client.open(sid, streamType=kind)
    await client.send(spdy.Data(7, b'{"Width":120,"Height":40}\n'))
    await asyncio.sleep(0.2)
    await client.send(spdy.Data(3, b"go\n"))
    frames = await client.until_closed()
    await asyncio.wait_for(task, 5)
    assert b"40 120" in received(frames, 5)
    assert b"TTY" in received(frames, 5)
    assert json.loads(received(frames, 1)) == {"status": "Success"}


async def test_exec_that_cannot_start_is_an_internal_error(pair: tuple[Session, Client]) -> None:
    session, client = pair
    session.accept = remotecommand.accept
    opts = remotecommand.Options(stdin=False, stdout=True, stderr=False, tty=False)
    task = await serving(session, exec_job(session, opts, ["/no/such/binary"]))
    await client.open(1, fin=True, streamType="error")
    await client.open(3, streamType="stdout")
    frames = await client.until_closed()
    await asyncio.wait_for(task, 5)
    status = json.loads(received(frames, 1))
    assert (status["reason"], status["code"]) == ("InternalError", 500)


# -- port-forward -------------------------------------------------------------------


async def upper_server() -> tuple[asyncio.Server, int]:
    """Answers what it is sent in capitals once the client has finished sending."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write((await reader.read()).upper())
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    return srv, srv.sockets[0].getsockname()[1]


def connector(port: int) -> Callable[[int], Any]:
    async def connect(_: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", port)

    return connect


async def test_port_forward_relays_each_connection_both_ways(pair: tuple[Session, Client]) -> None:
    session, client = pair
    session.accept = portforward.accept
    srv, port = await upper_server()
    forwarder = portforward.Forwarder(session, connector(port), "pod ns/p")
    task = await serving(session, forwarder.run())
    for rid, (error, data) in enumerate(((1, 3), (5, 7))):
        await client.open(error, fin=True, streamType="error", port="80", requestID=str(rid))
        await client.open(data, streamType="data", port="80", requestID=str(rid))
        await client.send(spdy.Data(data, b"ping %d" % rid), spdy.Data(data, fin=True))
    frames = []
    while not (finished(frames, 3) and finished(frames, 7) and finished(frames, 5)):
        frame = await client.next()
        assert frame is not None
        frames.append(frame)
    assert (received(frames, 3), received(frames, 7)) == (b"PING 0", b"PING 1")
    assert received(frames, 1) == received(frames, 5) == b""
    client.writer.close()
    await asyncio.wait_for(task, 5)
    srv.close()


async def test_port_forward_reports_a_refused_connection(pair: tuple[Session, Client]) -> None:
    session, client = pair
    session.accept = portforward.accept

    async def refuse(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        raise OSError(f"dial tcp 127.0.0.1:{port}: connect: connection refused")

    task = await serving(session, portforward.Forwarder(session, refuse, "pod ns/p").run())
    await client.open(1, fin=True, streamType="error", port="9999", requestID="0")
    await client.open(3, streamType="data", port="9999", requestID="0")
    frames = [await client.next() for _ in range(5)]
    errors = cast(list[spdy.Frame], frames)
    assert b"error forwarding port 9999 to pod ns/p: dial tcp" in received(errors, 1)
    assert spdy.RstStream(3, spdy.RstStatus.CANCEL) in frames
    await client.open(5, streamType="data", port="0")
    assert await client.next() == spdy.RstStream(5, spdy.RstStatus.CANCEL)  # not a port
    client.writer.close()
    await asyncio.wait_for(task, 5)


# -- pure parts -----------------------------------------------------------------------


def test_options_follow_the_kubelets_query() -> None:
    query = {"input": ["1"], "output": ["1"], "error": ["1"], "tty": ["1"]}
    opts = remotecommand.Options.from_query(query)
    assert opts == remotecommand.Options(stdin=True, stdout=True, stderr=False, tty=True)
    assert opts.channels() == {"error", "stdin", "stdout", "resize"}
    with pytest.raises(ValueError, match="at least 1 of stdin, stdout, stderr"):
        remotecommand.Options.from_query({"tty": ["1"]})


def test_statuses_are_what_kubectl_decodes() -> None:
    causes = remotecommand.exited(3)["details"]["causes"]
    assert causes == [{"reason": "ExitCode", "message": "3"}]
    assert remotecommand.exit_code(-9) == 137
    assert remotecommand.exit_code(3) == 3


def test_terminal_sizes_come_in_pieces() -> None:
    sizes, rest = remotecommand.terminal_sizes(b'{"Width":80,"Height":24}\n{"Width":10')
    assert (sizes, rest) == ([(24, 80)], b'{"Width":10')
    assert remotecommand.terminal_sizes(rest + b',"Height":5}') == ([(5, 10)], b"")
    assert remotecommand.terminal_sizes(b'[1] {"Width":"x"} {"Width":1}') == ([(0, 1)], b"")
    assert remotecommand.terminal_sizes(b"x" * 5000) == ([], b"")  # never a message


def request(*headers: str) -> server.Request:
    return server.Request.parse("POST /exec/ns/p/c?command=ls&command=-l&output=1 HTTP/1.1",
                                list(headers))  # fmt: skip


def test_requests_parse_into_path_query_and_headers() -> None:
    req = request("Host: x", "X-Stream-Protocol-Version: a", "x-stream-protocol-version: b, c")
    assert (req.method, req.path) == ("POST", ["exec", "ns", "p", "c"])
    assert req.query["command"] == ["ls", "-l"]
    assert req.values("X-Stream-Protocol-Version") == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("headers", "status", "protocol"),
    [
        (["Connection: Upgrade", "Upgrade: SPDY/3.1",
          "X-Stream-Protocol-Version: v5.channel.k8s.io",
          "X-Stream-Protocol-Version: v4.channel.k8s.io"], 101, "v4.channel.k8s.io"),
        (["Connection: Upgrade", "Upgrade: SPDY/3.1",
          "X-Stream-Protocol-Version: v3.channel.k8s.io"], 403, ""),
        (["Connection: Upgrade", "Upgrade: SPDY/3.1"], 400, ""),
        (["Connection: keep-alive", "Upgrade: SPDY/3.1",
          "X-Stream-Protocol-Version: v4.channel.k8s.io"], 400, ""),
        (["Connection: Upgrade", "Upgrade: websocket",
          "X-Stream-Protocol-Version: v4.channel.k8s.io"], 400, ""),
    ],
)  # fmt: skip
def test_handshake_negotiates_as_k8s_streaming_does(
    headers: list[str], status: int, protocol: str
) -> None:
    answer = server.handshake(request(*headers), remotecommand.PROTOCOLS)
    assert (answer.status, answer.protocol) == (status, protocol)
    if status == 403:
        assert answer.accepted == remotecommand.PROTOCOLS


def fake_stream(sid: int, **headers: str) -> Stream:
    frame = spdy.SynStream(sid, {k.lower(): [v] for k, v in headers.items()})
    return Stream(cast(Session, None), frame)


def test_port_forward_streams_pair_by_request_id() -> None:
    error, data = fake_stream(1, streamType="error", port="80"), fake_stream(3, streamType="data")
    assert (portforward.request_id(error), portforward.request_id(data)) == ("1", "1")
    assert portforward.request_id(fake_stream(9, requestID="x")) == "x"
    assert portforward.accept(fake_stream(1, streamType="data", port="80")) is None
    assert "port" in (portforward.accept(fake_stream(1, streamType="data", port="x")) or "")
    assert "stream type" in (portforward.accept(fake_stream(1, streamType="o", port="1")) or "")
