"""Issue 7's acceptance, end to end: `navigator operator` managing real
Cassandra pods (the pilot as their entrypoint) on the local cluster, with the
data checker writing at QUORUM through every change.

One cluster, in file order: create 3 → auth (anonymous and cassandra/cassandra
refused, the Secret's superuser logs in, the password in no log) → scale out
to 4 → scale in to 3 →
a scale-in below RF=3 refused → pause holds a scale-out, unpause resumes it →
operator SIGKILLed during a scale-in → during a scale-out → a pod deleted →
Cassandra SIGKILLed in a pod → a node agent stopped → delete. Every scenario
that writes is recorded in the report (build/e2e/report.md).
Run with ``-s`` to see each scenario's checker report.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from navigator.checker import Report
from navigator.local import cluster as local
from navigator.local import processes
from navigator.local.agent.fleet import NodeSet
from navigator.pilot.cassandra.safety import KEEPS_REPLICATION
from navigator.testing import faults as f
from navigator.testing.members import eventually

from .conftest import NODES, Env, cql_login, is_settled, manifest, pool
from .conftest import writing as shared_writing

# A scenario waits up to JOIN for a member, then verifies every replica
# (up to a minute more when a replica lacks rows: see the checker's recheck).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

NAME = "demo"
POOL = "rack1"
STS = f"{NAME}-{POOL}"
SELECTOR = f"navigator.dev/cluster={NAME}"
JOIN = 420.0  # seconds a member may take to join and settle on two shared cores


def cluster(env: Env) -> dict[str, Any]:
    return env.cassandra(NAME)


def status(env: Env) -> dict[str, Any]:
    return cluster(env).get("status") or {}


def settled_at(env: Env, size: int) -> Callable[[], bool]:
    """Ready with `size` members, no operation, every member UN, spec observed."""

    def check() -> bool:
        return is_settled(cluster(env), size)

    return check


def set_replicas(env: Env, replicas: int) -> None:
    env.patch_json(
        "cassandracluster",
        NAME,
        [{"op": "replace", "path": "/spec/nodePools/0/replicas", "value": replicas}],
    )


def sts_replicas(env: Env) -> int:
    return int(env.get("statefulset", STS)["spec"]["replicas"])


@contextmanager
def writing(
    env: Env, scenario: str, crashed: str = "", restarted: str = ""
) -> Iterator[list[Report]]:
    """The shared `writing` on this cluster: the data checker writes at QUORUM
    (RF=3) for the block; afterwards every acknowledged write must read back
    from every replica that owns it.

    `crashed`: the address of a member whose Cassandra the scenario kills
    without a drain. A killed node may lack its last ~0.1 s of acknowledged
    writes (periodic commitlog: replay stops at the last sync marker), and as a
    coordinator it takes the hints it had not flushed yet (every 10 s) with it,
    so another replica may lack a row the killed node acknowledged for it. Both
    leave every row on the replicas QUORUM waited for: rows missing on a replica
    are accepted (and reported), a row on fewer than two replicas
    (`under-replicated`) or on none (`lost`) never is.

    `restarted`: the member a scenario restarts (drained, back on its volume
    with a new pod IP) without moving ranges. As in the rollouts, a write
    whose hint its coordinator creates while that member takes its host ID's
    tokens over at the new address may never reach it (docs/testing.md):
    the same acceptance as `crashed`."""
    may_miss = bool(crashed or restarted)
    with shared_writing(env, NAME, scenario, copies_may_miss=may_miss) as out:
        yield out


def pod_ip(env: Env, member: str) -> str:
    return str(env.get("pod", member)["status"]["podIP"])


def removed(env: Env, member: str) -> int:
    """How many times the operator removed `member` after it left the ring."""
    return sum(
        int(e.get("count") or 1)
        for e in env.events("RemovingMember")
        if e.get("message", "").startswith(f"{member} left the ring")
    )


class IntentLog:
    """What one member's Pilot said about its decommission while we watched."""

    def __init__(self, env: Env, member: str) -> None:
        self.env, self.member = env, member
        self.ids: set[str] = set()
        self.max_attempts = 0
        self.phases: list[str] = []

    def look(self) -> None:
        pilot = self.env.get("pilot", self.member)
        for intent in ((pilot or {}).get("status") or {}).get("intents") or []:
            self.ids.add(intent["id"])
            self.max_attempts = max(self.max_attempts, int(intent.get("attempts") or 0))
            if not self.phases or self.phases[-1] != intent.get("phase"):
                self.phases.append(str(intent.get("phase")))


