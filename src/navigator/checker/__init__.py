"""The data-integrity checker: write during an operation, then prove every replica kept every ack.

The report logic is pure and always importable. `DataChecker` needs
cassandra-driver and is imported on first use, so ``navigator`` itself starts
without the driver installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from navigator.checker.report import (
    Attempt,
    Failure,
    Outcome,
    ReadBack,
    ReplicaRead,
    Report,
    RunInfo,
    build_report,
)

if TYPE_CHECKING:
    from navigator.checker.connection import ConnectionSettings
    from navigator.checker.workload import DataChecker, Settings

__all__ = [
    "Attempt",
    "ConnectionSettings",
    "DataChecker",
    "Failure",
    "Outcome",
    "ReadBack",
    "ReplicaRead",
    "Report",
    "RunInfo",
    "Settings",
    "build_report",
]

_LAZY = {
    "DataChecker": "navigator.checker.workload",
    "Settings": "navigator.checker.workload",
    "ConnectionSettings": "navigator.checker.connection",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
