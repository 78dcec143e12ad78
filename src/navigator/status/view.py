"""What `navigator status` shows, built from API objects without any I/O.

`cluster_view(cluster, pilots)` joins a CassandraCluster (spec and the status
the operator writes) with its members' Pilots (the facts each pilot reports)
into small frozen dataclasses that the renderers print. The operator's status
is preferred; a Pilot fills what it lacks (load, operation mode, readiness,
revision) and says what is happening on the member itself (a decommission
intent and its outcome). A rollout (members restarted one at a time onto
their pool's revision) is read from `status.rollout` and `status.operation`.

Objects are read as plain dicts, leniently (the operation and the spec pools
through the API types, so defaults are the API's): a status tool must still show
what it can of an object written by a newer or older operator.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from navigator.api.cassandra import CassandraNodePool
from navigator.api.common import Operation
from navigator.operator.cassandra.builders.meta import CLUSTER_LABEL, POOL_LABEL
from navigator.operator.cassandra.builders.pilots import DECOMMISSION
from navigator.operator.cassandra.rollout import CONFIG_ROLLOUT, ROLLING_RESTART, UPGRADE
from navigator.operator.core.gates import RESTARTED_MEMBER_SERVES, ROLLOUT_STALLED

SCALE_IN = "ScaleIn"
ROLLOUTS = (UPGRADE, CONFIG_ROLLOUT, ROLLING_RESTART)
RESTARTING, RESTART_STALLED, NEXT_TO_RESTART = "restarting", "restart stalled", "next to restart"
UNKNOWN_STATE = "?"

# What a node's operation mode says about the second letter of its state.
MODE_LETTER = {"NORMAL": "N", "JOINING": "J", "LEAVING": "L", "MOVING": "M"}

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class ConditionView:
    type: str
    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class PoolView:
    """One node pool: what the spec wants and what its StatefulSet has."""

    name: str
    datacenter: str
    rack: str
    desired: int
    replicas: int
    ready: int
    updated: int
    revision: str


@dataclass(frozen=True)
class Decommission:
    """A decommission the operator asked of a member, and how far it got.

    `phase` is the pilot's outcome (Running, Succeeded, Failed, Refused), or
    Pending while the pilot has not picked the intent up yet."""

    intent: str
    phase: str
    message: str = ""
    attempts: int = 0


@dataclass(frozen=True)
class MemberView:
    """One member (pod) with its Cassandra state (UN, UJ, UL, DN...)."""

    name: str
    pool: str
    datacenter: str
    rack: str
    state: str
    mode: str
    load: str
    host_id: str
    version: str
    ready: bool | None
    activity: str
    decommission: Decommission | None
    last_error: str
    revision: str
    updated: bool | None

    @property
    def leaving(self) -> bool:
        """Whether the member is being removed from the ring."""
        return self.activity in ("decommissioning", "decommissioned")

    @property
    def rolling(self) -> bool:
        """Whether the member is the one a rollout restarts (or waits for)."""
        return self.activity in (RESTARTING, RESTART_STALLED, NEXT_TO_RESTART)


@dataclass(frozen=True)
class RolloutView:
    """A rollout in progress: `updated` of `members` run the new revision and
    serve again; `current` is the member being restarted or the next to go."""

    type: str
    updated: int
    members: int
    current: str
    stalled: bool


@dataclass(frozen=True)
class ClusterView:
    name: str
    namespace: str
    version: str
    phase: str
    ready_members: str
    paused: bool
    generation: int | None
    observed_generation: int | None
    conditions: tuple[ConditionView, ...]
    operation: Operation | None
    pools: tuple[PoolView, ...]
    members: tuple[MemberView, ...]
    rollout: RolloutView | None

    @property
    def desired_members(self) -> int:
        return sum(p.desired for p in self.pools)


def _map(value: Any) -> Obj:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Obj]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _name(obj: Obj) -> str:
    return _str(_map(obj.get("metadata")).get("name"))


def operation_view(status: Obj) -> Operation | None:
    """The operation in progress, as the API types it; None when there is
    none or it does not parse (written by an operator of another version)."""
    op = _map(status.get("operation"))
    if not op:
        return None
    try:
        return Operation.model_validate(op)
    except ValidationError:
        return None


def rollout_view(status: Obj) -> RolloutView | None:
    """The rollout in progress, None when there is none. Read field by field
    (not through the API type) so that a field an operator of another version
    adds or mistypes leaves that field empty, not the whole rollout hidden."""
    rollout = _map(status.get("rollout"))
    if not rollout:
        return None
    return RolloutView(
        type=_str(rollout.get("type")),
        updated=_int(rollout.get("updatedMembers")),
        members=_int(rollout.get("members")),
        current=_str(rollout.get("currentMember")),
        stalled=rollout.get("stalled") is True,
    )


def _spec_pool(raw: Obj) -> CassandraNodePool | None:
    try:
        return CassandraNodePool.model_validate(raw)
    except ValidationError:
        return None


def pool_views(spec: Obj, status: Obj) -> tuple[PoolView, ...]:
    """Spec pools in spec order, then pools only the status still knows
    (being removed), which no longer want any member."""
    observed = {_str(p.get("name")): p for p in _list(status.get("nodePools"))}
    views = []
    for pool in _list(spec.get("nodePools")):
        name = _str(pool.get("name"))
        seen = observed.pop(name, {})
        typed = _spec_pool(pool)
        views.append(
            PoolView(
                name=name,
                datacenter=typed.datacenter if typed else "",
                rack=typed.effective_rack if typed else "",
                desired=_int(pool.get("replicas")),
                replicas=_int(seen.get("replicas")),
                ready=_int(seen.get("readyReplicas")),
                updated=_int(seen.get("updatedReplicas")),
                revision=_str(seen.get("revision")),
            )
        )
    for name, seen in observed.items():
        views.append(
            PoolView(
                name=name,
                datacenter="",
                rack="",
                desired=0,
                replicas=_int(seen.get("replicas")),
                ready=_int(seen.get("readyReplicas")),
                updated=_int(seen.get("updatedReplicas")),
                revision=_str(seen.get("revision")),
            )
        )
    return tuple(views)


def _facts(pilot: Obj) -> Obj:
    return _map(_map(pilot.get("status")).get("facts"))


def _self_peer(facts: Obj) -> Obj:
    """The node's own entry in its ring view."""
    host_id = _str(facts.get("hostID"))
    if not host_id:
        return {}
    return next((p for p in _list(facts.get("peers")) if p.get("hostID") == host_id), {})


