"""CassandraCluster.status from an Observed snapshot and the decided action.

Pure and deterministic: the same inputs give the same status, so the
reconcile writes only when something really changed. Times come from the
previous status (a condition keeps its lastTransitionTime while its status
holds; an operation keeps its startedAt) or from the injected clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from navigator.api.cassandra import CassandraClusterStatus, MemberState, MemberStatus
from navigator.api.common import BlockedBy, NodePoolStatus, Operation, RolloutStatus
from navigator.api.conditions import Condition, ConditionType
from navigator.operator.cassandra.actions import (
    ReleaseLostVolume,
    ReplicateSystemKeyspaces,
    RequestReplace,
    SetUpSuperuser,
)
from navigator.operator.cassandra.auth import AuthOutcome, auth_status
from navigator.operator.cassandra.decide import (
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
from navigator.operator.cassandra.observed import Member, Observed, PoolState
from navigator.operator.cassandra.predicates import HALT_RULES
from navigator.operator.cassandra.rollout import all_outdated, rollout_kind, rollout_progress

MEMBER_STATES = {"UN", "UJ", "UL", "UM", "DN", "DJ", "DL", "DM"}
Truth = Literal["True", "False", "Unknown"]


def rfc3339(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


MODE_STATES: dict[str, MemberState] = {"JOINING": "UJ", "LEAVING": "UL", "MOVING": "UM"}
STARTING_MODES = ("STARTING", "JOINING")


def member_status(
    member: Member, pool: PoolState | None = None, observed: Observed | None = None
) -> MemberStatus:
    """The member as it reports itself (its own entry in its ring view) while
    its facts are current; else as a serving peer sees it (its own last
    report is stale: its pod changed or its pilot went quiet)."""
    facts = member.facts
    me = next((p for p in facts.peers if p.host_id == facts.host_id), None) if facts else None
    state: MemberState = "Unknown"
    if me is not None and me.status in MEMBER_STATES:
        state = me.status  # type: ignore[assignment]
    if observed is not None and not member.current_facts:
        state = _seen_by_peers(observed, member)
    # A node's own ring entry says Normal until it has announced its state;
    # its operation mode is the first to know that it joins or leaves.
    moving = MODE_STATES.get(facts.operation_mode) if facts else None
    if moving is not None and state.startswith("U"):
        state = moving
    return MemberStatus(
        name=member.name,
        pool=member.pool,
        host_id=member.host_id,
        state=state,
        version=facts.release_version if facts else "",
        datacenter=me.datacenter if me else "",
        rack=me.rack if me else "",
        revision=member.pod.revision if member.pod else "",
        updated=bool(pool and member.pod and member.pod.revision == pool.revision),
    )


def with_down_since(
    members: list[MemberStatus], previous: list[MemberStatus], now: datetime
) -> list[MemberStatus]:
    """Each member seen down (D*) keeps the time it was first seen down, as the
    stored status recorded it; a member up again drops it."""
    before = {m.name: m.down_since for m in previous}
    return [
        m.model_copy(update={"down_since": before.get(m.name) or rfc3339(now)})
        if m.state.startswith("D")
        else m
        for m in members
    ]


def _seen_by_peers(observed: Observed, member: Member) -> MemberState:
    for other in observed.members():
        if other.name == member.name or not other.serving or other.facts is None:
            continue
        peer = next((p for p in other.facts.peers if p.host_id == member.host_id), None)
        if peer is not None and peer.status in MEMBER_STATES:
            return peer.status  # type: ignore[return-value]
    return "Unknown"


def operation(action: Action | None, previous: Operation | None, now: datetime) -> Operation | None:
    """The operation the action belongs to; startedAt survives while it lasts."""
    kind, target, blocked = _describe(action)
    if not kind:
        return None
    same = previous is not None and (previous.type, previous.target) == (kind, target)
    started = previous.started_at if same and previous else rfc3339(now)
    return Operation(type=kind, target=target, started_at=started, blocked_by=blocked)


def _describe(action: Action | None) -> tuple[str, str, BlockedBy | None]:
    match action:
        case CreatePool(pool=pool):
            return "Create", pool, None
        case ScaleOut(pool=pool):
            return "ScaleOut", pool, None
        case (
            RequestDecommission(pool=pool, pool_removal=True)
            | ScaleIn(pool=pool, pool_removal=True)
            | DeletePool(pool=pool)
        ):
            return "RemovePool", pool, None
        case RequestDecommission(member=member) | ScaleIn(member=member):
            return "ScaleIn", member, None
        case RestartMember(member=member, operation=kind):
            return kind, member, None
        case RequestReplace(member=member) | ReleaseLostVolume(member=member):
            return "Replace", member, None
        case ReplicateSystemKeyspaces(keyspaces=keyspaces):
            return "ReplicateSystemKeyspaces", ", ".join(keyspaces), None
        case SetUpSuperuser(secret=secret):
            return "SetUpAuth", secret, None
        case Wait(rule=rule, reason=reason, operation=kind, target=target):
            return kind or "Wait", target, BlockedBy(rule=rule, reason=reason)
    return "", "", None


def _condition(
    kind: ConditionType,
    status: Truth,
    reason: str,
    message: str,
    observed: Observed,
    previous: list[Condition],
    now: datetime,
) -> Condition:
    old = next((c for c in previous if c.type == kind.value), None)
    since = old.last_transition_time if old and old.status == status else rfc3339(now)
    return Condition(
        type=kind.value,
        status=status,
        observed_generation=observed.generation,
        last_transition_time=since,
        reason=reason,
        message=message,
    )


def _counts(observed: Observed) -> tuple[int, int, int]:
    """(ready members, existing members, desired members)."""
    ready = sum(s.ready_replicas for s in observed.pools)
    existing = sum(s.replicas for s in observed.pools)
    return ready, existing, sum(p.replicas for p in observed.spec.node_pools)


def _on_purpose(action: Action | None) -> str:
    """The member the operator itself has taken down and waits for (a
    restart in a rollout): its absence is progress, not damage."""
    if isinstance(action, RestartMember):
        return action.member
    if isinstance(action, Wait) and action.progress and action.operation in ROLLOUTS:
        return action.target
    return ""


ROLLOUTS = ("Upgrade", "ConfigRollout", "RollingRestart")


def _down(observed: Observed, expected: str = "") -> list[str]:
    """Members some peer sees down (but `expected`, down on purpose)."""
    down_ids = {
        p.host_id
        for m in observed.members()
        for p in (m.facts.peers if m.facts else [])
        if p.status.startswith("D")
    }
    return sorted(
        m.name
        for m in observed.members()
        if m.host_id and m.host_id in down_ids and m.name != expected
    )


def _for(name: str, since: str, now: datetime) -> str:
    """`name`, and for how long it has been down when that is known."""
    try:
        began = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
    except ValueError:
        began = None
    if began is None:
        return name
    minutes = max(0, int((now - began).total_seconds() // 60))
    return (
        f"{name} (down {minutes // 60} h {minutes % 60} min)"
        if minutes >= 60
        else (f"{name} (down {minutes} min)")
    )


def _failing(observed: Observed) -> list[str]:
    """Members whose Pod cannot run the database, each with the reason."""
    return [f"{m.name}: {m.problem}" for m in observed.members() if m.problem]


def _stalled(action: Action | None) -> tuple[str, str]:
    """The halt rule the action waits on, and why (('', '') if none)."""
    if isinstance(action, Wait) and action.rule in HALT_RULES:
        return action.rule, action.reason
    return "", ""


def _starting(observed: Observed) -> list[str]:
    """Members whose database is not serving yet, by their own account, and
    whose Pod is not stuck (those are failing, not starting); a member whose
    pilot went quiet (facts too old) is not starting either."""
    return sorted(
        m.name
        for m in observed.members()
        if not m.problem
        and not m.facts_stale
        and (m.facts is None or not m.current_facts or m.facts.operation_mode in STARTING_MODES)
    )


def conditions(
    observed: Observed,
    action: Action | None,
    previous: list[Condition],
    now: datetime,
    down_since: dict[str, str] | None = None,
) -> list[Condition]:
    ready, existing, _ = _counts(observed)
    kind, _, _ = _describe(action)
    down = [
        _for(name, (down_since or {}).get(name, ""), now)
        for name in _down(observed, _on_purpose(action))
    ]
    halt, stalled = _stalled(action)
    paused = isinstance(action, Paused)
    settled = action is None or paused

    def cond(k: ConditionType, status: Truth, reason: str, message: str) -> Condition:
        return _condition(k, status, reason, message, observed, previous, now)

    unready = existing - ready
    counted = f"{ready} of {existing} members ready"
    available = ready > 0 and unready <= 1
    # A member that is still starting or joining is progress, not damage.
    starting = _starting(observed)
    failing = _failing(observed)
    degraded = bool(down) or bool(failing) or bool(stalled) or (settled and unready > len(starting))
    if action is None and starting:
        settled = False
    return [
        cond(
            ConditionType.AVAILABLE,
            "True" if available else "False",
            "MembersReady" if available else "MembersNotReady",
            counted,
        ),
        cond(
            ConditionType.PROGRESSING,
            "False" if settled else "True",
            "Paused" if paused else ("Settled" if settled else kind or "MembersStarting"),
            _progress_message(action) or (f"starting: {', '.join(starting)}" if starting else ""),
        ),
        cond(
            ConditionType.DEGRADED,
            "True" if degraded else "False",
            _degraded_reason(down, failing, halt) if degraded else "AsExpected",
            _degraded_message(down, failing, counted, stalled) if degraded else "",
        ),
        cond(
            ConditionType.PAUSED,
            "True" if paused else "False",
            "SpecPaused" if paused else "NotPaused",
            "spec.paused is true: the operator changes nothing" if paused else "",
        ),
    ]


def _degraded_reason(down: list[str], failing: list[str], halt: str = "") -> str:
    if halt:
        return halt
    return "MembersDown" if down else ("MembersFailing" if failing else "MembersNotReady")


def _degraded_message(down: list[str], failing: list[str], counted: str, stalled: str = "") -> str:
    said = [stalled] if stalled else []
    said += [f"seen down: {', '.join(down)}"] if down else []
    said += failing
    return "; ".join(said) or counted


def _progress_message(action: Action | None) -> str:
    match action:
        case Wait(rule=rule, reason=reason):
            return f"blocked by {rule}: {reason}"
        case CreatePool(pool=pool):
            return f"creating the StatefulSet of pool {pool}"
        case ScaleOut(pool=pool, to=to):
            return f"adding member {to} of pool {pool}"
        case RequestDecommission(member=member):
            return f"decommissioning {member}"
        case ScaleIn(member=member, joined=joined):
            return f"removing {member}, which {'left' if joined else 'never joined'} the ring"
        case DeletePool(pool=pool):
            return f"deleting the StatefulSet of pool {pool}, which has no member left"
        case RestartMember(member=member, operation=kind):
            return f"{kind}: restarting {member}"
        case RequestReplace(member=member, address=address):
            return f"replacing {member}, whose data is gone, as the dead node {address}"
        case ReleaseLostVolume(member=member, cause=cause):
            return f"giving up the volume of {member}: {cause}"
        case ReplicateSystemKeyspaces() as replicate:
            return (
                f"replicating {', '.join(replicate.keyspaces)} to {replicate.replication}"
                " (NetworkTopologyStrategy)"
            )
        case SetUpSuperuser(secret=secret):
            return f"setting up the superuser of Secret {secret}"
    return ""


def phase(conds: list[Condition]) -> str:
    holds = {c.type for c in conds if c.status == "True"}
    for kind, word in (
        (ConditionType.PAUSED, "Paused"),
        (ConditionType.DEGRADED, "Degraded"),
        (ConditionType.PROGRESSING, "Progressing"),
        (ConditionType.AVAILABLE, "Ready"),
    ):
        if kind.value in holds:
            return word
    return "Unavailable"


def build_status(
    observed: Observed,
    action: Action | None,
    previous: CassandraClusterStatus | None,
    now: datetime,
    auth: AuthOutcome | None = None,
) -> CassandraClusterStatus:
    """The whole status; `previous` supplies the times that must not move;
    `auth`, what this pass's CQL did (status.auth)."""
    members = with_down_since(
        [member_status(m, s, observed) for s in observed.pools for m in s.members],
        previous.members if previous else [],
        now,
    )
    since = {m.name: m.down_since for m in members if m.down_since}
    conds = conditions(observed, action, previous.conditions if previous else [], now, since)
    ready, _, desired = _counts(observed)
    return CassandraClusterStatus(
        observed_generation=observed.generation,
        conditions=conds,
        phase=phase(conds),
        ready_members=f"{ready}/{desired}",
        node_pools=[
            NodePoolStatus(
                name=s.name,
                replicas=s.replicas,
                ready_replicas=s.ready_replicas,
                updated_replicas=s.updated_replicas,
                revision=s.revision,
            )
            for s in observed.pools
        ],
        members=members,
        operation=operation(action, previous.operation if previous else None, now),
        rollout=rollout_status(observed, action),
        auth=auth_status(observed.auth, auth or AuthOutcome(), previous.auth if previous else None)
        if observed.auth is not None
        else None,
    )


