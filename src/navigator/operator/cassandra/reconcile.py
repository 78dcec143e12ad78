"""One reconcile of one CassandraCluster: the core's phases
(`navigator.operator.core.reconciler`: gather, observe, decide, converge, act,
record) with Cassandra's contents:

1. gather: the cluster, its StatefulSets, Pilots and Pods, the superuser
   Secret and the volumes lost with their node;
2. decide: `next_action(observed)` (pure);
3. converge: grow volumes, create the superuser Secret and the certificates,
   apply the steady objects (RBAC, Services, PDB, StatefulSets at their
   current sizes, Pilots of current members), delete Pilots of removed
   members, then carry out the one action (Kubernetes writes, or CQL);
4. record: Events for actions started, finished or blocked, and the status,
   written only when it differs from what is stored.

Every write goes through `Kube`, which skips applies that would change nothing.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from navigator.api.cassandra import CassandraCluster, CassandraClusterStatus, CassandraNodePool
from navigator.api.pilot import PilotStatus
from navigator.cassandra.profile import DEFAULT, Profile
from navigator.operator.cassandra import cql, storage
from navigator.operator.cassandra.actions import (
    ReleaseLostVolume,
    ReplicateSystemKeyspaces,
    RequestReplace,
    SetUpSuperuser,
)
from navigator.operator.cassandra.auth import (
    OPERATOR_ROLE,
    PASSWORD_KEY,
    USERNAME_KEY,
    AuthOutcome,
    AuthView,
    build_superuser_secret,
    generates_secret,
    operator_password,
    secret_name,
    secret_view,
)
from navigator.operator.cassandra.builders import (
    build_cluster_objects,
    build_pilot,
    build_statefulset,
)
from navigator.operator.cassandra.builders.meta import (
    CLUSTER_LABEL,
    DECOMMISSIONED_LABEL,
    member_name,
    name_of,
    namespace_of,
    owner_reference,
    statefulset_name,
    volume_name,
)
from navigator.operator.cassandra.builders.pilots import (
    DECOMMISSION,
    REPLACE,
)
from navigator.operator.cassandra.builders.statefulset import pool_revision
from navigator.operator.cassandra.certificates import Certificates
from navigator.operator.cassandra.decide import (
    Action,
    CreatePool,
    DeletePool,
    RequestDecommission,
    RestartMember,
    ScaleIn,
    ScaleOut,
    Wait,
    next_action,
)
from navigator.operator.cassandra.observed import Member, Observed, PodView, PoolState
from navigator.operator.cassandra.predicates import HALT_RULES, PROGRESS_RULES
from navigator.operator.cassandra.removed import removed_pools
from navigator.operator.cassandra.status import build_status, needs_write, status_body
from navigator.operator.cassandra.tls import TlsOutcome, tls_status
from navigator.operator.core import reconciler as core
from navigator.operator.core.gates import Block
from navigator.operator.core.intents import (
    pending_intents,
    with_new_intent,
    with_replace,
)
from navigator.operator.core.kube import Kube
from navigator.operator.core.lostvolume import lost_with, pinned_nodes
from navigator.operator.core.objects import Manifest
from navigator.operator.core.pods import pod_problem
from navigator.operator.core.reconciler import AFTER_ACTION, AFTER_WAIT
from navigator.operator.core.revision import (
    REPLACE_ANNOTATION,
    RESTARTED_AT_ANNOTATION,
    REVISION_ANNOTATION,
    VERSION_ANNOTATION,
)

log = logging.getLogger(__name__)

# An orphaning delete is quick (the garbage collector drops the owner references).
RECREATE_POLLS, RECREATE_POLL_SECONDS = 150, 0.2


@dataclass(frozen=True)
class World:
    """What one reconcile read: the cluster and its children, by name."""

    raw: dict[str, Any]
    cluster: CassandraCluster
    statefulsets: dict[str, dict[str, Any]]
    pilots: dict[str, dict[str, Any]]
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The operator's Cassandra profile: part of every pool's pod template.
    profile: Profile = DEFAULT
    # Member → the gone node its volume was pinned to (`lostvolume`).
    lost_volumes: dict[str, str] = field(default_factory=dict)
    # The superuser Secret (None: absent, or auth off). Never logged.
    secret: dict[str, Any] | None = field(default=None, repr=False)
    # TLS as this pass found it (`Certificates.ensure`), once it ran.
    tls: TlsOutcome = field(default_factory=TlsOutcome)


def _pilot_status(raw: dict[str, Any] | None) -> PilotStatus | None:
    status = (raw or {}).get("status")
    if not status:
        return None
    try:
        return PilotStatus.model_validate(status)
    except ValidationError:
        return None


def _intents(raw: dict[str, Any] | None) -> tuple[str, ...]:
    intents = ((raw or {}).get("spec") or {}).get("intents") or []
    return tuple(str(i["id"]) for i in intents if i.get("action") == DECOMMISSION)


def _replaces(raw: dict[str, Any] | None) -> tuple[dict[str, str], ...]:
    """The Replace intents in a Pilot's spec, as written."""
    intents = ((raw or {}).get("spec") or {}).get("intents") or []
    return tuple(
        {
            "id": str(i["id"]),
            "address": str(i.get("address", "")),
            "hostID": str(i.get("hostID", "")),
        }
        for i in intents
        if i.get("action") == REPLACE
    )


