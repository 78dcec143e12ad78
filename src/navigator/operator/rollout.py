"""The rollout engine: members restarted onto their pool's revision, one at a
time across the whole cluster, behind named gates.

A member is *outdated* when its pod's `navigator.dev/revision` differs from
the revision of the pod template the operator builds for its pool. The
StatefulSets use `OnDelete`, so nothing restarts until `next_restart` says
which pod to delete. It is pure and level-triggered: the member in flight is
recognised from the pods themselves (a pod terminating or absent, or one at
the new revision that does not serve yet), never from memory, so an
operator killed at any moment resumes where the world is.

Order (each step returns when it has something to say):

1. nothing outdated → None (the rollout is over), unless the status records
   a rollout and a member does not serve yet: the last member restarted →
   `Wait` (RestartedMemberServes);
2. a member's pod terminating or absent → `Wait` (RestartedMemberServes);
3. a member on the new revision that does not serve:
   its pod is stuck (image pull, crash loop, unschedulable) or it has not
   served for `STALL_AFTER` → `Wait` (RolloutStalled: the canary halts the
   rollout), else → `Wait` (RestartedMemberServes);
4. the next member: an outdated member that is already down first (a member
   that did not come back from a restart the user has since taken back:
   restarting it costs nothing), else racks in spec order, highest ordinal
   first within a rack;
5. the gates (`RESTART_GATES`); then `RestartMember`.

The database-specific parts are the gates and what "serving" means (the
member's pilot readiness and its peers' ring view); the order, the stall
bound and the in-flight detection are the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from navigator.operator import predicates as p
from navigator.operator.actions import RestartMember, Wait
from navigator.operator.core.observed import not_serving_reason
from navigator.operator.observed import Member, Observed, PoolState

# A restarted member that has not served again after this long halts the rollout.
STALL_AFTER = timedelta(minutes=10)

RollGate = Callable[[Observed, Member], p.Block | None]
RESTART_GATES: tuple[RollGate, ...] = (
    p.others_up_normal,
    lambda observed, _member: p.ring_stable(observed),
    lambda observed, _member: p.schema_agreement(observed),
    lambda observed, _member: p.hints_delivered(observed),
)

UPGRADE, CONFIG_ROLLOUT, ROLLING_RESTART = "Upgrade", "ConfigRollout", "RollingRestart"


def outdated(state: PoolState) -> list[Member]:
    """Members whose pod runs another revision than the pool's."""
    return [m for m in state.members if m.pod is not None and m.pod.revision != state.revision]


def all_outdated(observed: Observed) -> list[Member]:
    return [m for state in observed.pools if state.exists for m in outdated(state)]


def rollout_kind(observed: Observed) -> str:
    """What the rollout is for: an upgrade when a member runs another
    version, a config rollout when a member differs in something else than
    version and restart request, else a rolling restart."""
    stale = [(m, s) for s in observed.pools for m in outdated(s)]
    if any(m.pod and m.pod.version != observed.spec.version for m, _ in stale):
        return UPGRADE
    if any(m.pod and m.pod.restarted_at == s.restarted_at for m, s in stale):
        return CONFIG_ROLLOUT
    return ROLLING_RESTART


def next_restart(observed: Observed) -> RestartMember | Wait | None:
    """The one next step of the rollout, or None when every member is on its
    pool's revision."""
    stale = all_outdated(observed)
    if not stale:
        if not observed.rollout:
            return None
        if (waiting := _in_flight(observed, observed.rollout)) is not None:
            return waiting
        # The last member restarted serves: the rollout ends once the writes
        # it missed while down have been delivered to it.
        if block := p.hints_delivered(observed):
            return Wait(block.rule, block.reason, observed.rollout)
        return None
    kind = rollout_kind(observed)
    if (waiting := _in_flight(observed, kind)) is not None:
        return waiting
    target = _next_target(observed, stale)
    for gate in RESTART_GATES:
        if block := gate(observed, target):
            return Wait(block.rule, block.reason, kind, target.name)
    assert target.pod is not None  # outdated members have pods
    state = observed.pool(target.pool)
    return RestartMember(
        target.pool, target.name, target.pod.uid, kind, state.revision if state else ""
    )


def _in_flight(observed: Observed, kind: str) -> Wait | None:
    """A member being restarted, or restarted and not serving yet."""
    for state in observed.pools:
        for member in state.members:
            if member.pod is None or member.pod.terminating:
                why = "its pod is terminating" if member.pod else "its pod is being recreated"
                return Wait(p.RESTARTED_MEMBER_SERVES, f"{member.name}: {why}", kind, member.name)
    for state in observed.pools:
        for member in state.members:
            if member.pod is None or member.pod.revision != state.revision or member.serving:
                continue
            if stalled := _stalled(observed, member):
                return Wait(p.ROLLOUT_STALLED, stalled, kind, member.name)
            why = not_serving_reason(member)
            return Wait(
                p.RESTARTED_MEMBER_SERVES,
                f"{member.name} runs revision {state.revision} and does not serve yet: {why}",
                kind,
                member.name,
            )
    return None


def _stalled(observed: Observed, member: Member) -> str:
    """Why the restarted `member` counts as not coming back ('' if it may
    still come back)."""
    if member.problem:
        cause = member.problem
    else:
        started = member.pod.started_at if member.pod else None
        if started is None or observed.now - started < STALL_AFTER:
            return ""
        minutes = int((observed.now - started).total_seconds() // 60)
        cause = f"not serving {minutes} min after it started: {not_serving_reason(member)}"
    return (
        f"{member.name} did not come back on the new revision ({cause}); nothing else"
        " restarts until it does, or until the spec returns to the revision the other"
        " members run"
    )


def _next_target(observed: Observed, stale: list[Member]) -> Member:
    down = [m for m in stale if not m.serving]
    if down:
        return down[0]
    order = {s.name: i for i, s in enumerate(observed.pools)}
    return min(stale, key=lambda m: (order[m.pool], -m.ordinal))


def rollout_progress(observed: Observed) -> tuple[int, int]:
    """(members on their pool's revision and serving, members)."""
    members = [(m, s) for s in observed.pools for m in s.members]
    done = sum(
        1 for m, s in members if m.pod is not None and m.pod.revision == s.revision and m.serving
    )
    return done, len(members)