def rollout_status(observed: Observed, action: Action | None) -> RolloutStatus | None:
    """Members updated N of M and the current member, while any member is
    outdated or the last restarted one does not serve yet."""
    done, total = rollout_progress(observed)
    rolling = isinstance(action, RestartMember) or (
        isinstance(action, Wait) and action.operation in ROLLOUTS
    )
    if not all_outdated(observed) and not rolling:
        return None
    kind = action.operation if isinstance(action, RestartMember | Wait) else ""
    return RolloutStatus(
        type=kind or rollout_kind(observed),
        updated_members=done,
        members=total,
        current_member=action.member
        if isinstance(action, RestartMember)
        else (action.target if isinstance(action, Wait) else ""),
        stalled=bool(_stalled(action)[0]),
    )


def status_body(status: CassandraClusterStatus) -> dict[str, Any]:
    """The wire form, as written and as compared against what is stored."""
    return status.model_dump(by_alias=True, exclude_none=True, mode="json")


def needs_write(stored: dict[str, Any] | None, status: CassandraClusterStatus) -> bool:
    """Whether the stored status differs from the computed one."""
    if not stored:
        return True
    try:
        current = CassandraClusterStatus.model_validate(stored)
    except ValueError:
        return True
    return status_body(current) != status_body(status)
