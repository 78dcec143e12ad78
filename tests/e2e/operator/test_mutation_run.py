"""Issue 14's mutation run (`make chaos`): a seeded random sequence of spec
changes (scale out and in, a config change, a restart request, pause and
unpause) applied to one CassandraCluster while faults are injected and the
data checker writes at QUORUM (RF=3) for the whole run, with two operator
replicas sharing the Lease.

Each step applies one change, injects one fault at a random moment (or
none): the leading operator SIGKILLed or SIGSTOPped past its Lease, a
pilot or a Cassandra JVM SIGSTOPped, a member partitioned, a pod deleted;
then the cluster must settle to the spec. The operator's safety invariants
(navigator.testing.invariants) are watched throughout; at the end every
acknowledged write must be on every replica QUORUM waited for (none lost,
none under-replicated; a copy missing on a third replica is reported: see
docs/testing.md on restarts).

`NAVIGATOR_CHAOS_MINUTES` (default 30) bounds the run; `NAVIGATOR_CHAOS_SEED`
(default: random, printed) replays a sequence: the same seed gives the same
changes, faults, victims and moments. Marked `chaos`: only `make chaos` runs
it.
"""

from __future__ import annotations

import os
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from navigator.checker import DataChecker, Settings
from navigator.operator.core.revision import RESTARTED_AT_ANNOTATION
from navigator.testing import faults as f
from navigator.testing.faults import FaultLog
from navigator.testing.invariants import Invariants, Monitor
from navigator.testing.members import eventually
from navigator.testing.operator import OperatorProcess

from .conftest import RATE, Env, assert_durable, invariant_note, is_settled, manifest, pool

MINUTES = float(os.environ.get("NAVIGATOR_CHAOS_MINUTES", "30"))
SEED = int(os.environ.get("NAVIGATOR_CHAOS_SEED") or secrets.randbelow(10**6))
NAME = "chaos"
STS = f"{NAME}-rack1"
SMALLEST, LARGEST = 3, 5
SETTLE = 900.0  # seconds a step may take to settle (a rolling restart of 5 on 2 cores)
LEASE = 6

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.chaos,
    pytest.mark.timeout(int(MINUTES * 60 + 2 * SETTLE + 900)),
]


@dataclass
class Run:
    env: Env
    rng: random.Random
    operators: list[OperatorProcess]
    log: FaultLog = field(default_factory=FaultLog)
    size: int = SMALLEST
    reads: int = 32
    steps: list[str] = field(default_factory=list)
    monitor: Monitor | None = None

    def cluster(self) -> dict[str, Any]:
        return self.env.cassandra(NAME)

    def settled(self) -> bool:
        """Settled to the spec; fails at once when an invariant broke."""
        if self.monitor is not None:
            assert not (broken := self.monitor.violations()), "\n".join(map(str, broken))
        return is_settled(self.cluster(), self.size, rolled=True)

    def patch(self, ops: list[dict[str, Any]]) -> None:
        self.env.patch_json("cassandracluster", NAME, ops)

    def leader(self) -> OperatorProcess | None:
        lease = self.env.cluster.kubectl(
            "-n", "default", "get", "lease", "navigator-operator", "-o",
            "jsonpath={.spec.holderIdentity}", check=False,
        ).stdout.strip()  # fmt: skip
        return next((o for o in self.operators if o.current_identity == lease), None)

    def members(self) -> list[str]:
        pods = self.env.get("pods", selector=f"navigator.dev/cluster={NAME}") or {}
        return sorted(p["metadata"]["name"] for p in pods.get("items") or [])


# -- changes ------------------------------------------------------------------


def scale(run: Run, to: int) -> None:
    run.size = to
    run.patch([{"op": "replace", "path": "/spec/nodePools/0/replicas", "value": to}])


def config_change(run: Run) -> None:
    run.reads = 48 if run.reads == 32 else 32
    cfg = {"cassandraYaml": {"concurrent_reads": run.reads}}
    run.patch([{"op": "add", "path": "/spec/config", "value": cfg}])


