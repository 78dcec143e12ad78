"""Detached processes tracked by pidfiles that survive the CLI that started them.

A pidfile records the pid and the process start time (from /proc), so a pid
reused by an unrelated process is never mistaken for our component.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Tracked:
    pid: int
    start_ticks: int


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; fields after it are fixed.
    rest = stat.rsplit(")", 1)[1].split()
    if rest[0] == "Z":  # a zombie is as good as gone
        return None
    return int(rest[19])


def read_pidfile(pidfile: Path) -> Tracked | None:
    try:
        pid_s, ticks_s = pidfile.read_text().split()
        return Tracked(int(pid_s), int(ticks_s))
    except (OSError, ValueError):
        return None


def running(pidfile: Path) -> Tracked | None:
    """The tracked process, if it is still the one we started."""
    tracked = read_pidfile(pidfile)
    if tracked is None or _start_ticks(tracked.pid) != tracked.start_ticks:
        return None
    return tracked


def start(
    argv: Sequence[str],
    *,
    pidfile: Path,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Tracked:
    """Start `argv` in its own session, output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )
    ticks = _start_ticks(proc.pid) or 0
    pidfile.write_text(f"{proc.pid} {ticks}\n")
    return Tracked(proc.pid, ticks)


def stop(pidfile: Path, *, grace: float = 10.0) -> bool:
    """SIGTERM the process group, SIGKILL after `grace`; True if something was stopped."""
    tracked = running(pidfile)
    if tracked is None:
        pidfile.unlink(missing_ok=True)
        return False
    _signal_group(tracked.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and running(pidfile):
        time.sleep(0.1)
    if running(pidfile):
        _signal_group(tracked.pid, signal.SIGKILL)
        while running(pidfile):
            time.sleep(0.05)
    pidfile.unlink(missing_ok=True)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def rss_bytes(pid: int) -> int:
    """Resident set size of one process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
