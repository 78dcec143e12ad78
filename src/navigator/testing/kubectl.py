"""Long-running kubectl commands in tests: `kubectl port-forward`."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

_FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+)")


@contextmanager
def port_forward(argv: Sequence[str]) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """Run `argv`, a whole `kubectl ... port-forward TARGET :REMOTE` command
    line; yield the local port kubectl chose and the process, while it runs."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = _FORWARDING.search(line)
        if not found:
            err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
            raise AssertionError(f"kubectl port-forward did not start: {line}{err}")
        yield int(found.group(1)), proc
    finally:
        proc.terminate()
        proc.wait(10)
