"""What a named rule says when it blocks progress, and the rules of the
core's own engine (the rollout's). An engine's rules live beside its
decisions (`navigator.operator.cassandra.predicates`); their names are part of
the API: they appear in `status.operation.blockedBy.rule`, in Events and in
docs/operator.md."""

from __future__ import annotations

from dataclasses import dataclass

RESTARTED_MEMBER_SERVES = "RestartedMemberServes"
ROLLOUT_STALLED = "RolloutStalled"


@dataclass(frozen=True)
class Block:
    rule: str
    reason: str
