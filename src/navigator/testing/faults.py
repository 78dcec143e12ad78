"""Faults the e2e and chaos suites inject into members on the local cluster.

Pods of the local cluster are host processes in their own namespaces, so a
member's pilot and database are found in /proc (by the pod's name and
namespace in their environment) and signalled directly; its network
namespace and root are reached through those processes.

Every fault is recorded in a `FaultLog` (what, on whom, from when to when):
the report counts them, and the invariant checks excuse a pod deletion the
test made itself. Randomness comes from one seeded `random.Random`, so a
failing sequence can be replayed.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from navigator.testing.operator import OperatorProcess

FILLER = "navigator-fault-filler"


@dataclass(frozen=True)
class Fault:
    kind: str  # operator-kill, pilot-stop, jvm-stop, partition, disk-full, pod-delete, ...
    target: str  # a member, a node, "operator"
    started: float  # monotonic
    ended: float | None = None


@dataclass
class FaultLog:
    """The faults injected so far (thread-safe)."""

    faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, target: str, started: float, ended: float | None = None) -> int:
        with self._lock:
            self.faults.append(Fault(kind, target, started, ended))
            return len(self.faults) - 1

    def end(self, index: int, at: float) -> None:
        with self._lock:
            old = self.faults[index]
            self.faults[index] = Fault(old.kind, old.target, old.started, at)

    @contextlib.contextmanager
    def during(self, kind: str, target: str) -> Iterator[None]:
        index = self.add(kind, target, time.monotonic())
        try:
            yield
        finally:
            self.end(index, time.monotonic())

    def excused(self, member: str, at: float, slack: float = 5.0) -> bool:
        """Whether a pod deletion of `member` at `at` was the test's own (a
        `pod-delete` or `volume-delete` fault on it, around that time)."""
        with self._lock:
            return any(
                f.target == member
                and f.kind in ("pod-delete", "volume-delete")
                and f.started - slack <= at <= (f.ended or at) + slack
                for f in self.faults
            )

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(f.kind for f in self.faults)

    def summary(self) -> str:
        counts = self.counts()
        return ", ".join(f"{kind} x{n}" for kind, n in sorted(counts.items())) or "none"


@dataclass(frozen=True)
class PodProcesses:
    pilot: int | None
    database: int | None


def _environ(pid: str) -> list[bytes]:
    return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")


def pod_processes(namespace: str, pod: str) -> PodProcesses:
    """The host PIDs of the pilot and the database JVM of `namespace/pod`."""
    want = {f"POD_NAME={pod}".encode(), f"POD_NAMESPACE={namespace}".encode()}
    pilot = database = None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if not want <= set(_environ(proc.name)):
                continue
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"CassandraDaemon" in a or b"org.elasticsearch" in a for a in argv):
            database = int(proc.name)
        elif b"pilot" in argv and any(b"navigator" in a for a in argv):
            pilot = int(proc.name) if pilot is None else min(pilot, int(proc.name))
    return PodProcesses(pilot, database)


def require(pid: int | None, what: str) -> int:
    if pid is None:
        raise AssertionError(f"no process for {what}")
    return pid


@contextlib.contextmanager
def stopped(pid: int) -> Iterator[None]:
    """SIGSTOP `pid` for the block (SIGCONT after, if it still exists)."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def _in_netns(pid: int, *args: str) -> str:
    return subprocess.run(
        ["nsenter", "-t", str(pid), "-n", *args], check=True, capture_output=True, text=True
    ).stdout


@contextlib.contextmanager
def partitioned(pid: int, device: str = "eth0") -> Iterator[None]:
    """Cut every packet of the network namespace `pid` lives in: its link
    goes down inside the namespace (nothing in, nothing out); healing brings
    it up and restores its default route (a link going down drops it)."""
    route = _in_netns(pid, "ip", "route", "show", "default").split()
    _in_netns(pid, "ip", "link", "set", device, "down")
    try:
        yield
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            _in_netns(pid, "ip", "link", "set", device, "up")
            if route:
                _in_netns(pid, "ip", "route", "replace", *route)


@contextlib.contextmanager
def volume_full(root: Path, leave: int = 0) -> Iterator[Path]:
    """Fill the file system mounted at `root` (a volume as the host sees it:
    the local provisioner's PV path, which outlives the pod's processes) up
    to `leave` free bytes with one file; remove it afterwards."""
    filler = root / FILLER
    st = os.statvfs(root)
    free = st.f_bavail * st.f_frsize
    with filler.open("wb") as out:
        # fallocate reserves the blocks without writing them (the last few MiB
        # may be refused for metadata: those are written out after it).
        with contextlib.suppress(OSError):
            os.posix_fallocate(out.fileno(), 0, max(free - leave - (8 << 20), 0))
        if leave == 0:
            out.seek(0, os.SEEK_END)
            chunk = b"\0" * (64 << 10)
            with contextlib.suppress(OSError):
                while True:
                    out.write(chunk)
                    out.flush()
    try:
        yield filler
    finally:
        with contextlib.suppress(FileNotFoundError):
            filler.unlink()


class OperatorKiller(threading.Thread):
    """SIGKILLs the operator at random moments (uniform in `between` seconds
    after each restart) and starts it again at once, until stopped."""

    def __init__(
        self,
        operator: OperatorProcess,
        rng: random.Random,
        log: FaultLog,
        between: tuple[float, float] = (2.0, 20.0),
    ) -> None:
        super().__init__(daemon=True, name="operator-killer")
        self.operator, self.rng, self.log, self.between = operator, rng, log, between
        self.kills = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.rng.uniform(*self.between)):
            self.operator.kill()
            self.log.add("operator-kill", "operator", time.monotonic(), time.monotonic())
            self.kills += 1
            self.operator.start()

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.kills
