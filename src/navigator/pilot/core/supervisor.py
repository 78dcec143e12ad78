"""Run the database as a child process: start, forward signals, reap, report.

The pilot is PID 1's replacement in the container: it must reap the child,
forward termination, and exit with the database's status. The child's output
passes through the pilot to the pod log unchanged; the pilot keeps its last
lines, because a database that refuses to start says why only there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

TAIL_LINES = 200
# asyncio drops a line longer than this; the pod log gets a note in its place.
LINE_LIMIT = 1 << 20
PUMP_DRAIN = 5.0


@dataclass
class Child:
    """One running database process."""

    process: asyncio.subprocess.Process
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    pump: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def signal(self, sig: signal.Signals) -> None:
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    async def wait(self) -> int:
        return await self.process.wait()

    async def last_words(self) -> list[str]:
        """The last lines the child printed, once its output is read to the end
        (give up after a few seconds: a grandchild may hold the pipe open)."""
        if self.pump is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.pump), PUMP_DRAIN)
        return list(self.tail)

    async def stop(self, grace: float) -> int:
        """SIGTERM, then SIGKILL once `grace` seconds have passed."""
        self.signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            self.signal(signal.SIGKILL)
            return await self.process.wait()


async def start(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    out: BinaryIO | None = None,
) -> Child:
    """Start the database in its own process group; its stdout and stderr go
    to `out` (default: our stdout, the pod log)."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
        limit=LINE_LIMIT,
    )
    child = Child(proc)
    assert proc.stdout is not None
    child.pump = asyncio.create_task(
        _pump(proc.stdout, out or sys.stdout.buffer, child.tail), name="database-output"
    )
    return child


async def _pump(source: asyncio.StreamReader, sink: BinaryIO, tail: deque[str]) -> None:
    """Copy the child's output line by line, keeping the last lines."""
    while True:
        try:
            line = await source.readline()
        except ValueError:  # longer than LINE_LIMIT (asyncio has discarded it)
            line = b"[pilot: an output line longer than 1 MiB was dropped]\n"
        if not line:
            return
        with contextlib.suppress(OSError):
            sink.write(line)
            sink.flush()
        tail.append(line.decode(errors="replace").rstrip("\n"))


def exit_code(returncode: int) -> int:
    """A shell-style exit status: 128+N for a child killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode
