"""The rollout engine: members restarted onto their pool's revision, one at a
time across the whole cluster, behind the engine's named gates.

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
   `Wait` (RestartedMemberServes); then the engine's `settled` gate;
2. a member's pod terminating or absent → `Wait` (RestartedMemberServes);
3. a member on the new revision that does not serve:
   its pod is stuck (image pull, crash loop, unschedulable) or it has not
   served for `STALL_AFTER` → `Wait` (RolloutStalled: the canary halts the
   rollout), else → `Wait` (RestartedMemberServes);
4. the next member: an outdated member that is already down first (a member
   that did not come back from a restart the user has since taken back:
   restarting it costs nothing), else racks in spec order, highest ordinal
   first within a rack;
5. the engine's gates; then `RestartMember`.

The order, the stall bound and the in-flight detection are the engine's
core; what may restart now and what "serving" means come from the database
(`Rollout`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from navigator.operator.core.actions import RestartMember, Wait
from navigator.operator.core.gates import RESTARTED_MEMBER_SERVES, ROLLOUT_STALLED, Block
from navigator.operator.core.observed import Member, Observed, PoolState

# A restarted member that has not served again after this long halts the rollout.
STALL_AFTER = timedelta(minutes=10)

UPGRADE, CONFIG_ROLLOUT, ROLLING_RESTART = "Upgrade", "ConfigRollout", "RollingRestart"

Obs = TypeVar("Obs", bound=Observed[Any, Any, Any])
M = TypeVar("M", bound=Member[Any])
W = TypeVar("W", bound=Wait)

# May this member restart now? None, or the named rule that blocks it.
Gate = Callable[[Obs, M], Block | None]


@dataclass(frozen=True)
class Rollout(Generic[Obs, M, W]):
    """What the rollout engine takes from a database."""

    # May this member restart now? Each gate blocks with a named rule.
    gates: tuple[Gate[Obs, M], ...]
    # Does this member serve (its restart is over)? And why not, in words.
    serves: Callable[[M], bool]
    not_serving: Callable[[M], str]
    # After the last restart, once it serves: may the rollout end?
    settled: Callable[[Obs], Block | None]
    # The engine's `Wait` (it knows which of its rules are progress).
    wait: Callable[[str, str, str, str], W]


def outdated(state: PoolState[Any, M]) -> list[M]:
    """Members whose pod runs another revision than the pool's."""
    return [m for m in state.members if m.pod is not None and m.pod.revision != state.revision]


def all_outdated(observed: Observed[Any, Any, M]) -> list[M]:
    return [m for state in observed.pools if state.exists for m in outdated(state)]


def rollout_kind(observed: Observed[Any, Any, Any]) -> str:
    """What the rollout is for: an upgrade when a member runs another
    version, a config rollout when a member differs in something else than
    version and restart request, else a rolling restart."""
    stale = [(m, s) for s in observed.pools for m in outdated(s)]
    if any(m.pod and m.pod.version != observed.spec.version for m, _ in stale):
        return UPGRADE
    if any(m.pod and m.pod.restarted_at == s.restarted_at for m, s in stale):
        return CONFIG_ROLLOUT
    return ROLLING_RESTART


def next_restart(observed: Obs, rules: Rollout[Obs, M, W]) -> RestartMember | W | None:
    """The one next step of the rollout, or None when every member is on its
    pool's revision."""
    stale = all_outdated(observed)
    if not stale:
        if not observed.rollout:
            return None
        if (waiting := _in_flight(observed, rules, observed.rollout)) is not None:
            return waiting
        # The last member restarted serves: the rollout ends once the engine
        # says it has settled (Cassandra: the writes it missed are delivered).
        if block := rules.settled(observed):
            return rules.wait(block.rule, block.reason, observed.rollout, "")
        return None
    kind = rollout_kind(observed)
    if (waiting := _in_flight(observed, rules, kind)) is not None:
        return waiting
    target = _next_target(observed, rules, stale)
    for gate in rules.gates:
        if block := gate(observed, target):
            return rules.wait(block.rule, block.reason, kind, target.name)
    assert target.pod is not None  # outdated members have pods
    state = observed.pool(target.pool)
    return RestartMember(
        target.pool, target.name, target.pod.uid, kind, state.revision if state else ""
    )


def _in_flight(observed: Obs, rules: Rollout[Obs, M, W], kind: str) -> W | None:
    """A member being restarted, or restarted and not serving yet."""
    for state in observed.pools:
        for member in state.members:
            if member.pod is None or member.pod.terminating:
                why = "its pod is terminating" if member.pod else "its pod is being recreated"
                waiting = f"{member.name}: {why}"
                return rules.wait(RESTARTED_MEMBER_SERVES, waiting, kind, member.name)
    for state in observed.pools:
        for member in state.members:
            if member.pod is None or member.pod.revision != state.revision:
                continue
            if rules.serves(member):
                continue
            if stalled := _stalled(observed, rules, member):
                return rules.wait(ROLLOUT_STALLED, stalled, kind, member.name)
            why = rules.not_serving(member)
            return rules.wait(
                RESTARTED_MEMBER_SERVES,
                f"{member.name} runs revision {state.revision} and does not serve yet: {why}",
                kind,
                member.name,
            )
    return None


def _stalled(observed: Obs, rules: Rollout[Obs, M, W], member: M) -> str:
    """Why the restarted `member` counts as not coming back ('' if it may
    still come back)."""
    if member.problem:
        cause = member.problem
    else:
        started = member.pod.started_at if member.pod else None
        if started is None or observed.now - started < STALL_AFTER:
            return ""
        minutes = int((observed.now - started).total_seconds() // 60)
        cause = f"not serving {minutes} min after it started: {rules.not_serving(member)}"
    return (
        f"{member.name} did not come back on the new revision ({cause}); nothing else"
        " restarts until it does, or until the spec returns to the revision the other"
        " members run"
    )


def _next_target(observed: Obs, rules: Rollout[Obs, M, W], stale: list[M]) -> M:
    down = [m for m in stale if not rules.serves(m)]
    if down:
        return down[0]
    order = {s.name: i for i, s in enumerate(observed.pools)}
    return min(stale, key=lambda m: (order[m.pool], -m.ordinal))


def rollout_progress(observed: Obs, rules: Rollout[Obs, M, W]) -> tuple[int, int]:
    """(members on their pool's revision and serving, members)."""
    members = [(m, s) for s in observed.pools for m in s.members]
    done = sum(
        1
        for m, s in members
        if m.pod is not None and m.pod.revision == s.revision and rules.serves(m)
    )
    return done, len(members)
