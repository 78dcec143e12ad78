"""Issue 14's fault suite: faults injected into a 3-member cluster on the
local cluster while the data checker writes at QUORUM (RF=3), with the
operator's safety invariants (navigator.testing.invariants) watched
throughout. Each scenario must converge to the spec and lose no
acknowledged write on any replica.

In file order: create with the operator SIGKILLed at random moments → one
member partitioned (its link down inside its network namespace), then
healed → [full] a pilot SIGSTOPped across a rolling restart (its facts go
stale; nobody else may restart meanwhile) → [full] a Cassandra JVM
SIGSTOPped (a hung node: liveness restarts it) → [full] a member's volume
filled up, then freed → [full] scale out and in, a rolling restart and a
replacement, each with the operator SIGKILLed at random moments.

Randomness (when the operator dies) comes from `NAVIGATOR_CHAOS_SEED`
(printed; default 14), so a failing run can be replayed. The loss of a node
agent and of a Node are in test_operator_cassandra.py and
test_replacement.py; two operator replicas with the leader SIGSTOPped in
tests/integration/operator/test_operator_process.py.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from navigator.operator.core.revision import RESTARTED_AT_ANNOTATION
from navigator.testing import faults as f
from navigator.testing.faults import FaultLog, OperatorKiller
from navigator.testing.invariants import Monitor
from navigator.testing.members import eventually

from .conftest import Env, guarded, invariant_note, is_settled, manifest, pool, writing

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

NAME = "faults"
STS = f"{NAME}-rack1"
MEMBERS = [f"{STS}-{k}" for k in range(3)]
JOIN = 420.0
SEED = int(os.environ.get("NAVIGATOR_CHAOS_SEED", "14"))
RNG = random.Random(SEED)


# The invariants watched by the running scenario: waiting for the cluster to
# settle fails as soon as one is broken, not when the wait times out.
WATCHING: list[Monitor] = []


def settled(env: Env, size: int = 3, *, rolled: bool = False) -> bool:
    for monitor in WATCHING:
        assert not (broken := monitor.violations()), "\n".join(map(str, broken))
    return is_settled(env.cassandra(NAME), size, rolled=rolled)


def procs(env: Env, member: str) -> f.PodProcesses:
    return f.pod_processes(env.namespace, member)


def restarts(env: Env, member: str) -> int:
    pod = env.get("pod", member) or {}
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return int(statuses[0].get("restartCount") or 0)


def pod_uids(env: Env) -> dict[str, str]:
    pods = env.get("pods", selector=f"navigator.dev/cluster={NAME}")["items"]
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods}


def phase(env: Env) -> str:
    return str((env.cassandra(NAME).get("status") or {}).get("phase"))


@contextmanager
def scenario(
    env: Env, title: str, *, copies_may_miss: bool = False, kill_operator: bool = False
) -> Iterator[tuple[FaultLog, list[str]]]:
    """Writes and invariants for the block; with `kill_operator`, the
    operator is SIGKILLed at random moments (and restarted) throughout."""
    log, notes = FaultLog(), [f"seed {SEED}"]
    killer = OperatorKiller(env.operator, RNG, log, between=(3.0, 15.0))
    with (
        writing(env, NAME, title, copies_may_miss=copies_may_miss, notes=notes),
        guarded(env, NAME, log) as monitor,
    ):
        WATCHING[:] = [monitor]
        if kill_operator:
            killer.start()
        try:
            yield log, notes
        finally:
            if kill_operator:
                killer.stop()
        notes.append(invariant_note(monitor, log))


def test_create_with_the_operator_killed_at_random_moments(operator_env: Env) -> None:
    env = operator_env
    log = FaultLog()
    killer = OperatorKiller(env.operator, RNG, log, between=(3.0, 15.0))
    started = time.monotonic()
    with guarded(env, NAME, log) as monitor:
        WATCHING[:] = [monitor]
        killer.start()
        env.apply(manifest(NAME, [pool("rack1", 3)]))
        try:
            eventually(lambda: settled(env), timeout=3 * JOIN, what="3 members Up/Normal")
        finally:
            kills = killer.stop()
    took = time.monotonic() - started
    print(f"\ncreate: {took:.0f} s, operator SIGKILLed {kills} times (seed {SEED})")
    env.record(
        "faults: create 3 members, operator SIGKILLed at random moments",
        took,
        None,
        [f"seed {SEED}; operator SIGKILLed {kills} times", invariant_note(monitor, log)],
    )
    assert kills >= 1, "the operator was never killed: no random moment fell inside the create"
    assert len({m["hostID"] for m in env.cassandra(NAME)["status"]["members"]}) == 3


def test_a_partitioned_member_heals_and_loses_nothing(operator_env: Env) -> None:
    env = operator_env
    victim = MEMBERS[1]
    with scenario(env, "faults: one member partitioned 40 s, then healed") as (log, notes):
        pilot = f.require(procs(env, victim).pilot, f"the pilot of {victim}")
        started = time.monotonic()
        with log.during("partition", victim), f.partitioned(pilot):
            eventually(
                lambda: phase(env) == "Degraded", timeout=60, what="the cluster to see it down"
            )
            seen = time.monotonic() - started
            time.sleep(max(0.0, 40 - seen))
        eventually(lambda: settled(env), timeout=JOIN, what=f"{victim} back Up/Normal")
        notes.append(
            f"Degraded {seen:.0f} s after the partition; settled"
            f" {time.monotonic() - started - 40:.0f} s after the heal"
        )


@pytest.mark.full
def test_a_stopped_pilot_holds_a_rolling_restart(operator_env: Env) -> None:
    """A pilot SIGSTOPped: its facts go stale and its pod turns unready. A
    rolling restart requested meanwhile restarts nobody else while that
    member is down; after SIGCONT it completes, every member restarted."""
    env = operator_env
    victim = MEMBERS[0]
    before = pod_uids(env)
    with scenario(
        env, "faults: a pilot SIGSTOPped 30 s across a rolling restart", copies_may_miss=True
    ) as (log, notes):
        pilot = f.require(procs(env, victim).pilot, f"the pilot of {victim}")
        with log.during("pilot-stop", victim), f.stopped(pilot):
            eventually(
                lambda: not _ready(env, victim), timeout=60, what=f"{victim} to turn unready"
            )
            env.kubectl(
                "annotate",
                "cassandracluster",
                NAME,
                f"{RESTARTED_AT_ANNOTATION}={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
                "--overwrite",
            )
            time.sleep(30)
            after = pod_uids(env)
            held = [m for m in MEMBERS if m != victim and after.get(m) != before.get(m)]
        notes.append(f"restarted while the pilot was stopped: {held or 'nobody'}")
        eventually(
            lambda: settled(env, rolled=True), timeout=3 * JOIN, what="the restart to finish"
        )
    assert not held, f"{held} restarted while {victim} was down"
    after = pod_uids(env)
    assert all(after[m] != before[m] for m in MEMBERS), "a member was not restarted"


def _ready(env: Env, member: str) -> bool:
    pod = env.get("pod", member) or {}
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


@pytest.mark.full
def test_a_hung_jvm_is_restarted_and_loses_nothing(operator_env: Env) -> None:
    """SIGSTOP of a Cassandra JVM (never continued): the pilot's liveness
    fails, the container is restarted, the member rejoins on its data."""
    env = operator_env
    victim = MEMBERS[2]
    before = restarts(env, victim)
    with scenario(env, "faults: a Cassandra JVM SIGSTOPped (hung)", copies_may_miss=True) as (
        log,
        notes,
    ):
        jvm = f.require(procs(env, victim).database, f"the JVM of {victim}")
        started = time.monotonic()
        with log.during("jvm-stop", victim), f.stopped(jvm):
            eventually(
                lambda: restarts(env, victim) > before,
                timeout=240,
                what="liveness to restart the container",
            )
        restarted = time.monotonic() - started
        eventually(lambda: settled(env), timeout=JOIN, what=f"{victim} back Up/Normal")
        notes.append(
            f"container restarted {restarted:.0f} s after the SIGSTOP; settled"
            f" {time.monotonic() - started:.0f} s after it"
        )


@pytest.mark.full
def test_a_full_volume_then_freed_loses_nothing(operator_env: Env) -> None:
    env = operator_env
    victim = MEMBERS[1]
    with scenario(env, "faults: a member's volume full for 60 s", copies_may_miss=True) as (
        log,
        notes,
    ):
        claim = env.get("pvc", f"data-{victim}")
        pv = env.get("pv", claim["spec"]["volumeName"])
        restarts_before = restarts(env, victim)
        with (
            log.during("disk-full", victim),
            f.volume_full(Path(pv["spec"]["local"]["path"])) as filler,
        ):
            time.sleep(60)
            notes.append(
                f"filler {filler.stat().st_size / 2**20:.0f} MiB; {victim} Ready after 60 s:"
                f" {_ready(env, victim)}; restarts {restarts(env, victim) - restarts_before}"
            )
        started = time.monotonic()
        eventually(lambda: settled(env), timeout=JOIN, what=f"{victim} back Up/Normal")
        notes.append(f"settled {time.monotonic() - started:.0f} s after the volume was freed")


def _resize(env: Env, replicas: int) -> None:
    env.patch_json(
        "cassandracluster",
        NAME,
        [{"op": "replace", "path": "/spec/nodePools/0/replicas", "value": replicas}],
    )


@pytest.mark.full
def test_scale_out_and_in_with_the_operator_killed_at_random_moments(operator_env: Env) -> None:
    env = operator_env
    with scenario(
        env, "faults: scale out 3→4 and in 4→3, operator SIGKILLed", kill_operator=True
    ) as (log, notes):
        _resize(env, 4)
        eventually(lambda: settled(env, 4), timeout=2 * JOIN, what="4 members")
        _resize(env, 3)
        eventually(lambda: settled(env, 3), timeout=2 * JOIN, what="3 members")
        notes.append(f"operator SIGKILLed {log.counts()['operator-kill']} times")
    pilot = env.get("pilot", f"{STS}-3")
    assert pilot is None, "the decommissioned member's Pilot is gone"


@pytest.mark.full
def test_rolling_restart_with_the_operator_killed_at_random_moments(operator_env: Env) -> None:
    env = operator_env
    before = pod_uids(env)
    with scenario(
        env, "faults: rolling restart, operator SIGKILLed", copies_may_miss=True, kill_operator=True
    ) as (log, notes):
        env.kubectl(
            "annotate",
            "cassandracluster",
            NAME,
            f"{RESTARTED_AT_ANNOTATION}=chaos-{SEED}",
            "--overwrite",
        )
        eventually(
            lambda: (
                settled(env, rolled=True)
                and pod_uids(env).keys() == before.keys()
                and all(pod_uids(env)[m] != before[m] for m in MEMBERS)
            ),
            timeout=3 * JOIN,
            what="every member restarted",
        )
        notes.append(f"operator SIGKILLed {log.counts()['operator-kill']} times")


@pytest.mark.full
def test_replacement_with_the_operator_killed_at_random_moments(operator_env: Env) -> None:
    """A member's volume lost (claim and pod deleted): it is replaced with
    its old tokens while the operator dies at random moments."""
    env = operator_env
    victim = MEMBERS[2]
    with scenario(
        env, "faults: volume lost and replaced, operator SIGKILLed", kill_operator=True
    ) as (log, notes):
        with log.during("volume-delete", victim):
            env.kubectl("delete", "pvc", f"data-{victim}", "--wait=false")
            env.kubectl("delete", "pod", victim, "--wait=false")
            time.sleep(5)

        def replaced() -> Any:
            start = ((env.get("pilot", victim) or {}).get("status") or {}).get("start") or {}
            return start.get("plan") == "Replace" and settled(env)

        eventually(replaced, timeout=2 * JOIN, what=f"{victim} replaced")
        notes.append(f"operator SIGKILLed {log.counts()['operator-kill']} times")
