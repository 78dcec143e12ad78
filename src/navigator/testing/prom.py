"""Reading a Prometheus endpoint in tests and benchmarks."""

from __future__ import annotations

import socket
import urllib.request


def free_port() -> int:
    """A TCP port nothing listens on right now (on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def parse(text: str) -> dict[str, float]:
    """Every sample of an exposition, keyed by its name and labels as printed."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def scrape(port: int, host: str = "127.0.0.1") -> dict[str, float]:
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as resp:
        return parse(resp.read().decode())


def total(samples: dict[str, float], name: str) -> float:
    """The sum of `name` over all its label sets."""
    return sum(v for k, v in samples.items() if k == name or k.startswith(name + "{"))