def _peer_seen_by_others(host_id: str, pilots: Iterable[Obj]) -> Obj:
    """The first entry another node's ring view has for `host_id`; when the
    member cannot report (its database is down), its peers still can."""
    if not host_id:
        return {}
    for pilot in pilots:
        for peer in _list(_facts(pilot).get("peers")):
            if peer.get("hostID") == host_id:
                return peer
    return {}


def decommission_of(pilot: Obj) -> Decommission | None:
    """The latest Decommission intent on a Pilot and its outcome."""
    intents = [
        i for i in _list(_map(pilot.get("spec")).get("intents")) if i.get("action") == DECOMMISSION
    ]
    if not intents:
        return None
    intent_id = _str(intents[-1].get("id"))
    outcomes = _list(_map(pilot.get("status")).get("intents"))
    outcome = next((o for o in outcomes if o.get("id") == intent_id), None)
    if outcome is None:
        return Decommission(intent=intent_id, phase="Pending")
    return Decommission(
        intent=intent_id,
        phase=_str(outcome.get("phase")) or "Pending",
        message=_str(outcome.get("message")),
        attempts=_int(outcome.get("attempts")),
    )


def restart_activity(name: str, operation: Operation | None) -> str:
    """Where the member stands in a rollout, when it is the one the rollout
    acts on: restarting (going down or not serving again yet), stalled (it
    did not come back) or next to restart (waiting for a gate)."""
    if operation is None or operation.type not in ROLLOUTS or operation.target != name:
        return ""
    rule = operation.blocked_by.rule if operation.blocked_by else ""
    if rule == ROLLOUT_STALLED:
        return RESTART_STALLED
    if rule in ("", RESTARTED_MEMBER_SERVES):
        return RESTARTING
    return NEXT_TO_RESTART


def activity(
    name: str, mode: str, decommission: Decommission | None, operation: Operation | None
) -> str:
    """A word on what is happening to the member, when something is."""
    targeted = operation is not None and operation.type == SCALE_IN and operation.target == name
    if mode == "DECOMMISSIONED" or (decommission and decommission.phase == "Succeeded"):
        return "decommissioned"
    if decommission and decommission.phase in ("Failed", "Refused"):
        return f"decommission {decommission.phase.lower()}"
    if decommission or targeted or mode == "LEAVING":
        return "decommissioning"
    if restarting := restart_activity(name, operation):
        return restarting
    if mode == "JOINING":
        return "joining"
    return ""


def member_state(reported: str, own: Obj, others: Obj, mode: str) -> str:
    """The two-letter state: the operator's status first, else the member's
    own ring view, else a peer's. A running node's operation mode is fresher
    than either and corrects the second letter (a node that has started to
    leave shows UL even if the last status still said UN)."""
    state = reported if reported and reported != "Unknown" else ""
    state = state or _str(own.get("status")) or _str(others.get("status")) or UNKNOWN_STATE
    letter = MODE_LETTER.get(mode)
    if letter and len(state) == 2 and state[0] == "U":
        state = state[0] + letter
    return state