def test_create_three_members_reaches_available(operator_env: Env) -> None:
    env = operator_env
    started = time.monotonic()
    env.apply(manifest(NAME, [pool(POOL, 3)]))
    eventually(settled_at(env, 3), timeout=3 * JOIN, what="3 members Up/Normal")
    took = time.monotonic() - started
    print(f"\ncreate 3 members -> Available: {took:.0f} s")
    env.record("create 3 members (no writer: nothing to write to yet)", took, None)
    st = status(env)
    conditions = {c["type"]: c["status"] for c in st["conditions"]}
    assert conditions == {
        "Available": "True",
        "Progressing": "False",
        "Degraded": "False",
        "Paused": "False",
    }
    assert len({m["hostID"] for m in st["members"]}) == 3
    # Every child exists and is owned by the cluster.
    uid = cluster(env)["metadata"]["uid"]
    for kind, name in [
        ("statefulset", STS),
        ("service", f"{NAME}-nodes"),
        ("poddisruptionbudget", NAME),
        ("serviceaccount", f"{NAME}-pilot"),
        ("role", f"{NAME}-pilot"),
        ("rolebinding", f"{NAME}-pilot"),
        *[("pilot", f"{STS}-{i}") for i in range(3)],
    ]:
        obj = env.get(kind, name)
        assert obj is not None, f"{kind}/{name} missing"
        owners = obj["metadata"].get("ownerReferences") or []
        assert [o["uid"] for o in owners] == [uid], f"{kind}/{name} not owned by the cluster"
    assert env.get("poddisruptionbudget", NAME)["spec"]["maxUnavailable"] == 1
    # Members were added one at a time, after the previous one was Up/Normal.
    assert len(env.events("ScalingOut")) >= 1
    pods = env.get("pods", selector=SELECTOR)["items"]
    assert sorted(p["metadata"]["name"] for p in pods) == [f"{STS}-{i}" for i in range(3)]
    # One member per node (the default anti-affinity): a node lost is one replica.
    assert len({p["spec"]["nodeName"] for p in pods}) == 3
    # Non-root pods (issue 15): every Cassandra JVM and its pilot run as the
    # cassandra user, seen from the host, with no capabilities, no way to gain
    # privileges and the RuntimeDefault seccomp filter.
    for p in pods:
        jvm = cassandra_pid(p["metadata"]["name"])
        pilot = int(proc_status(jvm)["PPid"])
        for pid in (jvm, pilot):
            st = proc_status(pid)
            assert st["Uid"].split() == ["999"] * 4, (p["metadata"]["name"], pid, st["Uid"])
            assert st["Gid"].split() == ["999"] * 4, (p["metadata"]["name"], pid, st["Gid"])
            assert int(st["CapEff"], 16) == int(st["CapBnd"], 16) == 0
            assert (st["NoNewPrivs"], st["Seccomp"]) == ("1", "2")


def proc_status(pid: int) -> dict[str, str]:
    """/proc/<pid>/status, read on the host."""
    text = Path(f"/proc/{pid}/status").read_text()
    return {k: v.strip() for k, v in (line.split(":", 1) for line in text.splitlines())}


SYSTEM = ("system_auth", "system_distributed", "system_traces")


def system_replication(env: Env) -> dict[str, tuple[str, str]]:
    """The system keyspaces' (strategy, dc1 factor), as Cassandra has them."""
    session = cql_login(env.pod_ips(NAME)[0], env.credentials(NAME))
    try:
        rows = session.execute(
            "SELECT keyspace_name, replication FROM system_schema.keyspaces"
            " WHERE keyspace_name IN ('system_auth', 'system_distributed', 'system_traces')"
        )
        return {
            r.keyspace_name: (r.replication["class"].rsplit(".", 1)[-1], r.replication.get("dc1"))
            for r in rows
        }
    finally:
        session.cluster.shutdown()


