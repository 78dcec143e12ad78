"""The operator against real Cassandra pods on the local cluster.

The session's local cluster gets three node agents; the CRDs are installed;
the `navigator-cassandra` image (Cassandra plus the pilot) is built from this
work tree; the operator runs as a host process with the admin kubeconfig and
can be killed and restarted by a test. The scenarios share one
CassandraCluster in one namespace, in file order (a Cassandra member costs
half a minute or more to join on two cores).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import ssl
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from navigator.cassandra import pilot_image
from navigator.cassandra.profile import LOCAL_TEST
from navigator.checker import ConnectionSettings, DataChecker, Report, Settings
from navigator.local import cluster
from navigator.local.agent.fleet import NodeSet
from navigator.testing.faults import FaultLog
from navigator.testing.invariants import Invariants, Monitor
from navigator.testing.operator import OperatorProcess
from navigator.testing.pytest_plugin import LocalCluster, install_crds

REPO = Path(__file__).resolve().parents[3]
NODES = 3
RATE = 100.0  # the checker's writes per second during a scenario
# Every module's scenarios, in the order they ran: one report per session.
ROWS: list[tuple[str, float, Any]] = []
NOTES: list[tuple[str, tuple[str, ...]]] = []


@dataclass
class Kube:
    """The cluster, the test namespace and kubectl helpers (whoever runs the
    operator: tests/e2e/deploy installs it in the cluster)."""

    cluster: LocalCluster
    namespace: str

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> str:
        return self.cluster.kubectl("-n", self.namespace, *args, check=check, input=input).stdout

    def get(self, kind: str, name: str = "", selector: str = "") -> Any:
        args = ["get", kind, *([name] if name else []), "-o", "json"]
        if selector:
            args += ["-l", selector]
        proc = self.cluster.kubectl("-n", self.namespace, *args, check=False)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def apply(self, obj: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump(obj))

    def patch_json(self, kind: str, name: str, ops: list[dict[str, Any]]) -> None:
        self.kubectl("patch", kind, name, "--type=json", "-p", json.dumps(ops))

    def events(self, reason: str) -> list[dict[str, Any]]:
        items = (self.get("events") or {}).get("items", [])
        return [e for e in items if e.get("reason") == reason]

    def cassandra(self, name: str) -> dict[str, Any]:
        """The CassandraCluster `name` (it must exist)."""
        got = self.get("cassandracluster", name)
        assert got is not None, f"the CassandraCluster {name} is gone"
        return got  # type: ignore[no-any-return]

    def credentials(self, cluster: str) -> tuple[str, str] | None:
        """The superuser's (username, password) from the cluster's Secret
        (None when auth is off)."""
        obj = self.cassandra(cluster)
        auth = (obj.get("status") or {}).get("auth") or {}
        if not auth.get("enabled"):
            return None
        secret = self.get("secret", auth["superuserSecret"])
        assert secret is not None, f"Secret {auth['superuserSecret']} is gone"
        data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        return data["username"], data["password"]

    def ca_file(self, cluster: str) -> Path | None:
        """The cluster CA's certificate in a file, when its CQL is TLS only."""
        tls = (self.cassandra(cluster).get("status") or {}).get("tls") or {}
        if not tls.get("clientEncryption"):
            return None
        secret = self.get("secret", f"{cluster}-ca")
        assert secret is not None, f"Secret {cluster}-ca is gone"
        path = Path(tempfile.mkdtemp(prefix="navigator-ca-")) / "ca.crt"
        path.write_bytes(base64.b64decode(secret["data"]["tls.crt"]))
        return path

    def connection(self, cluster: str) -> ConnectionSettings:
        """How the data checker connects to `cluster`: as its superuser, over
        TLS verified against the cluster's CA when CQL is TLS only."""
        login = self.credentials(cluster)
        ca = self.ca_file(cluster)
        if login is None:
            return ConnectionSettings(ssl_ca=ca)
        return ConnectionSettings(username=login[0], password=login[1], ssl_ca=ca)

    def pod_ips(self, cluster: str) -> list[str]:
        """The pod IPs of the members of `cluster` that have one."""
        pods = (self.get("pods", selector=f"navigator.dev/cluster={cluster}") or {}).get(
            "items"
        ) or []
        return [p["status"]["podIP"] for p in pods if (p.get("status") or {}).get("podIP")]


