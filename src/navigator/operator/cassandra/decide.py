"""What to do next: one pure function from an `Observed` snapshot to one small
action. The reconcile applies it and decides again from fresh observations.

Order (each step returns when it has something to say):

1. paused → `Paused`;
2. a pool without its StatefulSet → `CreatePool` (spec order);
3. a member whose decommission Succeeded → `ScaleIn` once its peers forgot it
   (a decommissioned node is never left running, whatever the spec says now);
4. a decommission still running → `Wait`;
4½. a member whose data is gone (new, empty volume; its old host ID still
   held as down by every peer) → `RequestReplace`, one at a time, or `Wait`
   (`navigator.operator.cassandra.replace`);
5. a member whose pod runs another revision than its pool's → the rollout
   (`navigator.operator.cassandra.rollout`): `RestartMember`, one at a time, or `Wait`;
5½. a system keyspace (system_auth & co.) replicated below the spec's size
   → `ReplicateSystemKeyspaces`, raised before members join
   (`navigator.operator.cassandra.auth`; lowered in steps 7 and 8, right before a
   decommission that every other rule allows);
6. a pool below its spec → `ScaleOut` by one, if every rule allows it (a
   pool added to a running cluster grows this way too);
7. a pool removed from the spec (`PoolState.removed`) → its members leave
   like a scale-in to 0 (step 8's gates and `NeverJoined` shortcut, highest
   ordinal first), behind `PoolRemovalKeepsReplication`: removing the whole
   pool must leave every keyspace its replication factor in the datacenter;
   once it has no member, `DeletePool`. Before other pools' scale-in, and
   after scale-out, so a rack replaced by another is added before the old
   one leaves;
8. a pool above its spec → `RequestDecommission` of its highest ordinal, if
   every rule allows it (a refused or failed intent waits for a new spec);
   but if that member never joined the ring (`NeverJoined`: no host ID, and
   every node in every other member's ring is another member), `ScaleIn`
   right away: it holds no data, and a member stuck before joining (a pod
   that cannot start) could never be decommissioned;
9. nothing else to do, auth on, and the superuser not verified for the
   Secret as it is now → `SetUpSuperuser` (`navigator.operator.cassandra.auth`), or
   `Wait` on a Secret that cannot be used. Last, so a superuser that
   cannot be set up (a wrong password in a named Secret) holds nothing up.

Nothing lowers `replicas` except step 3 and a member that never joined in
steps 7 and 8, so no member is removed before it left the ring or was shown never
to be in it; nothing restarts a member except step 5, so no two members are
down because of the operator.
"""

from __future__ import annotations

from collections.abc import Callable

from navigator.operator.cassandra import predicates as p
from navigator.operator.cassandra.actions import (
    Action,
    CreatePool,
    DeletePool,
    Paused,
    RequestDecommission,
    RestartMember,
    ScaleIn,
    ScaleOut,
    Wait,
)
from navigator.operator.cassandra.auth import lowered, superuser_step, system_keyspaces_step
from navigator.operator.cassandra.observed import Member, Observed, PoolState
from navigator.operator.cassandra.replace import next_replacement
from navigator.operator.cassandra.rollout import next_restart
from navigator.operator.core.gates import Block

__all__ = [
    "Action",
    "CreatePool",
    "DeletePool",
    "Paused",
    "RequestDecommission",
    "RestartMember",
    "ScaleIn",
    "ScaleOut",
    "Wait",
    "next_action",
]


REMOVE_POOL = "RemovePool"

Gate = Callable[[Observed], Block | None]
MemberGate = Callable[[Observed, Member], Block | None]

SCALE_OUT_GATES: tuple[Gate, ...] = (p.all_members_up_normal, p.one_bootstrap_at_a_time)
DECOMMISSION_GATES: tuple[MemberGate, ...] = (
    p.decommission_keeps_rf,
    p.remaining_nodes_can_hold_the_data,
)


