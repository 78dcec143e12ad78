"""Timestamps in the API server's formats."""

from __future__ import annotations

import datetime as dt


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rfc3339(t: dt.datetime | None = None) -> str:
    """`metav1.Time`: seconds precision."""
    return (t or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro(t: dt.datetime | None = None) -> str:
    """`metav1.MicroTime` (leases, events.k8s.io)."""
    return (t or now()).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
