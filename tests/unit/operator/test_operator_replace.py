"""Dead-node replacement decided (`operator.replace`): asked only on
unambiguous evidence, one at a time, and waited on until it finishes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from opsim import host_id, map_member, observed, set_peer_status

from navigator.api.pilot import IntentOutcome, PilotStatus, StartReport
from navigator.operator.cassandra import predicates as p
from navigator.operator.cassandra.actions import ReleaseLostVolume, RequestReplace, Wait
from navigator.operator.cassandra.decide import next_action
from navigator.operator.cassandra.observed import Observed
from navigator.operator.cassandra.replace import next_replacement
from navigator.operator.core.lostvolume import HOSTNAME, lost_with, pinned_nodes

pytestmark = pytest.mark.unit

LOST = "c-r1-2"


def lost_volume(obs: Observed | None = None, name: str = LOST) -> Observed:
    """`name` came back on an empty volume: its pilot holds, its peers see it DN."""
    obs = obs or observed([("r1", 3, 3)], rf=3)
    member = next(m for m in obs.members() if m.name == name)
    assert member.pod is not None
    held = PilotStatus(
        podUID=member.pod.uid,
        start=StartReport(plan="Hold", reason="volume empty", volumeEmpty=True),
    )
    obs = map_member(obs, name, pilot=held, recorded_host_id=host_id(name))
    for other in obs.members():
        if other.name != name:
            obs = set_peer_status(obs, other.name, name, "DN")
    return obs


def test_a_member_whose_volume_was_lost_is_replaced_as_its_old_self() -> None:
    action = next_action(lost_volume())
    assert isinstance(action, RequestReplace)
    assert (action.member, action.host_id, action.address) == (LOST, host_id(LOST), "10.0.0.2")
    assert action.intent_id.startswith("replace-uid-")


def test_a_peer_that_sees_the_old_host_up_blocks_it() -> None:
    obs = set_peer_status(lost_volume(), "c-r1-0", LOST, "UN")
    action = next_replacement(obs)
    assert isinstance(action, Wait)
    assert action.rule == p.REPLACED_HOST_IS_DOWN


def test_a_peer_that_forgot_the_old_host_blocks_it() -> None:
    obs = lost_volume()
    m = next(m for m in obs.members() if m.name == "c-r1-1")
    assert m.pilot is not None
    assert m.pilot.facts is not None
    peers = [x for x in m.pilot.facts.peers if x.host_id != host_id(LOST)]
    facts = m.pilot.facts.model_copy(update={"peers": peers})
    obs = map_member(obs, "c-r1-1", pilot=m.pilot.model_copy(update={"facts": facts}))
    action = next_replacement(obs)
    assert isinstance(action, Wait)
    assert action.rule == p.REPLACED_HOST_IS_DOWN
    assert "does not know" in action.reason


def test_another_member_down_blocks_it() -> None:
    obs = map_member(lost_volume(), "c-r1-0", facts_age_s=600.0)
    action = next_replacement(obs)
    assert isinstance(action, Wait)
    assert action.rule == p.ALL_MEMBERS_UP_NORMAL


def test_a_member_merely_down_is_not_replaced() -> None:
    obs = observed([("r1", 3, 3)], rf=3)
    obs = map_member(obs, LOST, facts_age_s=600.0, recorded_host_id=host_id(LOST))
    assert next_replacement(obs) is None


def test_a_stale_hold_from_an_earlier_pod_is_no_evidence() -> None:
    obs = lost_volume()
    member = next(m for m in obs.members() if m.name == LOST)
    assert member.pilot is not None
    pilot = member.pilot.model_copy(update={"pod_uid": "an-earlier-pod"})
    assert next_replacement(map_member(obs, LOST, pilot=pilot)) is None


def test_a_running_replacement_is_waited_on_and_blocks_everything_else() -> None:
    obs = lost_volume()
    member = next(m for m in obs.members() if m.name == LOST)
    assert member.pilot is not None
    running = IntentOutcome(id="replace-x", action="Replace", phase="Running")
    pilot = member.pilot.model_copy(update={"intents": [running], "start": None})
    obs = map_member(obs, LOST, pilot=pilot, replaces=("replace-x",))
    action = next_action(obs)
    assert isinstance(action, Wait)
    assert action.rule == p.REPLACEMENT_COMPLETES
    assert action.operation == "Replace"
    assert action.target == LOST
    done = running.model_copy(update={"phase": "Succeeded"})
    obs = map_member(obs, LOST, pilot=pilot.model_copy(update={"intents": [done]}))
    assert next_replacement(obs) is None


def pv(*nodes: str) -> dict[str, object]:
    expr = {"key": HOSTNAME, "operator": "In", "values": list(nodes)}
    return {
        "spec": {
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [expr]}]}}
        }
    }


def test_a_volume_is_lost_only_when_every_node_it_is_pinned_to_is_gone() -> None:
    assert pinned_nodes(pv("n1")) == ["n1"]
    assert lost_with(pv("n1"), {"n1": False}) == "n1"
    assert lost_with(pv("n1", "n2"), {"n1": False, "n2": True}) == ""
    assert lost_with(pv("n1"), {"n1": True}) == ""  # a NotReady node still exists
    assert lost_with({"spec": {}}, {}) == ""  # network storage follows its pod


def test_a_member_whose_volume_node_is_gone_is_released_to_come_back_empty() -> None:
    obs = observed([("r1", 3, 3)], rf=3)
    obs = map_member(obs, LOST, facts_age_s=600.0, recorded_host_id=host_id(LOST))
    for other in ("c-r1-0", "c-r1-1"):
        obs = set_peer_status(obs, other, LOST, "DN")
    released = map_member(obs, LOST, volume_lost_with="node-3")
    cause = "its volume lived on node node-3, which is gone"
    assert next_action(released) == ReleaseLostVolume("r1", LOST, cause)
    # Never on a member its peers still see up.
    up = set_peer_status(released, "c-r1-0", LOST, "UN")
    action = next_replacement(up)
    assert isinstance(action, Wait)
    assert action.rule == p.REPLACED_HOST_IS_DOWN


def test_a_member_merely_down_is_replaced_when_a_user_asks_on_its_pod() -> None:
    obs = observed([("r1", 3, 3)], rf=3)
    obs = map_member(obs, LOST, facts_age_s=600.0, recorded_host_id=host_id(LOST))
    for other in ("c-r1-0", "c-r1-1"):
        obs = set_peer_status(obs, other, LOST, "DN")
    member = next(m for m in obs.members() if m.name == LOST)
    assert member.pod is not None
    assert next_replacement(obs) is None  # merely down: reported, not replaced
    asked = map_member(obs, LOST, pod=replace(member.pod, replace_requested=True))
    action = next_action(asked)
    assert isinstance(action, ReleaseLostVolume)
    assert action.member == LOST
    assert "requested" in action.cause


def test_a_request_to_replace_a_serving_member_is_refused() -> None:
    obs = observed([("r1", 3, 3)], rf=3)
    member = next(m for m in obs.members() if m.name == LOST)
    assert member.pod is not None
    obs = map_member(
        obs, LOST, pod=replace(member.pod, replace_requested=True), recorded_host_id=host_id(LOST)
    )
    action = next_action(obs)
    assert isinstance(action, Wait)
    assert action.rule == p.REPLACED_HOST_IS_DOWN
    assert "not down" in action.reason
