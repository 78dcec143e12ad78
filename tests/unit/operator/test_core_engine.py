"""The engine-neutral core (docs/design/0008-engine-neutral-split.md): the
rollout engine takes its gates from the database, the reconcile's phases run
over any engine, and kopf's handlers route to the engine a child names."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

import pytest
from opsim import observed, pod
from pydantic import ValidationError

from navigator.api.cassandra import CassandraNodePool
from navigator.operator import main
from navigator.operator.core import rollout
from navigator.operator.core.actions import RestartMember, Wait
from navigator.operator.core.gates import RESTARTED_MEMBER_SERVES, Block
from navigator.operator.core.objects import Manifest
from navigator.operator.core.observed import Member, Observed
from navigator.operator.core.reconciler import AFTER_ACTION, Prepared, Reconciler
from navigator.operator.core.workers import GONE

pytestmark = pytest.mark.unit

AnyObserved = Observed[Any, Any, Any]
AnyMember = Member[Any]


class OtherWait(Wait):
    """Another engine's Wait, with its own progress rules."""

    PROGRESS_RULES: ClassVar[frozenset[str]] = frozenset({"GreenHealth"})


def green(_: AnyObserved, member: AnyMember) -> Block | None:
    return Block("GreenHealth", f"{member.name} may not restart: health is yellow")


OTHER: rollout.Rollout[AnyObserved, AnyMember, OtherWait] = rollout.Rollout(
    gates=(green,),
    serves=lambda member: member.serving,
    not_serving=lambda member: "it says so",
    settled=lambda _: None,
    wait=OtherWait,
)


def outdated(obs: AnyObserved, revision: str = "rev-2") -> AnyObserved:
    """Every pool built at `revision`, its members still on the old one."""
    return replace(obs, pools=tuple(replace(s, revision=revision) for s in obs.pools))


def test_the_gates_come_from_the_engine() -> None:
    step = rollout.next_restart(outdated(observed([("a", 2, 2)])), OTHER)
    why = "c-a-1 may not restart: health is yellow"
    assert step == OtherWait("GreenHealth", why, rollout.CONFIG_ROLLOUT, "c-a-1")
    assert isinstance(step, OtherWait)
    assert step.progress


def test_without_gates_the_order_is_the_cores() -> None:
    free = replace(OTHER, gates=())
    step = rollout.next_restart(outdated(observed([("a", 2, 2), ("b", 1, 1)])), free)
    assert isinstance(step, RestartMember)
    assert (step.member, step.revision) == ("c-a-1", "rev-2")


def test_what_serving_means_comes_from_the_engine() -> None:
    """A member on the new revision that the engine says does not serve
    holds the rollout, with the engine's reason."""
    obs = outdated(observed([("a", 2, 2)]))
    restarted = replace(obs.pools[0].members[1], pod=pod("c-a-1", "rev-2", age=10))
    obs = replace(obs, pools=(replace(obs.pools[0], members=(obs.pools[0].members[0], restarted)),))
    never = replace(OTHER, serves=lambda _: False)
    step = rollout.next_restart(obs, never)
    assert isinstance(step, OtherWait)
    assert step.rule == RESTARTED_MEMBER_SERVES
    assert step.reason.endswith("does not serve yet: it says so")


def test_the_core_wait_knows_no_rule() -> None:
    assert not Wait("GreenHealth", "").progress
    assert OtherWait("GreenHealth", "").progress


class FakeKube:
    def __init__(self) -> None:
        self.applied: list[Manifest] = []
        self.listed: list[str] = []

    async def live_of(self, manifest: Manifest) -> None:
        return None

    async def apply(self, manifest: Manifest, live: Any) -> None:
        self.applied.append(manifest)

    async def list(self, kind: str, namespace: str, selector: dict[str, str]) -> list[Any]:
        self.listed.append(kind)
        return []


class Engine(Reconciler[dict[str, Any], str, str, str]):
    """An engine whose world is a dict and whose steps are logged."""

    def __init__(self, world: dict[str, Any] | Exception | None) -> None:
        self.fake = FakeKube()
        super().__init__(self.fake, clock=lambda: datetime(2026, 1, 1))
        self.world = world
        self.steps: list[str] = []

    async def gather(self, namespace: str, name: str) -> dict[str, Any] | None:
        if isinstance(self.world, Exception):
            raise self.world
        return self.world

    def observe(self, world: dict[str, Any], now: datetime) -> str:
        return "observed"

    def decide(self, observed: str) -> str | None:
        return "action"

    def paused(self, world: dict[str, Any]) -> bool:
        return bool(world.get("paused"))

    async def prepare(self, world: dict[str, Any]) -> Prepared[dict[str, Any], str]:
        self.steps.append("prepare")
        return Prepared(world, decide_again=bool(world.get("again")))

    def build_objects(self, world: dict[str, Any]) -> list[Manifest]:
        return [{"kind": "Service"}]

    async def converge_members(self, world: dict[str, Any], observed: str) -> None:
        self.steps.append("members")

    async def act(self, world: dict[str, Any], observed: str, action: str | None) -> str:
        self.steps.append(f"act {action}")
        return "done"

    async def record(
        self, world: dict[str, Any], observed: str, action: str | None, outcome: str | None
    ) -> None:
        self.steps.append(f"record {action} {outcome}")

    def again(self, world: dict[str, Any], action: str | None, outcome: str | None) -> float:
        return 42.0


def run(engine: Engine) -> float | None:
    return asyncio.run(engine.reconcile("ns", "c"))


def test_the_phases_run_in_order() -> None:
    engine = Engine({})
    assert run(engine) == 42.0
    assert engine.steps == ["prepare", "members", "act action", "record action done"]
    assert engine.fake.applied == [{"kind": "Service"}]


def test_a_paused_cluster_is_only_recorded() -> None:
    engine = Engine({"paused": True})
    run(engine)
    assert engine.steps == ["record action None"]
    assert engine.fake.applied == []


def test_a_prepare_step_may_end_the_pass() -> None:
    engine = Engine({"again": True})
    assert run(engine) == AFTER_ACTION
    assert engine.steps == ["prepare"]


def test_a_gone_cluster_releases_its_pilots() -> None:
    engine = Engine(None)
    assert run(engine) == GONE
    assert engine.fake.listed == ["Pilot"]


def test_a_cluster_that_does_not_parse_waits_for_the_resync() -> None:
    try:
        CassandraNodePool.model_validate({})
    except ValidationError as err:
        engine = Engine(err)
    assert run(engine) is None
    assert engine.steps == []


class Woken:
    def __init__(self) -> None:
        self.woken: list[tuple[str, str]] = []

    def wake(self, namespace: str, name: str) -> None:
        self.woken.append((namespace, name))


def test_a_child_wakes_its_cluster_in_its_engine() -> None:
    assert [e.plural for e in main.ENGINES] == ["cassandraclusters"]
    workers = {e.plural: Woken() for e in main.ENGINES}
    memo = {"workers": workers}
    labels = {"navigator.dev/cluster": "c", "app.kubernetes.io/name": "cassandra"}
    asyncio.run(main._child_event(labels=labels, namespace="ns", memo=memo))
    assert workers["cassandraclusters"].woken == [("ns", "c")]
