"""The decision function: a table of situations, then properties over random ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opsim import DECOMMISSION_G1 as G
from opsim import forget, map_member, observed, set_peer_status, with_outcome

from navigator.operator.cassandra.decide import (
    CreatePool,
    Paused,
    RequestDecommission,
    ScaleIn,
    ScaleOut,
    Wait,
    next_action,
)
from navigator.operator.cassandra.observed import Observed
from navigator.operator.cassandra.status import build_status

pytestmark = pytest.mark.unit


def missing(obs: Observed, pool: str) -> Observed:
    pools = tuple(replace(s, exists=False) if s.name == pool else s for s in obs.pools)
    return replace(obs, pools=pools)


TABLE = [
    ("settled", observed([("a", 3, 3)]), None),
    ("paused", observed([("a", 3, 1)], paused=True), Paused),
    ("create first pool", missing(observed([("a", 3, 0), ("b", 3, 0)]), "a"), CreatePool("a")),
    ("first member", observed([("a", 3, 0)]), ScaleOut("a", 1)),
    ("next member", observed([("a", 3, 2)]), ScaleOut("a", 3)),
    ("pools in spec order", observed([("a", 2, 1), ("b", 2, 1)]), ScaleOut("a", 2)),
    ("second pool once first is full", observed([("a", 2, 2), ("b", 2, 1)]), ScaleOut("b", 2)),
    (
        "scale out waits for UN",
        set_peer_status(observed([("a", 3, 2)]), "c-a-0", "c-a-1", "DN"),
        Wait("AllMembersUpNormal", "c-a-0 sees c-a-1 as DN, not UN", "ScaleOut", "a"),
    ),
    (
        "scale in asks highest ordinal",
        observed([("a", 2, 3)]),
        RequestDecommission("a", "c-a-2", G),
    ),
    (
        "scale in refused by RF",
        observed([("a", 2, 3)], rf=3),
        Wait,
    ),
    ("decommission running", with_outcome(observed([("a", 2, 3)]), "c-a-2", G, "Running"), Wait),
    (
        "decommission done, peers still list it",
        with_outcome(observed([("a", 2, 3)]), "c-a-2", G, "Succeeded"),
        Wait,
    ),
    (
        "decommission done and forgotten",
        forget(with_outcome(observed([("a", 2, 3)]), "c-a-2", G, "Succeeded"), "c-a-2"),
        ScaleIn("a", 2, "c-a-2"),
    ),
    (
        "scaled back up mid-decommission: finish removal first",
        forget(with_outcome(observed([("a", 5, 3)]), "c-a-2", G, "Succeeded"), "c-a-2"),
        ScaleIn("a", 2, "c-a-2"),
    ),
    (
        "scaled back up while leaving: wait, never scale out",
        with_outcome(observed([("a", 5, 3)]), "c-a-2", G, "Running"),
        Wait,
    ),
    (
        "pilot refused: wait for a new spec",
        with_outcome(
            observed([("a", 2, 3)]), "c-a-2", G, "Refused", "DecommissionKeepsReplicationFactor: x"
        ),
        Wait("DecommissionKeepsReplicationFactor", "", "ScaleIn", "c-a-2"),
    ),
    (
        "refused in an older generation, spec back to 3: settled",
        with_outcome(observed([("a", 3, 3)], generation=2), "c-a-2", G, "Refused"),
        None,
    ),
    (
        "a member that never joined, spec lowered: removed without a decommission",
        forget(map_member(observed([("a", 2, 3)]), "c-a-2", pilot=None), "c-a-2"),
        ScaleIn("a", 2, "c-a-2", joined=False),
    ),
    (
        "a silent member the others still see in the ring: not removed",
        map_member(observed([("a", 2, 3)]), "c-a-2", pilot=None),
        Wait("AllMembersUpNormal", "", "ScaleIn", "c-a-2"),
    ),
    (
        "refused in an older generation, new spec: ask again",
        with_outcome(observed([("a", 2, 3)], generation=2), "c-a-2", G, "Refused"),
        RequestDecommission("a", "c-a-2", "decommission-g2"),
    ),
]


@pytest.mark.parametrize(("situation", "obs", "expected"), TABLE, ids=[t[0] for t in TABLE])
def test_table(situation: str, obs: Observed, expected: object) -> None:
    action = next_action(obs)
    if isinstance(expected, type):
        assert isinstance(action, expected), situation
    elif isinstance(expected, Wait) and not expected.reason:
        assert isinstance(action, Wait)
        assert (action.rule, action.operation, action.target) == (
            expected.rule,
            expected.operation,
            expected.target,
        )
    else:
        assert action == expected, situation


def test_a_decommissioned_member_without_facts_is_removed_by_its_recorded_host_id() -> None:
    """Issue 13 (found by the e2e "operator killed during a scale-in"): after
    its decommission the pilot stops Cassandra and reports no facts; an
    operator that restarts then saw no host ID and waited forever on
    PeersForgotMember. The host ID recorded in the cluster's status is used."""
    done = forget(with_outcome(observed([("a", 2, 3)]), "c-a-2", G, "Succeeded"), "c-a-2")
    member = next(m for m in done.members() if m.name == "c-a-2")
    assert member.pilot is not None
    no_facts = member.pilot.model_copy(update={"facts": None})
    quiet = map_member(done, "c-a-2", pilot=no_facts)
    waiting = next_action(quiet)
    assert isinstance(waiting, Wait)
    assert "host ID of c-a-2 unknown" in waiting.reason
    recorded = map_member(quiet, "c-a-2", recorded_host_id="id-c-a-2")
    assert next_action(recorded) == ScaleIn("a", 2, "c-a-2")
    # ... and never while a peer still lists that host ID
    listed = map_member(
        with_outcome(observed([("a", 2, 3)]), "c-a-2", G, "Succeeded"),
        "c-a-2",
        pilot=no_facts,
        recorded_host_id="id-c-a-2",
    )
    action = next_action(listed)
    assert isinstance(action, Wait)
    assert action.rule == "PeersForgotMember"