def refused(address: str, login: tuple[str, str] | None) -> str:
    """The driver's words for a refused login ('' if it was accepted)."""
    from cassandra.cluster import NoHostAvailable  # type: ignore[import-untyped]

    try:
        session = cql_login(address, login)
    except NoHostAvailable as err:
        return str(err)
    session.cluster.shutdown()
    return ""


def test_auth_refuses_anonymous_and_default_logins(operator_env: Env) -> None:
    """Auth is on by default: no credentials and cassandra/cassandra are
    refused, the Secret's superuser logs in, the default account is gone and
    system_auth replicates to every member; the password is nowhere it
    should not be."""
    env = operator_env
    st = status(env)
    assert st["auth"]["enabled"] is True
    assert st["auth"]["ready"] is True
    assert st["auth"]["superuserSecret"] == f"{NAME}-superuser"
    login = env.credentials(NAME)
    assert login is not None
    username, password = login
    address = env.pod_ips(NAME)[0]
    assert "Remote end requires authentication" in refused(address, None)
    assert "AuthenticationFailed" in refused(address, ("cassandra", "cassandra"))
    session = cql_login(address, login)
    try:
        roles = {r.role: r.is_superuser for r in session.execute("SELECT * FROM system_auth.roles")}
        assert roles.get(username) is True
        assert "cassandra" not in roles
        # The operator's own role: no superuser, ALTER on the system keyspaces only.
        assert roles.get("navigator_operator") is False
        granted = {
            (r.resource, r.permission)
            for r in session.execute("LIST ALL PERMISSIONS OF navigator_operator")
        }
        assert granted == {(f"<keyspace {k}>", "ALTER") for k in SYSTEM}, granted
    finally:
        session.cluster.shutdown()
    assert system_replication(env) == {k: ("NetworkTopologyStrategy", "3") for k in SYSTEM}
    # Credentials never in the spec, status, events, or any log.
    obj = cluster(env)
    assert password not in json.dumps(obj)
    assert password not in json.dumps(env.get("events"))
    assert password not in env.operator.tail(10_000_000)
    for i in range(3):
        member = f"{STS}-{i}"
        assert password not in env.kubectl("logs", member, check=False), member
        jvm = f.pod_processes(env.namespace, member).database
        assert jvm is not None, member
        for log in Path(f"/proc/{jvm}/root/var/log/cassandra").glob("*.log"):
            assert password not in log.read_text(errors="replace"), log


def test_scale_out_to_four_loses_nothing(operator_env: Env) -> None:
    env = operator_env
    with writing(env, "scale out 3->4"):
        started = time.monotonic()
        set_replicas(env, 4)
        eventually(settled_at(env, 4), timeout=JOIN, what="4 members Up/Normal")
        print(f"\nscale out 3->4: {time.monotonic() - started:.0f} s")
    assert sts_replicas(env) == 4


def test_scale_in_to_three_decommissions_before_removing(operator_env: Env) -> None:
    env = operator_env
    leaving = f"{STS}-3"
    log = IntentLog(env, leaving)

    def done() -> bool:
        log.look()
        return settled_at(env, 3)() and env.get("pilot", leaving) is None

    with writing(env, "scale in 4->3"):
        started = time.monotonic()
        set_replicas(env, 3)
        eventually(done, timeout=JOIN, interval=1.0, what="member 3 decommissioned and removed")
        print(f"\nscale in 4->3: {time.monotonic() - started:.0f} s; pilot said {log.phases}")
    assert len(log.ids) == 1, log.ids
    assert log.max_attempts == 1, log.max_attempts
    # The member was removed only after its pilot reported the decommission
    # Succeeded and the peers forgot it (the Pilot goes with the member, so
    # the operator's Event is the record).
    assert removed(env, leaving) == 1
    assert sts_replicas(env) == 3
    # The ring forgot the member; its volume is kept (default policy) and labelled.
    for member in status(env)["members"]:
        assert member["name"] != leaving
    pvc = env.get("pvc", f"data-{leaving}")
    assert pvc is not None, "the default retention policy keeps the volume"
    assert pvc["metadata"]["labels"].get("navigator.dev/decommissioned") == "true"
    assert len(env.events("DecommissionRequested")) == 1


