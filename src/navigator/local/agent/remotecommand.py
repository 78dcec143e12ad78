"""`kubectl exec` and `kubectl attach`: remote commands over SPDY, as a kubelet serves them.

kubectl talks WebSocket (``v5.channel.k8s.io``) to the API server, which
translates to SPDY/3.1 towards the node (this agent declares no
``ExtendWebSocketsToKubelet`` node feature, so the API server does the
translation) with sub-protocol ``v4.channel.k8s.io``: the client opens one
stream per channel, told apart by the ``streamType`` header (``error``,
``stdin``, ``stdout``, ``stderr``, and ``resize`` with a terminal); once all
that the request asked for are there the command runs. When it has exited and
its output is sent, the ``error`` stream carries a JSON ``metav1.Status``
(``Success``, or ``Failure`` with reason ``NonZeroExitCode`` and the code as an
``ExitCode`` cause, which becomes kubectl's own exit code).
(k8s.io/cri-streaming/pkg/streaming/remotecommand, v0.36.)

The command runs as an exec probe does (`runtime.exec_command`): in the
container's namespaces, cgroups and root, as its user with its environment
and working directory. With ``tty=1`` it gets a pseudo-terminal whose size
follows the client's ``resize`` messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import logging
import os
import signal
import struct
import termios
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from navigator.local.agent.spdy_session import Session, Stream

log = logging.getLogger(__name__)

PROTOCOLS = ("v4.channel.k8s.io",)
STREAM_CREATION_TIMEOUT = 30.0
OUTPUT_DRAIN = 2.0  # after exit, for output still in flight (a background child may hold it)
CHUNK = 32 * 1024
CHANNELS = ("error", "stdin", "stdout", "stderr", "resize")
MAX_RESIZE_MESSAGE = 4096


@dataclass(frozen=True)
class Options:
    """Which channels a request asked for (the kubelet's query: input, output, error, tty)."""

    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    @classmethod
    def from_query(cls, query: dict[str, list[str]]) -> Options:
        def flag(name: str) -> bool:
            return query.get(name, [""])[0] == "1"

        tty = flag("tty")
        opts = cls(flag("input"), flag("output"), flag("error") and not tty, tty)
        if not (opts.stdin or opts.stdout or opts.stderr):
            raise ValueError("you must specify at least 1 of stdin, stdout, stderr")
        return opts

    def channels(self) -> set[str]:
        wanted = {"error": True, "stdin": self.stdin, "stdout": self.stdout}
        wanted |= {"stderr": self.stderr, "resize": self.tty}
        return {name for name, on in wanted.items() if on}


def success() -> dict[str, Any]:
    return {"status": "Success"}


def exited(code: int) -> dict[str, Any]:
    """What a kubelet writes on the error stream for a non-zero exit."""
    return {
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: exit status {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def internal_error(message: str) -> dict[str, Any]:
    return {
        "status": "Failure",
        "message": f"Internal error occurred: error executing command in container: {message}",
        "reason": "InternalError",
        "code": 500,
    }


def exit_code(returncode: int) -> int:
    """A process's status as a container runtime reports it (128 + signal)."""
    return 128 - returncode if returncode < 0 else returncode


def terminal_sizes(buffer: bytes) -> tuple[list[tuple[int, int]], bytes]:
    """Complete ``{"Width": w, "Height": h}`` messages in `buffer` as (rows, columns),
    and what is left of it (a message still arriving)."""
    decoder, text = json.JSONDecoder(), buffer.decode(errors="replace")
    sizes: list[tuple[int, int]] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        try:
            msg, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            rest = text[pos:].encode()
            return sizes, rest if len(rest) < MAX_RESIZE_MESSAGE else b""
        with contextlib.suppress(AttributeError, TypeError, ValueError):
            sizes.append((int(msg.get("Height", 0)), int(msg.get("Width", 0))))


# -- the channels ------------------------------------------------------------


@dataclass
class Channels:
    """The streams of one exec or attach, by `streamType`."""

    streams: dict[str, Stream] = field(default_factory=dict)

    def get(self, name: str) -> Stream | None:
        return self.streams.get(name)

    async def report(self, status: dict[str, Any]) -> None:
        """The status on the error stream, then every stream half-closed."""
        error = self.streams.get("error")
        if error is not None:
            await error.write(json.dumps(status).encode())
        for stream in self.streams.values():
            await stream.close()


def accept(stream: Stream) -> str | None:
    kind = stream.header("streamType")
    return None if kind in CHANNELS else f"unexpected stream type {kind!r}"


async def wait_for_channels(session: Session, opts: Options, within: float) -> Channels | None:
    """The streams `opts` asked for, once the client has opened them all
    (None if it went away or took longer than `within`)."""
    wanted, channels = opts.channels(), Channels()
    try:
        async with asyncio.timeout(within):
            while not wanted <= channels.streams.keys():
                stream = await _next_stream(session)
                if stream is None:
                    return None
                channels.streams[stream.header("streamType")] = stream
    except TimeoutError:
        log.warning("exec: timed out waiting for the client to create streams")
        return None
    return channels


async def _next_stream(session: Session) -> Stream | None:
    get = asyncio.ensure_future(session.incoming.get())
    gone = asyncio.ensure_future(session.closed.wait())
    try:
        await asyncio.wait({get, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        got = get.done()
        if not got:
            get.cancel()
    return get.result() if got else None


# -- file descriptors, asynchronously ---------------------------------------


async def _ready(fd: int, *, write: bool) -> None:
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    if write:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await waiter
    finally:
        (loop.remove_writer if write else loop.remove_reader)(fd)


async def read_fd(fd: int) -> bytes:
    """The next bytes from a non-blocking pipe or terminal; ``b""`` at its end
    (a terminal whose other side is closed says EIO)."""
    while True:
        try:
            return os.read(fd, CHUNK)
        except BlockingIOError:
            await _ready(fd, write=False)
        except OSError as err:
            if err.errno == errno.EIO:
                return b""
            raise


async def write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            await _ready(fd, write=True)


@dataclass
class ProcessIO:
    """Our ends of the command's stdin/stdout/stderr, and the child's."""

    ours: dict[str, int]  # "stdin" (we write), "stdout", "stderr" (we read)
    child: list[int]  # what the command gets as fd 0, 1, 2
    terminal: int | None = None  # the pseudo-terminal's controlling side
    null: int | None = None  # /dev/null, for what the request did not ask for

    @classmethod
    def open(cls, opts: Options) -> ProcessIO:
        if opts.tty:
            control, term = os.openpty()
            os.set_blocking(control, False)
            ours = {"stdout": control, **({"stdin": os.dup(control)} if opts.stdin else {})}
            return cls(ours, [term] * 3, terminal=control)
        null = os.open(os.devnull, os.O_RDWR)
        io = cls({}, [null] * 3, null=null)
        for index, name in enumerate(("stdin", "stdout", "stderr")):
            if getattr(opts, name):
                read, write = os.pipe()
                io.ours[name], io.child[index] = (write, read) if index == 0 else (read, write)
                os.set_blocking(io.ours[name], False)
        return io

    def close_child(self) -> None:
        for fd in {*self.child, *([self.null] if self.null is not None else [])}:
            _close(fd)
        self.child, self.null = [], None

    def close(self, name: str | None = None) -> None:
        for key in [name] if name else list(self.ours):
            if key in self.ours:
                _close(self.ours.pop(key))


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def set_size(fd: int, rows: int, columns: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


# -- the pumps ----------------------------------------------------------------


async def pump_out(fd: int, stream: Stream) -> None:
    while data := await read_fd(fd):
        await stream.write(data)


async def pump_in(stream: Stream, io: ProcessIO) -> None:
    """Client → command; the command's stdin closes when the client's does
    (not a terminal's: that stays until the command is done)."""
    fd = io.ours["stdin"]
    try:
        while data := await stream.read():
            await write_fd(fd, data)
    except OSError:  # the command closed its stdin
        stream.discard()
    if io.terminal is None:
        io.close("stdin")


async def pump_resize(stream: Stream, terminal: int) -> None:
    rest = b""
    while data := await stream.read():
        sizes, rest = terminal_sizes(rest + data)
        for rows, columns in sizes:
            set_size(terminal, rows, columns)


def _pumps(channels: Channels, io: ProcessIO) -> Iterator[tuple[str, Any]]:
    for name in ("stdout", "stderr"):
        stream = channels.get(name)
        if stream is not None and name in io.ours:
            yield "out", pump_out(io.ours[name], stream)
    stdin = channels.get("stdin")
    if stdin is not None:
        yield "in", pump_in(stdin, io) if "stdin" in io.ours else _drop(stdin)
    resize = channels.get("resize")
    if resize is not None:
        yield "in", pump_resize(resize, io.terminal) if io.terminal else _drop(resize)


async def _drop(stream: Stream) -> None:
    stream.discard()


# -- exec and attach ----------------------------------------------------------


async def run_exec(
    session: Session, channels: Channels, opts: Options, command: list[str]
) -> dict[str, Any] | None:
    """Run `command` with the channels as its stdio; its status, or None when
    the client went away first (the command is killed then)."""
    io = ProcessIO.open(opts)
    try:
        proc = await asyncio.create_subprocess_exec(
            *command, stdin=io.child[0], stdout=io.child[1], stderr=io.child[2],
            start_new_session=True,
        )  # fmt: skip
    except OSError as err:
        io.close()
        return internal_error(str(err))
    finally:
        io.close_child()
    try:
        return await _supervise(session, channels, io, proc)
    finally:
        io.close()


async def _supervise(
    session: Session, channels: Channels, io: ProcessIO, proc: asyncio.subprocess.Process
) -> dict[str, Any] | None:
    tasks = {asyncio.ensure_future(job): kind for kind, job in _pumps(channels, io)}
    waiter, gone = asyncio.ensure_future(proc.wait()), asyncio.ensure_future(session.closed.wait())
    try:
        await asyncio.wait({waiter, gone}, return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():
            _kill(proc)
            return None
        outputs = [t for t, kind in tasks.items() if kind == "out"]
        if outputs:
            await asyncio.wait(outputs, timeout=OUTPUT_DRAIN)
        code = exit_code(waiter.result())
        return success() if code == 0 else exited(code)
    finally:
        for task in [*tasks, gone]:
            task.cancel()
        await asyncio.gather(*tasks, gone, return_exceptions=True)
        if not waiter.done():
            await waiter


def _kill(proc: asyncio.subprocess.Process) -> None:
    """The client is gone: the command's process group goes too (a terminal's
    session gets its hang-up when the terminal closes)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


async def run_attach(
    session: Session, channels: Channels, output: AsyncIterator[bytes]
) -> dict[str, Any] | None:
    """Stream the container's output (from now on) until it stops; input is
    dropped (containers here have no stdin)."""
    sink = channels.get("stdout") or channels.get("stderr")
    for name in ("stdin", "resize"):
        if (stream := channels.get(name)) is not None:
            stream.discard()
    relay = asyncio.ensure_future(_relay(output, sink))
    gone = asyncio.ensure_future(session.closed.wait())
    await asyncio.wait({relay, gone}, return_when=asyncio.FIRST_COMPLETED)
    for task in (relay, gone):
        task.cancel()
    await asyncio.gather(relay, gone, return_exceptions=True)
    return None if session.closed.is_set() else success()


async def _relay(output: AsyncIterator[bytes], sink: Stream | None) -> None:
    async for data in output:
        if sink is not None:
            await sink.write(data)


async def serve(
    session: Session, opts: Options, run: Callable[[Channels], Awaitable[dict[str, Any] | None]]
) -> None:
    """Wait for the client's streams, `run` the command or attachment on them,
    report its status, and close the connection."""
    channels = await wait_for_channels(session, opts, STREAM_CREATION_TIMEOUT)
    if channels is None:
        return
    status = await run(channels)
    if status is not None:
        await channels.report(status)
