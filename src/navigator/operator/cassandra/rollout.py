"""Cassandra's rollout: the core's rollout engine (`operator.core.rollout`:
order, stall bound, in-flight detection) behind Cassandra's gates.

A member may restart when every other member is Up/Normal in every view, the
ring is stable, the schema agrees and no hints wait for delivery; a restarted
member serves when its pod is Ready and its current pilot says the node is
Up/Normal and accepts CQL; the rollout ends once the hints written while its
last member was down have been delivered.
"""

from __future__ import annotations

from navigator.operator.cassandra import predicates as p
from navigator.operator.cassandra.actions import RestartMember, Wait
from navigator.operator.cassandra.observed import Member, Observed
from navigator.operator.core import rollout as core
from navigator.operator.core.observed import not_serving_reason
from navigator.operator.core.rollout import (
    CONFIG_ROLLOUT,
    ROLLING_RESTART,
    STALL_AFTER,
    UPGRADE,
    all_outdated,
    outdated,
    rollout_kind,
)

__all__ = [
    "CONFIG_ROLLOUT",
    "RESTART_GATES",
    "ROLLING_RESTART",
    "STALL_AFTER",
    "UPGRADE",
    "all_outdated",
    "next_restart",
    "outdated",
    "rollout_kind",
    "rollout_progress",
]

RESTART_GATES: tuple[core.Gate[Observed, Member], ...] = (
    p.others_up_normal,
    lambda observed, _member: p.ring_stable(observed),
    lambda observed, _member: p.schema_agreement(observed),
    lambda observed, _member: p.hints_delivered(observed),
)

CASSANDRA: core.Rollout[Observed, Member, Wait] = core.Rollout(
    gates=RESTART_GATES,
    serves=lambda member: member.serving,
    not_serving=not_serving_reason,
    settled=p.hints_delivered,
    wait=Wait,
)


def next_restart(observed: Observed) -> RestartMember | Wait | None:
    """The one next step of the rollout, or None when every member is on its
    pool's revision."""
    return core.next_restart(observed, CASSANDRA)


def rollout_progress(observed: Observed) -> tuple[int, int]:
    """(members on their pool's revision and serving, members)."""
    return core.rollout_progress(observed, CASSANDRA)
