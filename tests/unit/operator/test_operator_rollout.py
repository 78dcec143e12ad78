"""The rollout engine's decisions: table tests and properties over a
simulated cluster (never two members down; never a restart while another
member is not Up/Normal; every member restarted exactly once)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opsim import NOW, map_member, observed, pod, set_peer_status

from navigator.operator.cassandra import predicates as p
from navigator.operator.cassandra.actions import RestartMember, Wait
from navigator.operator.cassandra.decide import Paused, next_action
from navigator.operator.cassandra.observed import Member, Observed
from navigator.operator.cassandra.rollout import STALL_AFTER, next_restart, rollout_kind
from navigator.operator.cassandra.status import build_status

pytestmark = pytest.mark.unit

NEW = "rev-2"


def new_revision(obs: Observed, **pool_changes: object) -> Observed:
    """Every pool's template moved to NEW (the members' pods still run rev-1)."""
    pools = tuple(replace(s, revision=NEW, **pool_changes) for s in obs.pools)  # type: ignore[arg-type]
    return replace(obs, pools=pools)


def member(obs: Observed, name: str) -> Member:
    return next(m for m in obs.members() if m.name == name)


def restarted(obs: Observed, name: str, *, serving: bool, age: float = 30) -> Observed:
    """`name` runs a new pod on NEW; its pilot reported from it (or not yet)."""
    m = member(obs, name)
    new_pod = pod(name, NEW, ready=serving, age=age)
    assert m.pilot is not None
    pilot = m.pilot.model_copy(update={"pod_uid": new_pod.uid, "ready": serving})
    return map_member(obs, name, pod=new_pod, pilot=pilot)


def test_nothing_outdated_is_no_rollout() -> None:
    assert next_restart(observed([("a", 3, 3)])) is None


def test_first_restart_is_the_highest_ordinal_of_the_first_rack() -> None:
    obs = new_revision(observed([("a", 2, 2), ("b", 2, 2)]))
    action = next_restart(obs)
    assert isinstance(action, RestartMember)
    assert (action.member, action.uid, action.revision) == ("c-a-1", "uid-c-a-1-rev-1", NEW)


def test_racks_in_spec_order_highest_ordinal_first() -> None:
    obs = new_revision(observed([("a", 2, 2), ("b", 2, 2)]))
    order = []
    for _ in range(4):
        action = next_restart(obs)
        assert isinstance(action, RestartMember)
        order.append(action.member)
        obs = restarted(obs, action.member, serving=True)
    assert order == ["c-a-1", "c-a-0", "c-b-1", "c-b-0"]
    assert next_restart(obs) is None


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ({}, "ConfigRollout"),
        ({"restarted_at": "2026-12-02T12:00:00Z"}, "RollingRestart"),
    ],
)
def test_the_kind_of_rollout(change: dict[str, object], kind: str) -> None:
    obs = new_revision(observed([("a", 3, 3)]), **change)
    assert rollout_kind(obs) == kind


def test_a_version_change_is_an_upgrade() -> None:
    obs = new_revision(observed([("a", 3, 3)]))
    obs = replace(obs, spec=obs.spec.model_copy(update={"version": "5.0.8"}))
    assert rollout_kind(obs) == "Upgrade"
    action = next_restart(obs)
    assert isinstance(action, RestartMember)
    assert action.operation == "Upgrade"


def test_waits_while_the_restarted_pod_terminates() -> None:
    obs = new_revision(observed([("a", 3, 3)]))
    gone = replace(member(obs, "c-a-2").pod, terminating=True)  # type: ignore[type-var]
    action = next_restart(map_member(obs, "c-a-2", pod=gone))
    assert isinstance(action, Wait)
    assert (action.rule, action.target) == (p.RESTARTED_MEMBER_SERVES, "c-a-2")
    assert action.progress


def test_waits_while_the_pod_is_recreated() -> None:
    obs = new_revision(observed([("a", 3, 3)]))
    action = next_restart(map_member(obs, "c-a-2", pod=None))
    assert isinstance(action, Wait)
    assert action.rule == p.RESTARTED_MEMBER_SERVES


def test_waits_for_the_restarted_member_to_serve() -> None:
    obs = restarted(new_revision(observed([("a", 3, 3)])), "c-a-2", serving=False)
    action = next_restart(obs)
    assert isinstance(action, Wait)
    assert (action.rule, action.target) == (p.RESTARTED_MEMBER_SERVES, "c-a-2")
    status = build_status(obs, action, None, obs.now)
    assert status.rollout is not None
    assert not status.rollout.stalled  # waiting is not halting


def test_a_stuck_pod_halts_the_rollout_at_the_canary() -> None:
    obs = restarted(new_revision(observed([("a", 3, 3)])), "c-a-2", serving=False)
    obs = map_member(obs, "c-a-2", problem="cassandra ImagePullBackOff: image not found")
    action = next_action(obs)
    assert isinstance(action, Wait)
    assert (action.rule, action.target) == (p.ROLLOUT_STALLED, "c-a-2")
    assert "ImagePullBackOff" in action.reason
    assert not action.progress
    status = build_status(obs, action, None, NOW)
    assert status.rollout is not None
    assert status.rollout.stalled
    assert status.rollout.current_member == "c-a-2"
    degraded = next(c for c in status.conditions if c.type == "Degraded")
    assert (degraded.status, degraded.reason) == ("True", "RolloutStalled")


def test_a_member_that_never_serves_stalls_after_the_bound() -> None:
    late = STALL_AFTER.total_seconds() + 60
    obs = restarted(new_revision(observed([("a", 3, 3)])), "c-a-2", serving=False, age=late)
    action = next_restart(obs)
    assert isinstance(action, Wait)
    assert action.rule == p.ROLLOUT_STALLED


def test_the_way_back_restores_the_stalled_member_first() -> None:
    """The spec returns to rev-1: the member stuck on NEW is now the outdated
    one, and it is down, so it is restarted although it does not serve."""
    obs = restarted(new_revision(observed([("a", 3, 3)])), "c-a-2", serving=False)
    obs = map_member(obs, "c-a-2", problem="cassandra ImagePullBackOff")
    back = replace(obs, pools=tuple(replace(s, revision="rev-1") for s in obs.pools))
    action = next_restart(back)
    assert isinstance(action, RestartMember)
    assert action.member == "c-a-2"
    assert action.revision == "rev-1"


def test_no_restart_while_another_member_is_seen_down() -> None:
    obs = set_peer_status(new_revision(observed([("a", 3, 3)])), "c-a-0", "c-a-1", "DN")
    action = next_restart(obs)
    assert isinstance(action, Wait)
    assert action.rule == p.ALL_MEMBERS_UP_NORMAL
    assert "c-a-0 sees c-a-1 as DN" in action.reason


def test_stale_facts_are_not_up_normal() -> None:
    """A Pilot status written by an earlier pod of the member is no evidence:
    the member counts as down, so it is the one restarted first (the others
    serve), and no other member is restarted while it is stale."""
    obs = new_revision(observed([("a", 3, 3)]))
    stale = member(obs, "c-a-0").pilot.model_copy(update={"pod_uid": "an-earlier-pod"})  # type: ignore[union-attr]
    obs = map_member(obs, "c-a-0", pilot=stale)
    block = p.all_members_up_normal(obs)
    assert block is not None
    assert "stale" in block.reason
    action = next_restart(obs)
    assert isinstance(action, RestartMember)
    assert action.member == "c-a-0"
    assert p.others_up_normal(obs, member(obs, "c-a-1")) is not None


def test_no_restart_while_the_ring_changes() -> None:
    obs = new_revision(observed([("a", 3, 3)]))
    obs = set_peer_status(obs, "c-a-0", "c-a-1", "UL")
    assert p.ring_stable(obs) is not None
    assert p.ring_stable(observed([("a", 3, 3)])) is None


def _schema(obs: Observed, name: str, schema: str, release: str = "5.0.6") -> Observed:
    m = member(obs, name)
    assert m.pilot is not None
    assert m.pilot.facts is not None
    facts = m.pilot.facts.model_copy(update={"schema_version": schema, "release_version": release})
    return map_member(obs, name, pilot=m.pilot.model_copy(update={"facts": facts}))


def test_schema_disagreement_blocks() -> None:
    obs = _schema(new_revision(observed([("a", 3, 3)])), "c-a-0", "schema-2")
    action = next_restart(obs)
    assert isinstance(action, Wait)
    assert action.rule == p.SCHEMA_AGREEMENT


def test_two_schema_versions_of_a_mixed_version_upgrade_are_tolerated() -> None:
    obs = _schema(new_revision(observed([("a", 3, 3)])), "c-a-2", "schema-5", release="5.0.8")
    assert p.schema_agreement(obs) is None
    obs = _schema(obs, "c-a-1", "schema-6", release="5.0.8")
    assert p.schema_agreement(obs) is not None


def test_pause_stops_a_rollout_between_members() -> None:
    obs = new_revision(observed([("a", 3, 3)], paused=True))
    assert isinstance(next_action(obs), Paused)


def test_a_restart_in_flight_is_progress_not_degraded() -> None:
    obs = restarted(new_revision(observed([("a", 3, 3)])), "c-a-2", serving=False)
    action = next_action(obs)
    status = build_status(obs, action, None, NOW)
    degraded = next(c for c in status.conditions if c.type == "Degraded")
    assert degraded.status == "False"
    assert status.operation is not None
    assert status.operation.type == "ConfigRollout"
    assert status.rollout is not None
    assert (status.rollout.updated_members, status.rollout.members) == (0, 3)


# --- properties over a simulated rollout -------------------------------------

# A member's life in the simulation: "up" (serving on its pod's revision),
# "terminating", "absent" (pod being recreated) or "starting" (new pod, not
# serving yet).
Life = dict[str, tuple[str, str]]  # name -> (phase, pod revision)


def world(shape: list[tuple[str, int]], life: Life, target: str) -> Observed:
    obs = observed([(n, k, k) for n, k in shape])
    obs = replace(obs, pools=tuple(replace(s, revision=target) for s in obs.pools))
    for name, (phase, revision) in life.items():
        if phase == "absent":
            obs = map_member(obs, name, pod=None)
        elif phase == "terminating":
            obs = map_member(obs, name, pod=replace(member(obs, name).pod, terminating=True))  # type: ignore[type-var]
        elif revision != "rev-1" or phase == "starting":
            obs = restarted(obs, name, serving=phase == "up")
            if revision == "rev-1":
                obs = map_member(obs, name, pod=replace(member(obs, name).pod, revision="rev-1"))  # type: ignore[type-var]
        if phase != "up":
            for other in life:
                if other != name:
                    obs = set_peer_status(obs, other, name, "DN")
    return obs


def _advance(life: Life, name: str, target: str) -> None:
    phase, revision = life[name]
    following = {"terminating": ("absent", revision), "absent": ("starting", target)}
    life[name] = following.get(phase, ("up", revision))


@settings(max_examples=150, deadline=None)
@given(
    shape=st.lists(st.integers(1, 3), min_size=1, max_size=3).map(
        lambda sizes: [(f"r{i}", k) for i, k in enumerate(sizes)]
    ),
    delays=st.lists(st.integers(0, 3), min_size=40, max_size=40),
)
def test_rollout_restarts_each_member_once_and_never_two_down(
    shape: list[tuple[str, int]], delays: list[int]
) -> None:
    life: Life = {f"c-{n}-{i}": ("up", "rev-1") for n, k in shape for i in range(k)}
    restarts: list[str] = []
    for tick in range(200):
        obs = world(shape, life, NEW)
        action = next_action(obs)
        down = [n for n, (phase, _) in life.items() if phase != "up"]
        assert len(down) <= 1, f"two members down: {down}"
        if isinstance(action, RestartMember):
            assert not down, "a restart while another member is not Up/Normal"
            restarts.append(action.member)
            life[action.member] = ("terminating", life[action.member][1])
            continue
        if action is None and not down:
            break
        # The member in flight moves on after a random number of ticks.
        for name in down:
            if tick % (delays[tick % len(delays)] + 1) == 0:
                _advance(life, name, NEW)
    assert sorted(restarts) == sorted(life), "every member restarted exactly once"
    assert all(v == ("up", NEW) for v in life.values())


@settings(max_examples=100, deadline=None)
@given(
    shape=st.lists(st.integers(1, 3), min_size=1, max_size=2).map(
        lambda sizes: [(f"r{i}", k) for i, k in enumerate(sizes)]
    ),
    down=st.data(),
)
def test_never_a_restart_while_a_peer_is_not_up_normal(
    shape: list[tuple[str, int]], down: st.DataObject
) -> None:
    life: Life = {f"c-{n}-{i}": ("up", "rev-1") for n, k in shape for i in range(k)}
    names = sorted(life)
    sick = down.draw(st.sampled_from(names))
    life[sick] = (down.draw(st.sampled_from(["terminating", "absent", "starting"])), NEW)
    action = next_action(world(shape, life, NEW))
    assert not isinstance(action, RestartMember)


def test_stall_uses_the_injected_clock() -> None:
    obs = restarted(new_revision(observed([("a", 3, 3)])), "c-a-2", serving=False, age=0)
    later = replace(obs, now=NOW + STALL_AFTER + timedelta(seconds=1))
    assert isinstance(next_restart(obs), Wait)
    action = next_restart(later)
    assert isinstance(action, Wait)
    assert action.rule == p.ROLLOUT_STALLED


def test_the_rollout_lasts_until_the_last_restarted_member_serves() -> None:
    """Nothing is outdated once the last member's pod is recreated, but the
    rollout recorded in status goes on until that member serves."""
    obs = restarted(new_revision(observed([("a", 2, 2)])), "c-a-0", serving=True)
    obs = restarted(obs, "c-a-1", serving=False)
    assert next_restart(obs) is None  # nothing recorded: a fresh member, not a rollout
    recorded = replace(obs, rollout="Upgrade")
    action = next_restart(recorded)
    assert isinstance(action, Wait)
    assert (action.rule, action.operation, action.target) == (
        p.RESTARTED_MEMBER_SERVES,
        "Upgrade",
        "c-a-1",
    )
    done = restarted(recorded, "c-a-1", serving=True)
    assert next_restart(done) is None


def _hints(obs: Observed, holder: str, pending: dict[str, int] | None) -> Observed:
    m = member(obs, holder)
    assert m.pilot is not None
    assert m.pilot.facts is not None
    facts = m.pilot.facts.model_copy(update={"hints_pending": pending})
    return map_member(obs, holder, pilot=m.pilot.model_copy(update={"facts": facts}))


def test_no_restart_while_a_member_holds_hints_for_another() -> None:
    obs = _hints(new_revision(observed([("a", 3, 3)])), "c-a-0", {"id-c-a-1": 2})
    action = next_restart(obs)
    assert isinstance(action, Wait)
    assert action.rule == p.HINTS_DELIVERED
    assert "c-a-0 still holds hints for c-a-1" in action.reason
    assert action.progress


def test_unknown_hints_fail_closed() -> None:
    obs = _hints(new_revision(observed([("a", 3, 3)])), "c-a-0", None)
    action = next_restart(obs)
    assert isinstance(action, Wait)
    assert action.rule == p.HINTS_DELIVERED


def test_the_rollout_ends_once_the_last_member_has_its_hints() -> None:
    obs = restarted(new_revision(observed([("a", 2, 2)])), "c-a-0", serving=True)
    obs = restarted(obs, "c-a-1", serving=True)
    obs = replace(obs, rollout="RollingRestart")
    held = _hints(obs, "c-a-0", {"id-c-a-1": 1})
    action = next_restart(held)
    assert isinstance(action, Wait)
    assert action.rule == p.HINTS_DELIVERED
    assert next_restart(obs) is None