@dataclass
class Env(Kube):
    """A `Kube` whose operator is a host process the tests may kill."""

    operator: OperatorProcess

    def record(self, scenario: str, seconds: float, report: Any, notes: Sequence[str] = ()) -> None:
        """One row of the e2e report (a checker `Report`, or None where there
        was nothing to write to: creating and deleting the cluster), and the
        scenario's own figures as notes under the table."""
        ROWS.append((scenario, seconds, report))
        if notes:
            NOTES.append((scenario, tuple(notes)))
        write_report(ROWS, NOTES)


def cql_login(
    address: str, login: tuple[str, str] | None, ssl_context: ssl.SSLContext | None = None
) -> Any:
    """A CQL session on `address` alone, logged in as `login` (None: no
    login), over TLS when `ssl_context` is given. The caller ends it with
    `session.cluster.shutdown()`; a failed connection closes its driver."""
    from cassandra.auth import PlainTextAuthProvider  # type: ignore[import-untyped]
    from cassandra.cluster import (  # type: ignore[import-untyped]
        EXEC_PROFILE_DEFAULT,
        Cluster,
        ExecutionProfile,
    )
    from cassandra.policies import WhiteListRoundRobinPolicy  # type: ignore[import-untyped]

    only = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([address]))
    auth = PlainTextAuthProvider(username=login[0], password=login[1]) if login else None
    cluster = Cluster(
        [address],
        auth_provider=auth,
        execution_profiles={EXEC_PROFILE_DEFAULT: only},
        ssl_context=ssl_context,
        connect_timeout=10,
    )
    try:
        return cluster.connect()
    except Exception:
        cluster.shutdown()
        raise


def pool(name: str, replicas: int, size: str = "1Gi") -> dict[str, Any]:
    """A node pool as every suite asks for it: small requests, `size` volumes."""
    return {
        "name": name,
        "replicas": replicas,
        "persistence": {"size": size},
        "resources": {"requests": {"cpu": "100m", "memory": "1Gi"}},
    }


def manifest(name: str, pools: Sequence[dict[str, Any]], version: str = "5.0.6") -> dict[str, Any]:
    return {
        "apiVersion": "navigator.dev/v1alpha1",
        "kind": "CassandraCluster",
        "metadata": {"name": name},
        "spec": {"version": version, "nodePools": list(pools)},
    }


@contextmanager
def writing(
    env: Env,
    cluster: str,
    scenario: str,
    *,
    copies_may_miss: bool = False,
    notes: list[str] | None = None,
) -> Iterator[list[Report]]:
    """The data checker writes at QUORUM (RF=3) to `cluster` for the block;
    afterwards every acknowledged write must read back from every replica
    that owns it (`assert_durable`), and the scenario is a row of the report
    (with `notes`, which the block may fill, under it)."""
    out: list[Report] = []
    checker = DataChecker(
        env.pod_ips(cluster), Settings(rate=RATE, connection=env.connection(cluster))
    )
    checker.start()
    started = time.monotonic()
    try:
        yield out
    finally:
        took = time.monotonic() - started
        report = checker.verify()
        checker.close()
        print(f"\n[{scenario}] {took:.0f} s; {report.summary()}")
        out.append(report)
        env.record(scenario, took, report, notes or ())
    assert_durable(report, copies_may_miss=copies_may_miss)


def is_settled(obj: dict[str, Any], size: int, *, rolled: bool = False) -> bool:
    """A CassandraCluster Ready with `size` members, every member UN, its spec
    observed and no operation; with `rolled`, also no rollout and every member
    on its pool's revision."""
    st = obj.get("status") or {}
    members = st.get("members") or []
    return (
        st.get("observedGeneration") == obj["metadata"]["generation"]
        and st.get("phase") == "Ready"
        and st.get("readyMembers") == f"{size}/{size}"
        and not st.get("operation")
        and len(members) == size
        and all(m.get("state") == "UN" for m in members)
        and (not rolled or (not st.get("rollout") and all(m.get("updated") for m in members)))
        and auth_settled(st)
    )


def auth_settled(status: dict[str, Any]) -> bool:
    """Auth off, or its superuser set up (clients can log in with the Secret)."""
    auth = status.get("auth") or {}
    return not auth.get("enabled") or bool(auth.get("ready"))