def _time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def recorded_host_ids(raw: dict[str, Any]) -> dict[str, str]:
    """Member name → host ID, as the cluster's stored status lists them."""
    stored = _stored_status(raw)
    return {m.name: m.host_id for m in stored.members if m.host_id} if stored else {}


def facts_age(pilot: PilotStatus | None, now: datetime) -> float | None:
    """Seconds since the pilot observed what its status says (None: it does not
    say, a pilot from before `observedAt`). A clock ahead of ours reads as 0."""
    observed_at = _time(pilot.observed_at) if pilot else None
    if observed_at is None:
        return None
    return max(0.0, (now - observed_at).total_seconds())


def pod_view(pod: dict[str, Any] | None) -> PodView | None:
    """The projection of a Pod the decisions use."""
    if pod is None:
        return None
    meta = pod.get("metadata") or {}
    notes = meta.get("annotations") or {}
    conditions = (pod.get("status") or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return PodView(
        uid=str(meta.get("uid") or ""),
        revision=str(notes.get(REVISION_ANNOTATION, "")),
        version=str(notes.get(VERSION_ANNOTATION, "")),
        restarted_at=str(notes.get(RESTARTED_AT_ANNOTATION, "")),
        replace_requested=notes.get(REPLACE_ANNOTATION) == "true",
        ready=ready,
        terminating=bool(meta.get("deletionTimestamp")),
        started_at=_time(meta.get("creationTimestamp")),
    )


def _pool_state(
    world: World, pool: CassandraNodePool, now: datetime, recorded: dict[str, str]
) -> PoolState:
    sts = world.statefulsets.get(statefulset_name(world.cluster, pool))
    revision = pool_revision(world.cluster, pool, world.profile)
    notes = world.cluster.metadata.get("annotations") or {}
    restarted_at = str(notes.get(RESTARTED_AT_ANNOTATION, ""))
    if sts is None:
        return PoolState(pool=pool, revision=revision, restarted_at=restarted_at)
    replicas = int((sts.get("spec") or {}).get("replicas") or 0)
    status = sts.get("status") or {}
    members = []
    for ordinal in range(replicas):
        name = member_name(world.cluster, pool, ordinal)
        raw = world.pilots.get(name)
        pod = world.pods.get(name)
        pilot = _pilot_status(raw)
        members.append(
            Member(
                name=name,
                pool=pool.name,
                datacenter=pool.datacenter,
                ordinal=ordinal,
                pilot=pilot,
                intents=_intents(raw),
                problem=pod_problem(pod) if pod is not None else None,
                pod=pod_view(pod),
                facts_age_s=facts_age(pilot, now),
                recorded_host_id=recorded.get(name, ""),
                replaces=tuple(r["id"] for r in _replaces(raw)),
                volume_lost_with=world.lost_volumes.get(name, ""),
            )
        )
    return PoolState(
        pool=pool,
        exists=True,
        replicas=replicas,
        ready_replicas=int(status.get("readyReplicas") or 0),
        updated_replicas=int(status.get("updatedReplicas") or 0),
        members=tuple(members),
        revision=revision,
        restarted_at=restarted_at,
    )


def observe(world: World, now: datetime) -> Observed:
    """The frozen snapshot `decide` and `status` work from."""
    recorded = recorded_host_ids(world.raw)
    return Observed(
        cluster=name_of(world.cluster),
        spec=world.cluster.spec,
        generation=int(world.raw["metadata"].get("generation") or 0),
        pools=(
            *(_pool_state(world, p, now, recorded) for p in world.cluster.spec.node_pools),
            *_removed_states(world, now, recorded),
        ),
        now=now,
        rollout=_recorded_rollout(world.raw),
        auth=_auth_view(world),
    )


def _auth_view(world: World) -> AuthView:
    auth = world.cluster.spec.auth
    if not auth.enabled:
        return AuthView(enabled=False)
    stored = ((world.raw.get("status") or {}).get("auth") or {}).get("verifiedSecret")
    return AuthView(
        enabled=True,
        secret=secret_view(world.secret, secret_name(world.cluster)),
        verified=str(stored or ""),
    )


def _running(world: World) -> dict[str, int]:
    """StatefulSet name → its replicas, as read."""
    return {
        name: int((sts.get("spec") or {}).get("replicas") or 0)
        for name, sts in world.statefulsets.items()
    }


def credentials(secret: dict[str, Any] | None) -> cql.Credentials | None:
    """The superuser's credentials from its Secret (None: not usable)."""
    data = (secret or {}).get("data") or {}
    try:
        username = base64.b64decode(data[USERNAME_KEY]).decode()
        password = base64.b64decode(data[PASSWORD_KEY]).decode()
    except (KeyError, ValueError):
        return None
    return cql.Credentials(username, password) if username and password else None


def _removed_states(world: World, now: datetime, recorded: dict[str, str]) -> list[PoolState]:
    """The StatefulSets whose pool left the spec, observed like any pool; their
    revision is their own template's (nothing rolls a pool that is leaving)."""
    found = removed_pools(name_of(world.cluster), world.cluster.spec.node_pools, world.statefulsets)
    return [
        replace(_pool_state(world, pool, now, recorded), removed=True, revision=revision)
        for pool, revision in found
    ]


def _recorded_rollout(raw: dict[str, Any]) -> str:
    rollout = (raw.get("status") or {}).get("rollout") or {}
    return str(rollout.get("type") or "") if isinstance(rollout, dict) else ""


class Reconciler(core.Reconciler[World, Observed, Action, AuthOutcome]):
    """Reconciles CassandraClusters through one `Kube`, building members for
    the operator's Cassandra `profile`: the core's phases
    (`navigator.operator.core.reconciler`) over Cassandra's gather, snapshot,
    decision, objects and actions; `clock` is injectable for tests."""

    def __init__(
        self,
        kube: Kube,
        *,
        clock: Callable[[], datetime] | None = None,
        profile: Profile = DEFAULT,
    ) -> None:
        super().__init__(kube, clock=clock)
        self.profile = profile
        self.certificates = Certificates(kube, self.clock)

    async def gather(self, namespace: str, name: str) -> World | None:
        raw = await self.kube.get("CassandraCluster", name, namespace)
        if raw is None or raw["metadata"].get("deletionTimestamp"):
            return None
        cluster = CassandraCluster.model_validate({**raw, "status": None})
        selector = {CLUSTER_LABEL: name}
        # Pods are read, not watched: a Pod that cannot run its database
        # explains a member that never reports; its Pilot or the resync
        # brings us back.
        sets, pilots, pods = await asyncio.gather(
            self.kube.list("StatefulSet", namespace, selector),
            self.kube.list("Pilot", namespace, selector),
            self.kube.list("Pod", namespace, selector),
        )
        return World(
            raw=raw,
            cluster=cluster,
            statefulsets={s["metadata"]["name"]: s for s in sets},
            pilots={p["metadata"]["name"]: p for p in pilots},
            pods={p["metadata"]["name"]: p for p in pods},
            profile=self.profile,
            lost_volumes=await self._lost_volumes(namespace, pods),
            secret=await self.kube.get("Secret", secret_name(cluster), namespace)
            if cluster.spec.auth.enabled
            else None,
        )

    async def _lost_volumes(self, namespace: str, pods: list[dict[str, Any]]) -> dict[str, str]:
        """For members whose pod cannot be scheduled (only those: nothing is
        read at rest), the gone node their volume was pinned to, if any."""
        out = {}
        for pod in pods:
            problem = pod_problem(pod) or ""
            if not problem.startswith("unschedulable"):
                continue
            member = pod["metadata"]["name"]
            claim = await self.kube.get("PersistentVolumeClaim", volume_name(member), namespace)
            pv_name = ((claim or {}).get("spec") or {}).get("volumeName")
            pv = await self.kube.get("PersistentVolume", pv_name, "") if pv_name else None
            if pv is None:
                continue
            nodes = pinned_nodes(pv)
            existing = {n: await self.kube.get("Node", n, "") is not None for n in nodes}
            if gone := lost_with(pv, existing):
                out[member] = gone
        return out

    def observe(self, world: World, now: datetime) -> Observed:
        return observe(world, now)

    def decide(self, observed: Observed) -> Action | None:
        return next_action(observed)

    def paused(self, world: World) -> bool:
        return world.cluster.spec.paused

    async def prepare(self, world: World) -> core.Prepared[World, Action]:
        """Volumes grown first (a StatefulSet re-created ends the pass), the
        generated Secret, then certificates: a member the spec asks for has
        its certificate in its pool's Secret before its pod can start."""
        grown = await self.expand_storage(world)
        if grown.decide_again:
            return core.Prepared(world, decide_again=True)
        await self.ensure_secret(world)
        found = await self.certificates.ensure(world.raw, world.cluster, _running(world))
        return core.Prepared(replace(world, tls=found), wait=grown.wait)

    def build_objects(self, world: World) -> list[Manifest]:
        return build_cluster_objects(world.cluster)

    async def converge_members(self, world: World, observed: Observed) -> None:
        """StatefulSets at their current sizes, Pilots of current members;
        Pilots of removed members go."""
        for state in observed.pools:
            if state.exists and not state.removed:  # a removed pool's is left as it is
                await self._apply_statefulset(world, state.pool, state.replicas)
            for member in state.members:
                await self._apply_pilot(world, state.pool, member.name, member.intents)
        current = {m.name for m in observed.members()}
        for pilot in sorted(set(world.pilots) - current):
            await self.kube.delete("Pilot", pilot, namespace_of(world.cluster))
            # What this pass read of it is gone: an action that writes the
            # Pilot again (a scale-out retried after its StatefulSet write
            # conflicted) must create it, not skip it as unchanged.
            del world.pilots[pilot]

    def again(
        self, world: World, action: Action | None, outcome: AuthOutcome | None
    ) -> float | None:
        # After an ALTER, the pilots' facts show the new replication within a
        # heartbeat or two (and a Pilot's change wakes us sooner): deciding on
        # the old facts at once would only ALTER again.
        if isinstance(action, Wait | ReplicateSystemKeyspaces) or (outcome and outcome.message):
            return AFTER_WAIT
        return AFTER_ACTION if action is not None and not world.cluster.spec.paused else None

    async def ensure_secret(self, world: World) -> bool:
        """Create the generated superuser Secret if it is missing (never
        overwrite one: its password may already be the superuser's). The
        next pass reads it; nothing in this one needs it yet (the superuser
        is set up last). Returns whether it was created."""
        if not generates_secret(world.cluster) or world.secret is not None:
            return False
        password = secrets.token_urlsafe(24)
        manifest = build_superuser_secret(world.cluster, password, owner_reference(world.cluster))
        created = await self.kube.create(manifest)
        if created:
            await self.kube.event(
                world.raw,
                reason="SecretCreated",
                message="generated the superuser's credentials in Secret"
                f" {secret_name(world.cluster)}",
            )
        return True

    async def act(
        self, world: World, observed: Observed, action: Action | None
    ) -> AuthOutcome | None:
        """Carry out `action`; an auth action says what it did for the status."""
        if isinstance(action, ReplicateSystemKeyspaces | SetUpSuperuser):
            return await self._cql(world, observed, action)
        await self._act(world, observed, action)
        return None

    async def _act(self, world: World, observed: Observed, action: Action | None) -> None:
        pool = _spec_pool(world.cluster, action) or _removed_pool(observed, action)
        match action:
            case CreatePool():
                assert pool is not None
                await self._apply_statefulset(world, pool, 0)
            case ScaleOut(to=to):
                assert pool is not None
                member = member_name(world.cluster, pool, to - 1)
                if not await self._volume_free(world, member):
                    return
                await self._apply_pilot(world, pool, member, ())
                await self._apply_statefulset(world, pool, to)
            case RequestDecommission(member=member, intent_id=intent_id):
                assert pool is not None
                raw = world.pilots.get(member)
                pilot = _pilot_status(raw)
                phases = {o.id: str(o.phase) for o in pilot.intents} if pilot else {}
                ids = with_new_intent(_intents(raw), phases, intent_id)
                await self._apply_pilot(world, pool, member, ids)
            case ScaleIn(to=to, member=member, pool_removal=removal):
                assert pool is not None
                await self._mark_volume_decommissioned(world, member)
                if removal:
                    await self._resize_removed(world, pool, to)
                else:
                    await self._apply_statefulset(world, pool, to)
                await self.kube.delete("Pilot", member, namespace_of(world.cluster))
            case DeletePool():
                assert pool is not None
                sts = statefulset_name(world.cluster, pool)
                await self.kube.delete("StatefulSet", sts, namespace_of(world.cluster))
            case RequestReplace() | ReleaseLostVolume():
                assert pool is not None
                await self._heal(world, pool, action)
            case RestartMember(member=member, uid=uid):
                if not await self._delete_pod(world, member, uid):
                    return
            case _:
                return
        await self._announce(world, action)

    async def _cql(
        self, world: World, observed: Observed, action: ReplicateSystemKeyspaces | SetUpSuperuser
    ) -> AuthOutcome:
        """Carry out an auth action over CQL; a failure is reported (status,
        a Warning event) and tried again after `AFTER_WAIT`."""
        addresses = _serving_addresses(world, observed)
        superuser = credentials(world.secret)
        try:
            if isinstance(action, ReplicateSystemKeyspaces):
                await cql.replicate_async(
                    addresses,
                    _logins(world, superuser),
                    action.keyspaces,
                    action.factors,
                    ca=_client_ca(world),
                )
                await self._announce(world, action)
                return AuthOutcome()
            if superuser is None:
                return AuthOutcome(message=f"Secret {action.secret} has no usable credentials")
            done = await cql.set_up_superuser_async(
                addresses, superuser, operator_credentials(superuser), ca=_client_ca(world)
            )
        except cql.CqlFailed as err:
            reason = (
                "ReplicationFailed"
                if isinstance(action, ReplicateSystemKeyspaces)
                else "AuthSetupFailed"
            )
            log.warning(
                "%s/%s: %s: %s", namespace_of(world.cluster), name_of(world.cluster), reason, err
            )
            await self.kube.event(world.raw, reason=reason, message=str(err), warning=True)
            return AuthOutcome(message=f"{reason}: {err}")
        await self.kube.event(world.raw, reason="SuperuserReady", message=done)
        return AuthOutcome(verified=action.marker)

    async def _heal(
        self, world: World, pool: CassandraNodePool, action: RequestReplace | ReleaseLostVolume
    ) -> None:
        """A member whose data is gone: ask it to replace its old self; or,
        when its volume's node is gone, free it to come back on a new one."""
        if isinstance(action, ReleaseLostVolume):
            namespace = namespace_of(world.cluster)
            await self.kube.delete("PersistentVolumeClaim", volume_name(action.member), namespace)
            await self.kube.delete("Pod", action.member, namespace)
            return
        new = {"id": action.intent_id, "address": action.address, "hostID": action.host_id}
        ids = _intents(world.pilots.get(action.member))
        await self._apply_pilot(world, pool, action.member, ids, new)

    async def _delete_pod(self, world: World, member: str, uid: str) -> bool:
        """Delete the member's pod if it is still the incarnation decided on
        (`uid`): its pilot drains the node on SIGTERM, and the StatefulSet
        controller recreates the pod at the pool's revision."""
        namespace = namespace_of(world.cluster)
        pod = await self.kube.get("Pod", member, namespace)
        meta = (pod or {}).get("metadata") or {}
        if pod is None or meta.get("uid") != uid or meta.get("deletionTimestamp"):
            return False
        await self.kube.delete("Pod", member, namespace)
        return True

    async def _mark_volume_decommissioned(self, world: World, member: str) -> None:
        """A kept volume of a member that left the ring holds data the ring no
        longer needs (it was streamed to the others), and Cassandra refuses to
        start on it; the label tells a later scale-out to start afresh."""
        namespace = namespace_of(world.cluster)
        claim = await self.kube.get("PersistentVolumeClaim", volume_name(member), namespace)
        if claim is None:
            return
        await self.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {
                    "name": volume_name(member),
                    "namespace": namespace,
                    "labels": {DECOMMISSIONED_LABEL: "true"},
                },
            },
            claim,
        )

    async def _volume_free(self, world: World, member: str) -> bool:
        """Before a member is (re)created: a kept volume of a decommissioned
        member with that name is deleted first (never any other volume)."""
        namespace = namespace_of(world.cluster)
        claim = await self.kube.get("PersistentVolumeClaim", volume_name(member), namespace)
        if claim is None:
            return True
        meta = claim.get("metadata") or {}
        if (meta.get("labels") or {}).get(DECOMMISSIONED_LABEL) != "true":
            return True
        if not meta.get("deletionTimestamp"):
            await self.kube.delete("PersistentVolumeClaim", volume_name(member), namespace)
            await self.kube.event(
                world.raw,
                reason="DeletedDecommissionedVolume",
                message=f"deleted {volume_name(member)}, kept when {member} was decommissioned:"
                " its data lives on in the ring and Cassandra would refuse to start on it",
            )
        return False

    async def _apply_statefulset(
        self, world: World, pool: CassandraNodePool, replicas: int
    ) -> None:
        manifest = build_statefulset(world.cluster, pool, replicas=replicas, profile=world.profile)
        # The gather's list is a consistent read: a StatefulSet it lacks is absent.
        # `replicas` was decided from that read, so the write is conditional on
        # it (resourceVersion): if anyone changed the StatefulSet since, e.g. a
        # second replica that already took this step, the API server answers
        # 409 and the next pass decides again from a fresh read.
        live = world.statefulsets.get(manifest["metadata"]["name"])
        await self.kube.apply(storage.held_claim_size(manifest, live), live, guard=True)

    async def _resize_removed(self, world: World, pool: CassandraNodePool, replicas: int) -> None:
        """A removed pool's StatefulSet with another `replicas` and nothing
        else changed: its spec is what it was (the spec no longer says what
        its template should be, and a new template would restart members
        that are about to leave), applied whole so that our field manager
        keeps every field it owns, on the same read (resourceVersion)."""
        live = world.statefulsets[statefulset_name(world.cluster, pool)]
        meta = live["metadata"]
        manifest = {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {
                "name": meta["name"],
                "namespace": meta["namespace"],
                "labels": dict(meta.get("labels") or {}),
                "ownerReferences": list(meta.get("ownerReferences") or []),
            },
            "spec": {**live["spec"], "replicas": replicas},
        }
        await self.kube.apply(manifest, live, guard=True)

    async def _apply_pilot(
        self,
        world: World,
        pool: CassandraNodePool,
        member: str,
        ids: tuple[str, ...],
        new_replace: dict[str, str] | None = None,
    ) -> None:
        """The member's Pilot with decommission intents `ids`, its Replace
        intents kept (the finished ones pruned) plus `new_replace`, and the
        pending-intents finalizer while any intent has no final outcome."""
        live = world.pilots.get(member)
        status = _pilot_status(live)
        phases = {o.id: str(o.phase) for o in status.intents} if status else {}
        replaces = with_replace(_replaces(live), phases, new_replace)
        asked = [*ids, *(r["id"] for r in replaces)]
        manifest = build_pilot(
            world.cluster,
            pool,
            member,
            decommission_ids=ids,
            replaces=replaces,
            pending=pending_intents(asked, phases),
        )
        await self.kube.apply(manifest, live)

    async def _announce(self, world: World, action: Action) -> None:
        reason, message = _event_text(action)
        await self.kube.event(world.raw, reason=reason, message=message)

    async def record(
        self,
        world: World,
        observed: Observed,
        action: Action | None,
        outcome: AuthOutcome | None = None,
    ) -> None:
        """Events for finished and blocked operations, then the status."""
        previous = _stored_status(world.raw)
        status = build_status(observed, action, previous, self.clock(), outcome)
        if not world.cluster.spec.paused:  # paused: what was last recorded stays
            status = status.model_copy(update={"tls": tls_status(world.cluster, world.tls)})
        elif previous is not None:
            status = status.model_copy(update={"tls": previous.tls})
        await self._transition_events(world, previous, status)
        if needs_write(world.raw.get("status"), status):
            await self.write_status(world.raw, status_body(status))

    async def _transition_events(
        self, world: World, previous: CassandraClusterStatus | None, status: CassandraClusterStatus
    ) -> None:
        old = previous.operation if previous else None
        new = status.operation
        if old and (not new or (old.type, old.target) != (new.type, new.target)):
            await self.kube.event(
                world.raw, reason="OperationFinished", message=f"{old.type} {old.target} finished"
            )
        blocked = new.blocked_by if new else None
        if blocked and (old is None or old.blocked_by != blocked):
            # Waiting for a member to join, leave or come back is the normal
            # course of an operation; anything else is stuck or refused.
            progress = blocked.rule in PROGRESS_RULES
            await self.kube.event(
                world.raw,
                reason="Waiting" if progress else event_reason(blocked.rule),
                message=f"{new.type if new else ''} {new.target if new else ''}"
                f" {'waits on' if progress else 'blocked by'} {blocked.rule}: {blocked.reason}",
                warning=not progress,
            )

    # -- storage expansion (navigator.operator.cassandra.storage) -------------------------

    async def expand_storage(self, world: World) -> storage.Step:
        """Grow the members' volumes of pools whose `persistence.size` rose:
        their claims first, then the StatefulSet re-created with its pods
        orphaned. A StatefulSet gone (or going) while its pool still has
        members is re-created at their number first, and the pass ends."""
        cluster, namespace = world.cluster, namespace_of(world.cluster)
        for pool in cluster.spec.node_pools:
            live = world.statefulsets.get(statefulset_name(cluster, pool))
            if live is None or (live.get("metadata") or {}).get("deletionTimestamp"):
                replicas = storage.orphaned_replicas(cluster, pool, world.pods, world.pilots)
                if replicas:
                    await self._recreate_statefulset(world, pool, replicas)
                    return storage.Step(decide_again=True)
        stored = ((world.raw.get("status") or {}).get("operation") or {}).get("type", "")
        if not storage.needs_look(cluster, world.statefulsets, str(stored)):
            return storage.Step()
        claims = await self.kube.list(
            "PersistentVolumeClaim", namespace, {CLUSTER_LABEL: name_of(cluster)}
        )
        waits = []
        for pool in cluster.spec.node_pools:
            live = world.statefulsets.get(statefulset_name(cluster, pool))
            if live is None:
                continue
            state = storage.pool_storage(cluster, pool, live, claims)
            if state.to_patch or state.recreate:
                block = await self._expansion_refused(state)
                if block is not None:
                    waits.append(storage.refused(block, pool.name))
                    continue
                if not await self._grow(world, pool, state):
                    return storage.Step(decide_again=True)
            if (wait := storage.progress(state)) is not None:
                waits.append(wait)
        if stored == storage.EXPAND_STORAGE and not waits:
            sizes = ", ".join(f"{p.name} {p.persistence.size}" for p in cluster.spec.node_pools)
            await self.kube.event(
                world.raw, reason="StorageExpanded", message=f"every member's volume grown: {sizes}"
            )
        return storage.Step(wait=min(waits, key=lambda w: w.progress) if waits else None)

    async def _expansion_refused(self, state: storage.PoolStorage) -> Block | None:
        name = state.storage_class
        found = await self.kube.get("StorageClass", name, "") if name else None
        return storage.storage_class_allows_expansion(found, name, state.pool, state.size)

    async def _grow(
        self, world: World, pool: CassandraNodePool, state: storage.PoolStorage
    ) -> bool:
        """Ask for the new size on each member's claim (the storage driver grows
        the volume), then re-create the StatefulSet with it. False: the old
        StatefulSet was not gone in time; the next pass finishes."""
        namespace = namespace_of(world.cluster)
        body = {"spec": {"resources": {"requests": {"storage": state.size}}}}
        for claim in state.to_patch:
            await self.kube.merge_patch("PersistentVolumeClaim", claim, namespace, body)
        if state.to_patch or state.recreate:
            await self.kube.event(
                world.raw,
                reason="ExpandingStorage",
                message=f"pool {pool.name}: growing {len(state.claims)} volumes to {state.size}"
                " in place (claims patched, StatefulSet re-created with its pods kept running)",
            )
        if not state.recreate:
            return True
        return await self._recreate_statefulset(world, pool, state.replicas)

    async def _recreate_statefulset(
        self, world: World, pool: CassandraNodePool, replicas: int
    ) -> bool:
        """Delete the pool's StatefulSet with propagationPolicy Orphan (pods and
        claims stay, running), wait until it is gone, and apply it again at
        `replicas`: the new one adopts the pods, and no pod template changed,
        so none restarts. False when the old one is still there after the wait."""
        namespace = namespace_of(world.cluster)
        name = statefulset_name(world.cluster, pool)
        live = world.statefulsets.get(name)
        if live is not None and not (live.get("metadata") or {}).get("deletionTimestamp"):
            await self.kube.delete("StatefulSet", name, namespace, orphan=True)
        for _ in range(RECREATE_POLLS):
            if await self.kube.get("StatefulSet", name, namespace) is None:
                break
            await asyncio.sleep(RECREATE_POLL_SECONDS)
        else:
            log.info("StatefulSet %s/%s not gone yet: re-created on a later pass", namespace, name)
            return False
        # The pass goes on from this read: the new object is the live one now.
        world.statefulsets.pop(name, None)
        await self._apply_statefulset(world, pool, replicas)
        fresh = await self.kube.get("StatefulSet", name, namespace)
        if fresh is not None:
            world.statefulsets[name] = fresh
        return True