def member_view(
    name: str,
    reported: Obj,
    pilot: Obj,
    pilots: Sequence[Obj],
    pool: PoolView | None,
    operation: Operation | None,
) -> MemberView:
    facts, pilot_status = _facts(pilot), _map(pilot.get("status"))
    own = _self_peer(facts)
    host_id = _str(reported.get("hostID")) or _str(facts.get("hostID"))
    others = _peer_seen_by_others(host_id, [p for p in pilots if _name(p) != name])
    mode = _str(facts.get("operationMode"))
    decommission = decommission_of(pilot)
    ready = pilot_status.get("ready")
    pool_label = _str(_map(_map(pilot.get("metadata")).get("labels")).get(POOL_LABEL))
    revision = _str(reported.get("revision")) or _str(pilot_status.get("revision"))
    return MemberView(
        name=name,
        pool=_str(reported.get("pool")) or pool_label or (pool.name if pool else ""),
        datacenter=_first(reported, own, others, key="datacenter")
        or (pool.datacenter if pool else ""),
        rack=_first(reported, own, others, key="rack") or (pool.rack if pool else ""),
        state=member_state(_str(reported.get("state")), own, others, mode),
        mode=mode,
        load=_str(own.get("load")) or _str(others.get("load")),
        host_id=host_id,
        version=_str(reported.get("version")) or _str(facts.get("releaseVersion")),
        ready=ready if isinstance(ready, bool) else None,
        activity=activity(name, mode, decommission, operation),
        decommission=decommission,
        last_error=_str(pilot_status.get("lastError")),
        revision=revision,
        updated=updated_of(reported, revision, pool),
    )


def updated_of(reported: Obj, revision: str, pool: PoolView | None) -> bool | None:
    """Whether the member runs its pool's revision: the operator's word, else
    its revision against the pool's. None when the pool has no revision: the
    status comes from an operator without rollouts (the API server still
    defaults `updated` to false, which would then say nothing true)."""
    if pool is None or not pool.revision:
        return None
    said = reported.get("updated")
    if isinstance(said, bool):
        return said
    return revision == pool.revision if revision else None


def _first(*sources: Obj, key: str) -> str:
    return next((v for s in sources if (v := _str(s.get(key)))), "")


_ORDINAL = re.compile(r"-(\d+)$")


def _pool_of_name(cluster: str, name: str, pools: Sequence[PoolView]) -> PoolView | None:
    """The pool a member belongs to by its name, `<cluster>-<pool>-<ordinal>`."""
    return next((p for p in pools if _ORDINAL.sub("", name) == f"{cluster}-{p.name}"), None)


def _order(pools: Sequence[PoolView], member: MemberView) -> tuple[int, str, int, str]:
    """Pools in spec order, members by ordinal (so rack1-10 follows rack1-9)."""
    index = next((i for i, p in enumerate(pools) if p.name == member.pool), len(pools))
    match = _ORDINAL.search(member.name)
    return index, member.pool, int(match.group(1)) if match else -1, member.name


def cluster_view(cluster: Obj, pilots: Sequence[Obj]) -> ClusterView:
    """The whole view of one cluster. `pilots` are the cluster's Pilots (any
    order); a member is anything the status or a Pilot names."""
    meta, spec, status = (_map(cluster.get(k)) for k in ("metadata", "spec", "status"))
    name = _str(meta.get("name"))
    pools = pool_views(spec, status)
    operation = operation_view(status)
    reported = {n: m for m in _list(status.get("members")) if (n := _str(m.get("name")))}
    by_name = {n: p for p in pilots if (n := _name(p))}
    names = list(reported) + [n for n in by_name if n not in reported]
    members = []
    for member in names:
        row = reported.get(member, {})
        pool = next((p for p in pools if p.name == row.get("pool")), None)
        pool = pool or _pool_of_name(name, member, pools)
        members.append(member_view(member, row, by_name.get(member, {}), pilots, pool, operation))
    members.sort(key=lambda m: _order(pools, m))
    return ClusterView(
        name=name,
        namespace=_str(meta.get("namespace")),
        version=_str(spec.get("version")),
        phase=_str(status.get("phase")),
        ready_members=_str(status.get("readyMembers")),
        paused=spec.get("paused") is True,
        generation=_opt_int(meta.get("generation")),
        observed_generation=_opt_int(status.get("observedGeneration")),
        conditions=tuple(
            ConditionView(
                type=_str(c.get("type")),
                status=_str(c.get("status")),
                reason=_str(c.get("reason")),
                message=_str(c.get("message")),
            )
            for c in _list(status.get("conditions"))
        ),
        operation=operation,
        pools=pools,
        members=tuple(members),
        rollout=rollout_view(status),
    )


def pilots_of(cluster: Obj, pilots: Iterable[Obj]) -> list[Obj]:
    """The Pilots of one cluster among many (same namespace, its label)."""
    meta = _map(cluster.get("metadata"))
    name, namespace = meta.get("name"), meta.get("namespace")
    return [p for p in pilots if _belongs(p, name, namespace)]


def _belongs(pilot: Obj, cluster: Any, namespace: Any) -> bool:
    meta = _map(pilot.get("metadata"))
    owner = _map(meta.get("labels")).get(CLUSTER_LABEL) or _map(pilot.get("spec")).get("cluster")
    return bool(meta.get("namespace") == namespace and owner == cluster)