def test_scale_in_that_would_break_replication_is_refused(operator_env: Env) -> None:
    """The checker's keyspace has RF=3 in dc1: three members cannot become two."""
    env = operator_env
    set_replicas(env, 2)

    def blocked() -> Any:
        op = status(env).get("operation") or {}
        return op.get("blockedBy")

    why = eventually(blocked, timeout=60, what="the scale-in to be refused")
    print(f"\nrefused: {why}")
    assert why["rule"] == KEEPS_REPLICATION
    assert "replication" in why["reason"].lower()
    assert env.events("Blocked"), "a Warning event says why"
    time.sleep(10)
    assert sts_replicas(env) == 3
    pilot = env.get("pilot", f"{STS}-2")
    intents = pilot["spec"].get("intents") or []
    assert not intents, "no decommission was requested"
    described = env.kubectl("describe", "cassandracluster", NAME)
    assert KEEPS_REPLICATION in described
    # Refused for the user's keyspace: the system keyspaces were not lowered.
    assert system_replication(env) == {k: ("NetworkTopologyStrategy", "3") for k in SYSTEM}
    set_replicas(env, 3)
    eventually(settled_at(env, 3), timeout=60, what="the refusal to clear")


def test_pause_holds_a_scale_out_and_unpause_resumes_it(operator_env: Env) -> None:
    env = operator_env
    env.patch_json(
        "cassandracluster",
        NAME,
        [
            {"op": "replace", "path": "/spec/paused", "value": True},
            {"op": "replace", "path": "/spec/nodePools/0/replicas", "value": 4},
        ],
    )
    eventually(lambda: status(env).get("phase") == "Paused", timeout=60, what="phase Paused")
    time.sleep(15)
    assert sts_replicas(env) == 3, "a paused cluster is not changed"
    paused = {c["type"]: c for c in status(env)["conditions"]}["Paused"]
    assert paused["status"] == "True"
    with writing(env, "unpause: scale out 3->4"):
        env.patch_json(
            "cassandracluster", NAME, [{"op": "replace", "path": "/spec/paused", "value": False}]
        )
        eventually(settled_at(env, 4), timeout=JOIN, what="4 members after unpause")
    # Member 3's volume was kept from its decommission: it is replaced, not reused.
    assert env.events("DeletedDecommissionedVolume")


def test_operator_killed_during_scale_in_decommissions_once(operator_env: Env) -> None:
    env = operator_env
    leaving = f"{STS}-3"
    log = IntentLog(env, leaving)

    def requested() -> bool:
        log.look()
        pilot = env.get("pilot", leaving)
        return bool(pilot and pilot["spec"].get("intents"))

    def done() -> bool:
        log.look()
        return settled_at(env, 3)() and env.get("pilot", leaving) is None

    with writing(env, "operator killed during scale in 4->3"):
        set_replicas(env, 3)
        eventually(requested, timeout=120, interval=0.5, what="the decommission request")
        env.operator.kill()
        log.look()
        time.sleep(5)
        env.operator.start()
        eventually(done, timeout=JOIN, interval=1.0, what="scale-in to finish after the restart")
    print(f"\npilot said {log.phases}")
    assert len(log.ids) == 1, log.ids
    assert log.max_attempts == 1, log.max_attempts
    assert sts_replicas(env) == 3
    assert removed(env, leaving) == 2  # once in the earlier scale-in, once now


def test_operator_killed_during_scale_out_converges(operator_env: Env) -> None:
    env = operator_env
    with writing(env, "operator killed during scale out 3->4"):
        set_replicas(env, 4)
        eventually(lambda: sts_replicas(env) == 4, timeout=120, interval=0.5, what="the scale-out")
        env.operator.kill()
        time.sleep(5)
        env.operator.start()
        eventually(settled_at(env, 4), timeout=JOIN, what="4 members after the restart")
    pods = env.get("pods", selector=SELECTOR)["items"]
    assert sorted(p["metadata"]["name"] for p in pods) == [f"{STS}-{i}" for i in range(4)]