def event_reason(rule: str) -> str:
    """The Warning event's reason: the rule itself when it names a halt."""
    return rule if rule in HALT_RULES else "Blocked"


def _removed_pool(observed: Observed, action: Action | None) -> CassandraNodePool | None:
    """The pool (as rebuilt from its StatefulSet) of an action on a removed pool."""
    name = getattr(action, "pool", None)
    return next((s.pool for s in observed.pools if s.removed and s.name == name), None)


def _spec_pool(cluster: CassandraCluster, action: Action | None) -> CassandraNodePool | None:
    name = getattr(action, "pool", None)
    return next((p for p in cluster.spec.node_pools if p.name == name), None)


def _stored_status(raw: dict[str, Any]) -> CassandraClusterStatus | None:
    try:
        return CassandraClusterStatus.model_validate(raw.get("status") or {})
    except ValidationError:
        return None


def _event_text(action: Action) -> tuple[str, str]:
    match action:
        case CreatePool(pool=pool):
            return "CreatingPool", f"creating the StatefulSet of pool {pool}"
        case ScaleOut(pool=pool, to=to):
            return "ScalingOut", f"adding member {to - 1} to pool {pool} ({to} members)"
        case RequestDecommission(member=member, intent_id=intent_id):
            return (
                "DecommissionRequested",
                f"asked the pilot of {member} to decommission ({intent_id})",
            )
        case ScaleIn(pool=pool, to=to, member=member, joined=joined):
            how = "left the ring" if joined else "never joined the ring"
            return "RemovingMember", f"{member} {how}; pool {pool} down to {to} members"
        case DeletePool(pool=pool):
            return (
                "RemovedPool",
                f"pool {pool} is no longer in the spec and every member of it was removed:"
                " deleted its StatefulSet (the members' volumes are kept)",
            )
        case RestartMember(member=member, operation=kind, revision=revision):
            return "RestartingMember", f"{kind}: restarting {member} onto revision {revision}"
        case ReleaseLostVolume(member=member, cause=cause):
            return (
                "ReleasingVolume",
                f"{member}: {cause}; deleted its claim and pod: it comes back on a new"
                " volume and replaces its old self",
            )
        case RequestReplace(member=member, address=address, host_id=host_id):
            return (
                "ReplacingMember",
                f"{member} lost its data: asked its pilot to replace its old self"
                f" ({address}, host {host_id}), taking over its tokens",
            )
        case ReplicateSystemKeyspaces() as replicate:
            return (
                "ReplicatedSystemKeyspaces",
                f"{', '.join(replicate.keyspaces)} now replicate to {replicate.replication}"
                " (NetworkTopologyStrategy), for the spec's size",
            )
    return "Action", str(action)


def operator_credentials(superuser: cql.Credentials) -> cql.Credentials:
    return cql.Credentials(OPERATOR_ROLE, operator_password(superuser.password))


def _logins(world: World, superuser: cql.Credentials | None) -> list[cql.Credentials | None]:
    """Who to log in as: no one when auth is off; else the operator's own
    role, then (before it exists) the Secret's superuser, then (before that
    exists) the default account."""
    if not world.cluster.spec.auth.enabled:
        return [None]
    if superuser is None:
        return [cql.DEFAULT_CREDENTIALS]
    return [operator_credentials(superuser), superuser, cql.DEFAULT_CREDENTIALS]


def _client_ca(world: World) -> str:
    """The CA to verify members against when CQL is TLS only ("": plaintext)."""
    return world.tls.ca if world.cluster.spec.tls.client_encryption else ""


def _serving_addresses(world: World, observed: Observed) -> list[str]:
    """The pod IPs of the members that serve, in member order."""
    out = []
    for member in observed.members():
        if not member.serving:
            continue
        ip = ((world.pods.get(member.name) or {}).get("status") or {}).get("podIP")
        if ip:
            out.append(str(ip))
    return out
