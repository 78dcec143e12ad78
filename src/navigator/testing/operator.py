"""`navigator operator` as a child process, for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from navigator.cassandra.profile import LOCAL_TEST


@dataclass
class OperatorProcess:
    """One operator replica with its own log. It can be started again after a
    kill; like a replacement pod, a restart has a new identity (`<identity>-2`,
    …), so it must win the Lease anew. Each start appends to the log."""

    kubeconfig: Path
    log: Path
    lease_namespace: str
    identity: str = "test"
    resync: float = 10.0
    metrics_port: int = 0
    lease_seconds: int | None = None
    namespaces: tuple[str, ...] = ()
    # The local cluster is a test machine: its members start with Cassandra's
    # fast-start shortcuts (navigator.cassandra.profile).
    cassandra_profile: str = LOCAL_TEST.name
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    starts: int = 0

    @property
    def current_identity(self) -> str:
        return self.identity if self.starts <= 1 else f"{self.identity}-{self.starts}"

    def argv(self) -> list[str]:
        out = [sys.executable, "-m", "navigator.cli", "operator"]
        out += ["--lease-namespace", self.lease_namespace, "--identity", self.current_identity]
        out += ["--resync", str(self.resync), "--metrics-port", str(self.metrics_port)]
        if self.lease_seconds is not None:
            out += ["--lease-seconds", str(self.lease_seconds)]
        for namespace in self.namespaces:
            out += ["--namespace", namespace]
        out += ["--cassandra-profile", self.cassandra_profile]
        return out

    def start(self) -> OperatorProcess:
        self.starts += 1
        with self.log.open("a") as out:
            out.write(f"--- start {self.starts} as {self.current_identity}\n")
            self.proc = subprocess.Popen(
                self.argv(),
                env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL: no cleanup, no Lease release."""
        assert self.proc is not None, "not started"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout: float = 20) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text()[-chars:] if self.log.exists() else ""

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