def restart(run: Run) -> None:
    run.env.kubectl(
        "annotate", "cassandracluster", NAME,
        f"{RESTARTED_AT_ANNOTATION}=chaos-{SEED}-{len(run.steps)}", "--overwrite",
    )  # fmt: skip
    # An annotation does not bump the generation: until the operator has seen
    # it the status still looks settled. Wait for the rollout to show.
    eventually(
        lambda: not is_settled(run.cluster(), run.size, rolled=True),
        timeout=120,
        what="the operator to start the restart",
    )


def pause_then_unpause(run: Run) -> None:
    """Paused, a scale change is held (the StatefulSet keeps its size) for
    20 s; unpaused, it is carried out."""
    before = int(run.env.get("statefulset", STS)["spec"]["replicas"])
    to = run.size + 1 if run.size < LARGEST else run.size - 1
    run.patch([{"op": "replace", "path": "/spec/paused", "value": True}])
    scale(run, to)
    time.sleep(20)
    held = int(run.env.get("statefulset", STS)["spec"]["replicas"])
    assert held == before, f"a paused cluster was resized {before}→{held}"
    run.patch([{"op": "replace", "path": "/spec/paused", "value": False}])


def changes(run: Run) -> dict[str, Callable[[Run], None]]:
    out: dict[str, Callable[[Run], None]] = {
        "config change": config_change,
        "rolling restart": restart,
        "pause, resize, unpause": pause_then_unpause,
    }
    if run.size < LARGEST:
        out["scale out"] = lambda r: scale(r, r.size + 1)
    if run.size > SMALLEST:
        out["scale in"] = lambda r: scale(r, r.size - 1)
    return out


# -- faults -------------------------------------------------------------------


def kill_leader(run: Run) -> str:
    leader = run.leader()
    if leader is None:
        return "no leader to kill"
    killed = leader.current_identity
    leader.kill()
    run.log.add("operator-kill", killed, time.monotonic(), time.monotonic())
    leader.start()
    return f"SIGKILL {killed} (back as {leader.current_identity})"


def stop_leader(run: Run) -> str:
    """SIGSTOP the leader past its Lease: the other replica takes over; the
    stopped one, continued, must not act (it no longer holds the Lease)."""
    leader = run.leader()
    if leader is None:
        return "no leader to stop"
    with run.log.during("operator-stop", leader.current_identity), f.stopped(leader.pid):
        time.sleep(LEASE + 10)
    return f"SIGSTOP {leader.current_identity} {LEASE + 10} s"


def _victim(run: Run) -> tuple[str, f.PodProcesses] | None:
    members = run.members()
    if not members:
        return None
    member = run.rng.choice(members)
    return member, f.pod_processes(run.env.namespace, member)


def _hold(run: Run, kind: str, seconds: float, fault: Callable[[f.PodProcesses], Any]) -> str:
    """Hold `fault` (a context manager made from a random member's
    processes; None: that member has no such process now) for `seconds`."""
    got = _victim(run)
    held = fault(got[1]) if got is not None else None
    if got is None or held is None:
        return f"no member to {kind}"
    with run.log.during(kind, got[0]), held:
        time.sleep(seconds)
    return f"{kind} {got[0]} {seconds:.0f} s"


def stop_pilot(run: Run) -> str:
    return _hold(run, "pilot-stop", 20, lambda p: p.pilot and f.stopped(p.pilot))


def stop_jvm(run: Run) -> str:
    return _hold(run, "jvm-stop", 15, lambda p: p.database and f.stopped(p.database))


def partition(run: Run) -> str:
    return _hold(run, "partition", 20, lambda p: p.pilot and f.partitioned(p.pilot))


def delete_pod(run: Run) -> str:
    got = _victim(run)
    if got is None:
        return "no pod to delete"
    member = got[0]
    with run.log.during("pod-delete", member):
        run.env.kubectl("delete", "pod", member, "--wait=false", check=False)
        time.sleep(2)
    return f"delete pod {member}"