def test_refused_by_rf_names_the_rule() -> None:
    action = next_action(observed([("a", 2, 3)], rf=3))
    assert isinstance(action, Wait)
    assert action.rule == "DecommissionKeepsReplicationFactor"
    assert action.operation == "ScaleIn"


# --- properties over random clusters -------------------------------------------------

PHASES = st.sampled_from([None, "Running", "Succeeded", "Failed", "Refused"])
VIEWS = st.sampled_from(["UN", "UN", "UN", "DN", "UJ", "UL"])


@st.composite
def situations(draw: st.DrawFn) -> Observed:
    n_pools = draw(st.integers(1, 3))
    pools = [(f"p{i}", draw(st.integers(0, 4)), draw(st.integers(0, 4))) for i in range(n_pools)]
    obs = observed(
        pools,
        rf=draw(st.integers(0, 3)),
        paused=draw(st.booleans()),
        generation=draw(st.integers(1, 3)),
    )
    names = [m.name for m in obs.members()]
    for name in names:
        if draw(st.integers(0, 3)) == 0:
            obs = set_peer_status(obs, draw(st.sampled_from(names)), name, draw(VIEWS))
        phase = draw(PHASES)
        if phase is not None:
            gen = draw(st.integers(1, 3))
            obs = with_outcome(obs, name, f"decommission-g{gen}", phase)
        if draw(st.booleans()):
            obs = forget(obs, name)
    for name in names:
        if draw(st.integers(0, 5)) == 0:
            obs = map_member(obs, name, pilot=None)
    return obs