def test_deleting_a_pod_loses_nothing(operator_env: Env) -> None:
    """The pod's pilot drains Cassandra on SIGTERM; the StatefulSet brings the
    member back on its volume and it rejoins."""
    env = operator_env
    victim = f"{STS}-1"
    uid = env.get("pod", victim)["metadata"]["uid"]
    with writing(env, "delete a Cassandra pod", restarted=victim):
        env.kubectl("delete", "pod", victim, "--wait=false")

        def replaced() -> bool:
            pod = env.get("pod", victim)
            return bool(pod and pod["metadata"]["uid"] != uid) and settled_at(env, 4)()

        eventually(replaced, timeout=JOIN, what=f"{victim} to be back Up/Normal")


def cassandra_pid(pod_name: str) -> int:
    """The host PID of the Cassandra JVM of `pod_name` (pods are host processes
    in their own namespaces, so /proc shows them)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if b"CassandraDaemon" not in cmdline:
                continue
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"POD_NAME={pod_name}".encode() in environ:
            return int(proc.name)
    raise AssertionError(f"no Cassandra process for {pod_name}")


def test_sigkill_of_cassandra_in_a_pod_loses_nothing(operator_env: Env) -> None:
    """The pilot exits with its child's status, the container restarts, the
    node comes back on its data."""
    env = operator_env
    victim = f"{STS}-2"

    def restarts() -> int:
        statuses = env.get("pod", victim)["status"].get("containerStatuses") or [{}]
        return int(statuses[0].get("restartCount") or 0)

    before = restarts()
    with writing(env, "SIGKILL Cassandra in a pod", crashed=pod_ip(env, victim)):
        os.kill(cassandra_pid(victim), signal.SIGKILL)
        eventually(lambda: restarts() > before, timeout=120, what="the container to restart")
        eventually(settled_at(env, 4), timeout=JOIN, what=f"{victim} to be back Up/Normal")


def test_stopping_a_node_agent_loses_nothing(operator_env: Env) -> None:
    """A whole node goes away (its agent stops and takes its pods down) and
    comes back: the member on it rejoins on its kept volume. The members
    prefer distinct nodes, so with four members on three nodes one node holds
    two; the node stopped is one with a single member. Requests to the
    lost node time out meanwhile (the report shows the availability)."""
    env = operator_env
    size = int(env.get("statefulset", STS)["spec"]["replicas"])
    # A node with one member: with more members than nodes (4 on 3 here) some
    # node holds two, and losing two of four members is a real quorum loss
    # for the ranges they share, which no operator can prevent.
    by_node: dict[str, list[str]] = {}
    for pod in env.get("pods", selector=SELECTOR)["items"]:
        by_node.setdefault(pod["spec"]["nodeName"], []).append(pod["metadata"]["name"])
    node, (victim,) = max((n, m) for n, m in by_node.items() if len(m) == 1)
    cfg = env.cluster.config

    stopped = f"stop a node agent (1 of {size} members on it)"
    with writing(env, stopped, crashed=pod_ip(env, victim)):
        assert processes.stop(cfg.layout.pidfile(f"agent-{node}"))

        def node_lost() -> bool:
            conds = env.get("node", node)["status"]["conditions"]
            down = any(c["type"] == "Ready" and c["status"] != "True" for c in conds)
            # The peers see the member down: the cluster says Degraded.
            return down and status(env).get("phase") == "Degraded"

        eventually(node_lost, timeout=180, what=f"{node} NotReady and the cluster Degraded")
        local.ensure_nodes(cfg, NodeSet(count=NODES), bins=env.cluster.binaries, say=lambda _: None)
        eventually(settled_at(env, size), timeout=JOIN, what=f"{victim} back after {node}")


def test_delete_collects_children_and_keeps_volumes(operator_env: Env) -> None:
    env = operator_env
    started = time.monotonic()
    env.kubectl("delete", "cassandracluster", NAME, "--wait=false")

    def collected() -> bool:
        leftovers = [
            kind
            for kind in ("statefulsets", "services", "poddisruptionbudgets", "pilots", "roles")
            if (env.get(kind, selector=SELECTOR) or {}).get("items")
        ]
        return not leftovers and not env.get("pods", selector=SELECTOR)["items"]

    eventually(collected, timeout=300, what="the cluster's children to be collected")
    env.record("delete the cluster (children collected)", time.monotonic() - started, None)
    claims = sorted(c["metadata"]["name"] for c in env.get("pvc")["items"])
    assert claims == [f"data-{STS}-{i}" for i in range(4)], claims
