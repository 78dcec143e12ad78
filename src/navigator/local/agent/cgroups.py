"""Resource limits: one cgroup (v1 memory and cpu controllers) per container.

Only containers with limits get one. The shim moves itself into it before it
execs the container, so every process of the container is accounted and
capped; a container killed by the memory controller is reported OOMKilled.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from navigator.local.agent.kube import Obj
from navigator.quantity import require_quantity

ROOT = Path("/sys/fs/cgroup")
PARENT = "navigator"
CFS_PERIOD = 100_000


@dataclass(frozen=True)
class Limits:
    memory_bytes: int | None = None
    cpu_quota_us: int | None = None

    @property
    def any(self) -> bool:
        return self.memory_bytes is not None or self.cpu_quota_us is not None


def limits_of(container: Obj) -> Limits:
    limits = container.get("resources", {}).get("limits", {})
    memory = int(require_quantity(limits["memory"])) if "memory" in limits else None
    cpu = max(1000, int(require_quantity(limits["cpu"]) * CFS_PERIOD)) if "cpu" in limits else None
    return Limits(memory, cpu)


@dataclass(frozen=True)
class ContainerGroup:
    """The container's directories in the controllers it needs."""

    name: str  # unique per cluster, node, pod and container
    limits: Limits

    def dirs(self) -> list[Path]:
        out = []
        if self.limits.memory_bytes is not None:
            out.append(ROOT / "memory" / PARENT / self.name)
        if self.limits.cpu_quota_us is not None:
            out.append(ROOT / "cpu" / PARENT / self.name)
        return out

    def create(self) -> list[str]:
        """Make the groups with their limits; the paths the shim joins."""
        self.remove()
        for d in self.dirs():
            d.mkdir(parents=True, exist_ok=True)
        if self.limits.memory_bytes is not None:
            memory = ROOT / "memory" / PARENT / self.name
            (memory / "memory.limit_in_bytes").write_text(str(self.limits.memory_bytes))
            with contextlib.suppress(OSError):  # no swap accounting on some kernels
                (memory / "memory.memsw.limit_in_bytes").write_text(str(self.limits.memory_bytes))
        if self.limits.cpu_quota_us is not None:
            cpu = ROOT / "cpu" / PARENT / self.name
            (cpu / "cpu.cfs_period_us").write_text(str(CFS_PERIOD))
            (cpu / "cpu.cfs_quota_us").write_text(str(self.limits.cpu_quota_us))
        return [str(d / "cgroup.procs") for d in self.dirs()]

    def oom_killed(self) -> bool:
        control = ROOT / "memory" / PARENT / self.name / "memory.oom_control"
        with contextlib.suppress(OSError):
            for line in control.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        return False

    def remove(self) -> None:
        for d in self.dirs():
            with contextlib.suppress(OSError):
                d.rmdir()


def sweep(prefix: str) -> None:
    """Remove the (empty) groups of every container whose name starts with `prefix`."""
    for controller in ("memory", "cpu"):
        parent = ROOT / controller / PARENT
        with contextlib.suppress(OSError):
            for entry in os.scandir(parent):
                if entry.name.startswith(prefix):
                    with contextlib.suppress(OSError):
                        os.rmdir(entry.path)
