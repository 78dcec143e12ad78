"""Each safety rule on its own."""

from __future__ import annotations

import pytest
from opsim import forget, host_id, map_member, observed, set_peer_status

from navigator.operator.cassandra import predicates as p
from navigator.operator.cassandra.observed import PodView

pytestmark = pytest.mark.unit


def member(obs, name):  # type: ignore[no-untyped-def]
    return next(m for m in obs.members() if m.name == name)


def test_not_paused() -> None:
    assert p.not_paused(observed([("a", 1, 1)])) is None
    block = p.not_paused(observed([("a", 1, 1)], paused=True))
    assert block is not None
    assert block.rule == "NotPaused"


def test_all_members_up_normal_holds_when_everyone_sees_everyone_un() -> None:
    assert p.all_members_up_normal(observed([("a", 3, 3), ("b", 2, 2)])) is None
    assert p.all_members_up_normal(observed([("a", 1, 0)])) is None  # nobody yet


def test_all_members_up_normal_blocks_on_one_view() -> None:
    obs = set_peer_status(observed([("a", 3, 3)]), "c-a-2", "c-a-0", "DN")
    block = p.all_members_up_normal(obs)
    assert block is not None
    assert block.rule == "AllMembersUpNormal"
    assert "c-a-2 sees c-a-0 as DN" in block.reason


def test_all_members_up_normal_blocks_without_facts() -> None:
    obs = map_member(observed([("a", 3, 3)]), "c-a-1", pilot=None)
    block = p.all_members_up_normal(obs)
    assert block is not None
    assert "no facts yet from c-a-1" in block.reason


def test_all_members_up_normal_blocks_when_a_member_is_missing_from_a_ring() -> None:
    obs = forget(observed([("a", 3, 3)]), "c-a-2")
    block = p.all_members_up_normal(obs)
    assert block is not None
    assert "absent" in block.reason


def test_one_bootstrap_at_a_time() -> None:
    obs = observed([("a", 3, 3)])
    assert p.one_bootstrap_at_a_time(obs) is None
    block = p.one_bootstrap_at_a_time(set_peer_status(obs, "c-a-0", "c-a-2", "UJ"))
    assert block is not None
    assert block.rule == "OneBootstrapAtATime"
    m = member(obs, "c-a-1")
    joining = m.pilot.model_copy(
        update={"facts": m.pilot.facts.model_copy(update={"operation_mode": "JOINING"})}
    )
    assert p.one_bootstrap_at_a_time(map_member(obs, "c-a-1", pilot=joining)) is not None


@pytest.mark.parametrize(("members", "rf", "blocked"), [(3, 3, True), (4, 3, False), (3, 2, False)])
def test_decommission_keeps_rf(members: int, rf: int, blocked: bool) -> None:
    obs = observed([("a", members - 1, members)], rf=rf)
    block = p.decommission_keeps_rf(obs, member(obs, f"c-a-{members - 1}"))
    assert (block is not None) is blocked
    if block:
        assert block.rule == "DecommissionKeepsReplicationFactor"
        assert "ks (RF 3)" in block.reason


def test_remaining_nodes_can_hold_the_data() -> None:
    small = observed([("a", 2, 3)], load="7 GiB", size="10Gi")  # 21 GiB into 2 x 8 GiB
    block = p.remaining_nodes_can_hold_the_data(small, member(small, "c-a-2"))
    assert block is not None
    assert block.rule == "RemainingNodesCanHoldTheData"
    fits = observed([("a", 2, 3)], load="5 GiB", size="10Gi")  # 15 GiB into 16 GiB
    assert p.remaining_nodes_can_hold_the_data(fits, member(fits, "c-a-2")) is None


def test_remaining_nodes_fails_closed_on_unknown_load() -> None:
    obs = observed([("a", 2, 3)], load="")
    block = p.remaining_nodes_can_hold_the_data(obs, member(obs, "c-a-2"))
    assert block is not None
    assert "unknown" in block.reason


@pytest.mark.parametrize(
    ("text", "size"),
    [("104.5 KiB", 104.5 * 1024), ("0 bytes", 0), ("2 GiB", 2 * 2**30), ("x", None), ("", None)],
)
def test_parse_load(text: str, size: float | None) -> None:
    assert p.parse_load(text) == size


def test_peers_forgot_member() -> None:
    obs = observed([("a", 2, 3)])
    gone = member(obs, "c-a-2")
    block = p.peers_forgot_member(obs, gone)
    assert block is not None
    assert block.rule == "PeersForgotMember"
    assert p.peers_forgot_member(forget(obs, "c-a-2"), gone) is None
    assert host_id("c-a-2") == gone.host_id


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"pilot": None}, "no current facts"),
        ({"pod": None}, "no current facts"),
        ({"pod": PodView(uid="a-later-pod", ready=True)}, "no current facts"),
        ("empty ring", "an empty ring"),
    ],
)
def test_peers_forgot_member_fails_closed_on_a_peer_that_cannot_say(
    change: object, said: str
) -> None:
    """A peer without a Pilot status, with facts an earlier pod wrote, or
    with an empty ring has not shown that it forgot the member (on the code
    before issue 13, each of these counted as "forgot")."""
    obs = forget(observed([("a", 2, 3)]), "c-a-2")
    gone = member(obs, "c-a-2")
    assert p.peers_forgot_member(obs, gone) is None
    if change == "empty ring":
        m = member(obs, "c-a-1")
        empty = m.pilot.model_copy(update={"facts": m.pilot.facts.model_copy(update={"peers": []})})
        obs = map_member(obs, "c-a-1", pilot=empty)
    else:
        obs = map_member(obs, "c-a-1", **change)  # type: ignore[arg-type]
    block = p.peers_forgot_member(obs, gone)
    assert block is not None
    assert block.rule == "PeersForgotMember"
    assert f"c-a-1 has {said}" in block.reason


def test_all_members_up_normal_waits_for_a_member_that_does_not_serve_yet() -> None:
    """A starting seed sees itself Up/Normal in gossip before it serves CQL."""
    from opsim import map_member, observed

    from navigator.api.pilot import PilotStatus
    from navigator.operator.cassandra import predicates as pr

    obs = observed([("a", 3, 2)])
    member = next(m for m in obs.members() if m.name == "c-a-0")
    assert member.pilot is not None
    starting = PilotStatus.model_validate(
        {**member.pilot.model_dump(by_alias=True), "ready": False, "readyReason": "STARTING"}
    )
    block = pr.all_members_up_normal(map_member(obs, "c-a-0", pilot=starting))
    assert block is not None
    assert block.rule == "AllMembersUpNormal"
    assert "c-a-0 is not serving: STARTING" in block.reason
    assert pr.all_members_up_normal(obs) is None


def test_never_joined_only_when_every_ring_is_accounted_for() -> None:
    """Issue 13: a member that never got a host ID could not be scaled away."""
    obs = observed([("a", 2, 3)])
    assert p.never_joined(obs, member(obs, "c-a-2")) is not None  # it has a host ID
    silent = map_member(obs, "c-a-2", pilot=None)
    block = p.never_joined(silent, member(silent, "c-a-2"))
    assert block is not None  # the others still see a node none of them is
    assert block.rule == "NeverJoined"
    assert "it may be c-a-2" in block.reason
    gone = forget(silent, "c-a-2")
    assert p.never_joined(gone, member(gone, "c-a-2")) is None
    quiet = map_member(gone, "c-a-0", facts_age_s=3600.0)
    block = p.never_joined(quiet, member(quiet, "c-a-2"))
    assert block is not None
    assert "c-a-0 has no current ring view" in block.reason