@settings(max_examples=400, deadline=None)
@given(situations())
def test_scale_in_only_removes_a_decommissioned_member(obs: Observed) -> None:
    action = next_action(obs)
    if isinstance(action, ScaleIn):
        member = next(m for m in obs.members() if m.name == action.member)
        if action.joined:
            assert member.decommissioned
        else:  # never in the ring: no host ID, every ring entry is another member
            assert not member.host_id
            others = [m for m in obs.members() if m.name != member.name]
            known = {m.host_id for m in others}
            assert others
            for m in others:
                assert m.facts is not None
                assert m.facts.peers
                assert {p.host_id for p in m.facts.peers} <= known
        assert member.ordinal == action.to
        assert action.to == obs.pool(action.pool).replicas - 1  # type: ignore[union-attr]


@settings(max_examples=400, deadline=None)
@given(situations())
def test_never_two_bootstraps_nor_growth_past_a_leaving_member(obs: Observed) -> None:
    action = next_action(obs)
    if isinstance(action, ScaleOut):
        assert not any(m.decommissioned or m.leaving for m in obs.members())
        for m in obs.members():
            assert m.facts is not None
            assert all(p.status == "UN" for p in m.facts.peers if p.host_id)
        assert action.to == obs.pool(action.pool).replicas + 1  # type: ignore[union-attr]


@settings(max_examples=400, deadline=None)
@given(situations())
def test_paused_only_pauses(obs: Observed) -> None:
    action = next_action(obs)
    if obs.spec.paused:
        assert isinstance(action, Paused)
    else:
        assert not isinstance(action, Paused)


@settings(max_examples=400, deadline=None)
@given(situations())
def test_decommission_only_of_the_highest_ordinal_above_spec(obs: Observed) -> None:
    action = next_action(obs)
    if isinstance(action, RequestDecommission):
        state = obs.pool(action.pool)
        assert state is not None
        assert state.replicas > state.pool.replicas
        assert action.member == f"c-{state.name}-{state.replicas - 1}"
        assert action.intent_id == obs.intent_id


def test_racks_grow_round_robin_so_a_datacenter_reaches_its_racks_first() -> None:
    """1+2+2 in spec order would give rack2 its second member while the
    datacenter has two racks, which Cassandra's token allocation refuses
    for RF 3; the pool with the fewest members grows first."""
    obs = observed([("r1", 1, 1), ("r2", 2, 1), ("r3", 2, 0)])
    assert next_action(obs) == ScaleOut("r3", 1)
    obs = observed([("r1", 1, 1), ("r2", 2, 1), ("r3", 2, 1)])
    assert next_action(obs) == ScaleOut("r2", 2)
    assert next_action(observed([("r1", 1, 0), ("r2", 2, 0)])) == ScaleOut("r1", 1)


def test_a_decommission_running_past_its_bound_is_reported_stuck() -> None:
    obs = with_outcome(observed([("r1", 3, 4)]), "c-r1-3", G, "Running")
    member = next(m for m in obs.members() if m.name == "c-r1-3")
    assert member.pilot is not None
    started = (obs.now - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    outcome = member.pilot.intents[0].model_copy(update={"started_at": started, "attempts": 1})
    stuck = map_member(obs, "c-r1-3", pilot=member.pilot.model_copy(update={"intents": [outcome]}))
    action = next_action(stuck)
    assert isinstance(action, Wait)
    assert action.rule == "DecommissionStuck"
    assert "3.0 h" in action.reason
    assert not action.progress  # a Warning event and Degraded, not the normal course
    degraded = next(
        c for c in build_status(stuck, action, None, obs.now).conditions if c.type == "Degraded"
    )
    assert (degraded.status, degraded.reason) == ("True", "DecommissionStuck")
    recent = outcome.model_copy(update={"started_at": obs.now.strftime("%Y-%m-%dT%H:%M:%SZ")})
    fine = map_member(obs, "c-r1-3", pilot=member.pilot.model_copy(update={"intents": [recent]}))
    assert next_action(fine) == Wait(
        "DecommissionCompletes",
        "waiting for the pilot of c-r1-3 to finish its decommission",
        "ScaleIn",
        "c-r1-3",
    )