def assert_durable(report: Any, *, copies_may_miss: bool) -> None:
    """Nothing acknowledged lost, something acknowledged, and every verdict rule
    holds; with `copies_may_miss`, a copy missing on a replica is reported but
    accepted, as long as no row is on fewer replicas than QUORUM acknowledged
    (`under-replicated`). See docs/testing.md for which scenarios may."""
    assert report.lost == 0, report.summary()
    assert report.acked > 0, report.summary()
    if not copies_may_miss:
        assert report.ok, report.summary()
        return
    assert report.under_replicated == 0, report.summary()
    assert {f.rule for f in report.failures} <= {"missing-on-replica"}, report.summary()


def report_path() -> Path:
    return Path(os.environ.get("NAVIGATOR_E2E_REPORT", REPO / "build" / "e2e" / "report.md"))


def write_report(
    rows: Sequence[tuple[str, float, Any]], notes: Sequence[tuple[str, Sequence[str]]] = ()
) -> None:
    """The scenarios so far as a markdown table (rewritten after each one)."""
    lines = [
        "# Navigator e2e: Cassandra lifecycle under continuous writes",
        "",
        "Writes at QUORUM to an RF=3 keyspace during each scenario; every"
        " acknowledged write read back afterwards from every replica that owns it,"
        " each replica alone (see docs/data-checker.md).",
        "",
        "| scenario | duration (s) | acked writes | lost acked | under-replicated"
        " | missing on a replica | failed requests | unknown | availability | longest gap (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario, seconds, r in rows:
        if r is None:
            lines.append(f"| {scenario} | {seconds:.0f} |" + " n/a |" * 8)
            continue
        lines.append(
            f"| {scenario} | {seconds:.0f} | {r.acked} | {r.lost} | {r.under_replicated}"
            f" | {r.missing_on_replicas} | {r.failed} | {r.unknown}"
            f" | {100 * r.availability:.2f}% | {r.max_gap_s:.1f} |"
        )
    for scenario, said in notes:
        lines += ["", f"**{scenario}**", "", *(f"- {line}" for line in said)]
    path = report_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def operator_env(
    local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    pilot_image.ensure()
    say = lambda _: None  # noqa: E731
    nodes = NodeSet(count=NODES)
    cluster.ensure_nodes(local_cluster.config, nodes, bins=local_cluster.binaries, say=say)
    install_crds(local_cluster)
    namespace = f"e2e-{secrets.token_hex(3)}"
    local_cluster.kubectl("create", "namespace", namespace)
    logs = tmp_path_factory.mktemp("operator")
    # Only this namespace: other suites' CassandraClusters (tests/e2e/pilot
    # applies one for its hand-started members) are not this operator's.
    op = OperatorProcess(
        local_cluster.kubeconfig,
        logs / "operator.log",
        "default",
        identity="e2e",
        lease_seconds=6,
        namespaces=(namespace,),
        # Members start with the local cluster's fast-start shortcuts (short
        # ring delay, no wait for gossip): the suite's durations depend on it.
        cassandra_profile=LOCAL_TEST.name,
    )
    op.start()
    env = Env(local_cluster, namespace, op)
    try:
        yield env
    finally:
        op.stop()
        print(f"\n--- operator log (tail) {op.log}\n{op.tail(4000)}")
        local_cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        local_cluster.kubectl(
            "delete",
            "cassandraclusters,pods",
            "--all",
            "-n",
            namespace,
            "--grace-period=1",
            "--wait=false",
            check=False,
        )
        cluster.remove_nodes(local_cluster.config, bins=local_cluster.binaries, say=say)


@contextmanager
def guarded(env: Env, cluster: str, faults: FaultLog) -> Iterator[Monitor]:
    """The operator's safety invariants (navigator.testing.invariants) watched
    for the block; it fails on any violation. A pod deletion `faults` records
    is the test's, not the operator's."""
    inv = Invariants(cluster, excused=faults.excused)
    monitor = Monitor(env.cluster.client, env.namespace, inv).start()
    failed = True
    try:
        yield monitor
        failed = False
    finally:
        violations = monitor.close()
    if not failed:
        assert not violations, "\n".join(str(v) for v in violations)


def invariant_note(monitor: Monitor, faults: FaultLog) -> str:
    counts = ", ".join(f"{rule} {n}" for rule, n in monitor.inv.counts.items())
    return (
        f"faults injected: {faults.summary()}; invariants checked ({counts} events):"
        f" {len(monitor.inv.violations)} violations"
    )
