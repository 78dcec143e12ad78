"""What to do next: one pure function from an `Observed` snapshot to one small
action. The reconcile applies it and decides again from fresh observations.

Order (each step returns when it has something to say):

1. paused → `Paused`;
2. a pool without its StatefulSet → `CreatePool` (spec order);
3. a member whose decommission Succeeded → `ScaleIn` once its peers forgot it
   (a decommissioned node is never left running, whatever the spec says now);
4. a decommission still running → `Wait`;
5. a member whose pod runs another revision than its pool's → the rollout
   (`navigator.operator.rollout`): `RestartMember`, one at a time, or `Wait`;
6. a pool below its spec → `ScaleOut` by one, if every rule allows it;
7. a pool above its spec → `RequestDecommission` of its highest ordinal, if
   every rule allows it (a refused or failed intent waits for a new spec);
   but if that member never joined the ring (`NeverJoined`: no host ID, and
   every node in every other member's ring is another member), `ScaleIn`
   right away: it holds no data, and a member stuck before joining (a pod
   that cannot start) could never be decommissioned.

Nothing lowers `replicas` except step 3 and a member that never joined in
step 7, so no member is removed before it left the ring or was shown never
to be in it; nothing restarts a member except step 5, so no two members are
down because of the operator.
"""

from __future__ import annotations

from collections.abc import Callable

from navigator.operator import predicates as p
from navigator.operator.actions import (
    Action,
    CreatePool,
    Paused,
    RequestDecommission,
    RestartMember,
    ScaleIn,
    ScaleOut,
    Wait,
)
from navigator.operator.observed import Member, Observed, PoolState
from navigator.operator.rollout import next_restart

__all__ = [
    "Action",
    "CreatePool",
    "Paused",
    "RequestDecommission",
    "RestartMember",
    "ScaleIn",
    "ScaleOut",
    "Wait",
    "next_action",
]


Gate = Callable[[Observed], p.Block | None]
MemberGate = Callable[[Observed, Member], p.Block | None]

SCALE_OUT_GATES: tuple[Gate, ...] = (p.all_members_up_normal, p.one_bootstrap_at_a_time)
DECOMMISSION_GATES: tuple[MemberGate, ...] = (
    p.decommission_keeps_rf,
    p.remaining_nodes_can_hold_the_data,
)


def next_action(observed: Observed) -> Action | None:
    """The one next step towards the spec, or None when the cluster is settled."""
    if block := p.not_paused(observed):
        return Paused(block.reason)
    steps = (_create, _finish_removal, _running_decommission, next_restart, _scale_out, _scale_in)
    for step in steps:
        if (action := step(observed)) is not None:
            return action
    return None


def _create(observed: Observed) -> Action | None:
    missing = next((s for s in observed.pools if not s.exists), None)
    return CreatePool(missing.name) if missing else None


def _finish_removal(observed: Observed) -> Action | None:
    for state in observed.pools:
        gone = next((m for m in state.members if m.decommissioned), None)
        if gone is None:
            continue
        if gone.ordinal != state.replicas - 1:
            reason = f"{gone.name} left the ring but is not the highest ordinal of {state.name}"
            return Wait("HighestOrdinalFirst", reason, "ScaleIn", gone.name)
        if block := p.peers_forgot_member(observed, gone):
            return Wait(block.rule, block.reason, "ScaleIn", gone.name)
        return ScaleIn(state.name, gone.ordinal, gone.name)
    return None


def _running_decommission(observed: Observed) -> Action | None:
    leaving = next((m for m in observed.members() if m.leaving), None)
    if leaving is None:
        return None
    reason = f"waiting for the pilot of {leaving.name} to finish its decommission"
    return Wait(p.DECOMMISSION_COMPLETES, reason, "ScaleIn", leaving.name)


def _scale_out(observed: Observed) -> Action | None:
    state = next((s for s in observed.pools if s.replicas < s.pool.replicas), None)
    if state is None:
        return None
    for gate in SCALE_OUT_GATES:
        if block := gate(observed):
            return Wait(block.rule, block.reason, "ScaleOut", state.name)
    return ScaleOut(state.name, state.replicas + 1)


def _scale_in(observed: Observed) -> Action | None:
    state = next((s for s in observed.pools if s.replicas > s.pool.replicas), None)
    if state is None:
        return None
    victim = _highest(state)
    if victim is None:
        return Wait(p.ALL_MEMBERS_UP_NORMAL, f"members of {state.name} not observed", "ScaleIn")
    if p.never_joined(observed, victim) is None:
        return ScaleIn(state.name, victim.ordinal, victim.name, joined=False)
    if refusal := _refused(observed, victim):
        return refusal
    blocks = [p.all_members_up_normal(observed)]
    blocks += [gate(observed, victim) for gate in DECOMMISSION_GATES]
    if block := next((b for b in blocks if b is not None), None):
        return Wait(block.rule, block.reason, "ScaleIn", victim.name)
    return RequestDecommission(state.name, victim.name, observed.intent_id)


def _highest(state: PoolState) -> Member | None:
    return next((m for m in state.members if m.ordinal == state.replicas - 1), None)


def _refused(observed: Observed, victim: Member) -> Wait | None:
    """The pilot refused or failed this spec generation's intent: wait for a
    new spec rather than retrying the same thing forever."""
    outcome = victim.outcome(observed.intent_id)
    if outcome is None or outcome.phase not in ("Refused", "Failed"):
        return None
    rule = (
        outcome.message.split(":", 1)[0]
        if ":" in outcome.message
        else f"Decommission{outcome.phase}"
    )
    reason = f"the pilot of {victim.name}: {outcome.phase}: {outcome.message}"
    return Wait(
        rule if rule in p.RULES else f"Decommission{outcome.phase}", reason, "ScaleIn", victim.name
    )