FAULTS: dict[str, Callable[[Run], str] | None] = {
    "none": None,
    "operator SIGKILL": kill_leader,
    "leader SIGSTOP": stop_leader,
    "pilot SIGSTOP": stop_pilot,
    "JVM SIGSTOP": stop_jvm,
    "partition": partition,
    "pod delete": delete_pod,
}


def inject_later(run: Run, name: str, delay: float, said: list[str]) -> threading.Thread:
    inject = FAULTS[name]

    def go() -> None:
        time.sleep(delay)
        if inject is None:
            return
        try:
            said.append(inject(run))
        except (OSError, AssertionError) as err:  # the victim went away meanwhile
            said.append(f"{name} not injected: {err}")

    thread = threading.Thread(target=go, daemon=True, name="fault")
    thread.start()
    return thread


def step(run: Run) -> float:
    """One random change with one random fault (or none) at a random moment;
    the cluster must settle. Returns how long the step took."""
    options = changes(run)
    change = run.rng.choice(sorted(options))
    fault = run.rng.choice(sorted(FAULTS))
    delay = run.rng.uniform(0, 30)
    said: list[str] = []
    started = time.monotonic()
    options[change](run)
    injector = inject_later(run, fault, delay, said)
    try:
        eventually(run.settled, timeout=SETTLE, interval=2, what=f"{change} to settle")
    finally:
        injector.join()
        line = (
            f"step {len(run.steps) + 1}: {change} (size {run.size}), fault {fault}"
            f" at +{delay:.0f} s ({'; '.join(said) or 'none'});"
            f" settled {time.monotonic() - started:.0f} s"
        )
        run.steps.append(line)
        print(line, flush=True)
    # The fault may land after the change settled: settle again.
    eventually(run.settled, timeout=SETTLE, interval=2, what="the cluster to settle")
    return time.monotonic() - started


def test_mutation_run_with_faults(operator_env: Env, tmp_path: Any) -> None:
    env = operator_env
    print(f"\nmutation run: seed {SEED}, {MINUTES:.0f} min (replay: NAVIGATOR_CHAOS_SEED={SEED})")
    second = OperatorProcess(
        env.cluster.kubeconfig,
        tmp_path / "operator-b.log",
        "default",
        identity="chaos-b",
        lease_seconds=LEASE,
        namespaces=(env.namespace,),
    )
    run = Run(env, random.Random(SEED), [env.operator, second])
    second.start()
    started = time.monotonic()
    inv = Invariants(NAME, excused=run.log.excused)
    monitor = Monitor(env.cluster.client, env.namespace, inv).start()
    run.monitor = monitor
    checker: DataChecker | None = None
    settle_times: list[float] = []
    try:
        env.apply(manifest(NAME, [pool("rack1", SMALLEST)]))
        eventually(run.settled, timeout=3 * 420, what="3 members Up/Normal")
        checker = DataChecker(
            env.pod_ips(NAME), Settings(rate=RATE / 2, connection=env.connection(NAME))
        )
        checker.start()
        deadline = time.monotonic() + MINUTES * 60
        while time.monotonic() < deadline:
            settle_times.append(step(run))
            assert not monitor.violations(), monitor.violations()
        # The cluster settles to the spec after the last change.
        eventually(run.settled, timeout=SETTLE, interval=2, what="the last change to settle")
    finally:
        violations = monitor.close()
        second.stop()
        report = None
        if checker is not None:
            report = checker.verify()
            checker.close()
            print(f"\nmutation run: {report.summary()}")
        notes = [
            f"seed {SEED}; {len(run.steps)} steps in {(time.monotonic() - started) / 60:.0f} min;"
            f" longest settle {max(settle_times, default=0):.0f} s",
            invariant_note(monitor, run.log),
            *run.steps,
        ]
        env.record(
            f"mutation run ({MINUTES:.0f} min, seed {SEED})",
            time.monotonic() - started,
            report,
            notes,
        )
        for v in violations:
            print(f"VIOLATION {v}")
    assert not violations, "\n".join(str(v) for v in violations)
    assert report is not None
    assert_durable(report, copies_may_miss=True)
    assert len(run.steps) >= 3, "too few steps to mean anything"
