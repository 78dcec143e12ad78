"""Pod-like sandboxes for pilot tests: a network namespace on the local
cluster's pod network and a PID namespace, without the node agent.

Each member runs `navigator pilot cassandra` as PID 1 of its own PID namespace
(so killing the pilot kills Cassandra, as a container restart would), with an
address on the local cluster's bridge, a service-account token for identity,
and a Pod object whose status carries that address (what a kubelet reports).
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from navigator.local.controlplane import ClusterConfig
from navigator.local.network import BRIDGE

T = TypeVar("T")

PILOT_PROBE_PORT = 8080


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


@dataclass(frozen=True)
class Sandbox:
    """One member's network namespace on the cluster's bridge."""

    netns: str
    address: str
    prefix: int

    def create(self, cfg: ClusterConfig, port: str) -> None:
        self.destroy(port, cfg)
        _ip("netns", "add", self.netns)
        _ip("-n", self.netns, "link", "set", "lo", "up")
        _ip(
            "-n",
            cfg.netns,
            "link",
            "add",
            port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            self.netns,
        )
        _ip("-n", cfg.netns, "link", "set", port, "master", BRIDGE, "up")
        _ip("-n", self.netns, "addr", "add", f"{self.address}/{self.prefix}", "dev", "eth0")
        _ip("-n", self.netns, "link", "set", "eth0", "up")
        _ip("-n", self.netns, "route", "add", "default", "via", cfg.host_ip)

    def destroy(self, port: str, cfg: ClusterConfig) -> None:
        for pid in _ip("netns", "pids", self.netns, check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        _ip("netns", "delete", self.netns, check=False)
        _ip("-n", cfg.netns, "link", "delete", port, check=False)


@dataclass
class Member:
    """A pilot-run Cassandra member in its sandbox."""

    name: str
    sandbox: Sandbox
    workdir: Path
    env: Mapping[str, str]
    argv: list[str]
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return self.sandbox.address

    @property
    def log(self) -> Path:
        return self.workdir / "pilot.log"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    self.sandbox.netns,
                    "unshare",
                    "--pid",
                    "--fork",
                    "--kill-child",
                    "--mount-proc",
                    *self.argv,
                ],
                env=dict(self.env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def pilot_pid(self) -> int | None:
        """The pilot's pid as seen from the host (PID 1 of the member's namespace)."""
        pids = _ip("netns", "pids", self.sandbox.netns, check=False).stdout.split()
        for pid in pids:
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"pilot" in cmd and b"unshare" not in cmd[0] and any(b"navigator" in c for c in cmd):
                return int(pid)
        return None

    def cassandra_pid(self) -> int | None:
        for pid in _ip("netns", "pids", self.sandbox.netns, check=False).stdout.split():
            with contextlib.suppress(OSError):
                if b"CassandraDaemon" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return int(pid)
        return None

    def signal_pilot(self, sig: signal.Signals) -> None:
        pid = self.pilot_pid()
        if pid is not None:
            os.kill(pid, sig)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)


def pilot_kubeconfig(cfg: ClusterConfig, token: str) -> dict[str, object]:
    """A kubeconfig that reaches the API server from the pod network with a token."""
    ca = (cfg.layout.pki / "ca.crt").read_text()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {
                    "server": f"https://{cfg.host_ip}:{cfg.apiserver_port}",
                    "certificate-authority-data": base64.b64encode(ca.encode()).decode(),
                },
            }
        ],
        "users": [{"name": "pilot", "user": {"token": token}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "pilot"}}],
        "current-context": "local",
    }


def write_kubeconfig(path: Path, config: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)


def navigator_command() -> str:
    """The `navigator` console script of the running interpreter's environment."""
    exe = Path(sys.executable).with_name("navigator")
    return str(exe) if exe.exists() else shutil.which("navigator") or "navigator"


def eventually(
    check: Callable[[], T], timeout: float = 120.0, interval: float = 0.5, what: str = ""
) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` and
    `check`'s last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last  # type: ignore[no-any-return]
        time.sleep(interval)
    waited = f" waiting for {what}" if what else ""
    raise AssertionError(f"not within {timeout:.0f}s{waited} (last: {last!r})")


def probe(address: str, path: str, port: int = PILOT_PROBE_PORT) -> int:
    """The HTTP status of a pilot probe endpoint (0: no answer)."""
    try:
        with urllib.request.urlopen(f"http://{address}:{port}{path}", timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except OSError:
        return 0