def next_action(observed: Observed) -> Action | None:
    """The one next step towards the spec, or None when the cluster is settled."""
    if block := p.not_paused(observed):
        return Paused(block.reason)
    steps = (
        _create,
        _finish_removal,
        _running_decommission,
        next_replacement,
        next_restart,
        system_keyspaces_step,
        _scale_out,
        _remove_pool,
        _scale_in,
        superuser_step,
    )
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
        kind, target = _operation(state, gone)
        if gone.ordinal != state.replicas - 1:
            reason = f"{gone.name} left the ring but is not the highest ordinal of {state.name}"
            return Wait("HighestOrdinalFirst", reason, kind, target)
        if block := p.peers_forgot_member(observed, gone):
            return Wait(block.rule, block.reason, kind, target)
        return ScaleIn(state.name, gone.ordinal, gone.name, pool_removal=state.removed)
    return None


def _running_decommission(observed: Observed) -> Action | None:
    found = next(((s, m) for s in observed.pools for m in s.members if m.leaving), None)
    if found is None:
        return None
    state, leaving = found
    if block := p.decommission_not_stuck(observed, leaving):
        return Wait(block.rule, block.reason, *_operation(state, leaving))
    reason = f"waiting for the pilot of {leaving.name} to finish its decommission"
    return Wait(p.DECOMMISSION_COMPLETES, reason, *_operation(state, leaving))


def _operation(state: PoolState, member: Member) -> tuple[str, str]:
    """The operation a member's removal belongs to, and its target."""
    return (REMOVE_POOL, state.name) if state.removed else ("ScaleIn", member.name)


def _scale_out(observed: Observed) -> Action | None:
    state = next_to_grow(observed)
    if state is None:
        return None
    for gate in SCALE_OUT_GATES:
        if block := gate(observed):
            return Wait(block.rule, block.reason, "ScaleOut", state.name)
    return ScaleOut(state.name, state.replicas + 1)


def next_to_grow(observed: Observed) -> PoolState | None:
    """The pool below its spec with the fewest members (spec order breaks
    ties): racks grow round-robin. Cassandra's token allocation refuses to
    bootstrap a node while its datacenter has more than one rack but fewer
    than its replication factor, so a 1+2+2 cluster must reach three racks
    before any rack gets a second member. The first member of all is the
    first pool's, the cluster's founder (see `pilot.cassandra.start`)."""
    below = [s for s in observed.pools if s.replicas < s.pool.replicas]
    return min(below, key=lambda s: s.replicas, default=None)


def _remove_pool(observed: Observed) -> Action | None:
    """A pool no longer in the spec: its members leave one at a time, highest
    ordinal first, through the scale-in gates; then its StatefulSet goes."""
    state = next((s for s in observed.pools if s.removed), None)
    if state is None:
        return None
    if state.replicas == 0:
        return DeletePool(state.name)
    victim = _highest(state)
    if victim is None:
        reason = f"members of {state.name} not observed"
        return Wait(p.ALL_MEMBERS_UP_NORMAL, reason, REMOVE_POOL, state.name)
    if p.never_joined(observed, victim) is None:
        return ScaleIn(state.name, victim.ordinal, victim.name, joined=False, pool_removal=True)
    if refusal := _refused(observed, victim, REMOVE_POOL, state.name):
        return refusal
    blocks = [p.pool_removal_keeps_replication(observed, state), p.all_members_up_normal(observed)]
    blocks += [gate(observed, victim) for gate in DECOMMISSION_GATES]
    if block := next((b for b in blocks if b is not None), None):
        return Wait(block.rule, block.reason, REMOVE_POOL, state.name)
    if lower := lowered(observed, victim):
        return lower
    return RequestDecommission(state.name, victim.name, observed.intent_id, pool_removal=True)


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
    if lower := lowered(observed, victim):
        return lower
    return RequestDecommission(state.name, victim.name, observed.intent_id)


def _highest(state: PoolState) -> Member | None:
    return next((m for m in state.members if m.ordinal == state.replicas - 1), None)


def _refused(
    observed: Observed, victim: Member, kind: str = "ScaleIn", target: str = ""
) -> Wait | None:
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
        rule if rule in p.RULES else f"Decommission{outcome.phase}",
        reason,
        kind,
        target or victim.name,
    )
