"""The frozen snapshot of the world one decision is taken from.

Gathered by `reconcile` (from the CassandraCluster, its StatefulSets and its
Pilots), consumed by the pure `decide`, `predicates` and `status` modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from navigator.api.cassandra import CassandraClusterSpec, CassandraNodePool
from navigator.api.pilot import Facts, IntentOutcome, PilotStatus

if TYPE_CHECKING:
    from navigator.operator.auth import AuthView

DECOMMISSION_PREFIX = "decommission-g"
# A pilot writes its status at least every 30 s (its heartbeat); facts older
# than three heartbeats come from a pilot that is hung, or whose node is gone.
FACTS_FRESH_FOR_S = 90.0


@dataclass(frozen=True)
class PodView:
    """What the decisions need of a member's Pod (a projection, not the Pod)."""

    uid: str
    revision: str = ""  # its navigator.dev/revision annotation
    version: str = ""  # its navigator.dev/version annotation
    restarted_at: str = ""  # its navigator.dev/restartedAt annotation
    replace_requested: bool = False  # its navigator.dev/replace annotation is "true"
    ready: bool = False  # the kubelet's Ready condition (the pilot's live probe)
    terminating: bool = False
    started_at: datetime | None = None  # creation time


@dataclass(frozen=True)
class Member:
    """One member of a pool (an ordinal below the StatefulSet's replicas)."""

    name: str
    pool: str
    datacenter: str
    ordinal: int
    pilot: PilotStatus | None = None
    intents: tuple[str, ...] = ()  # decommission intent ids in the Pilot's spec
    problem: str | None = None  # why its Pod cannot run the database (pods.pod_problem)
    pod: PodView | None = None
    # Seconds since its pilot observed what its status says (None: not said).
    facts_age_s: float | None = None
    # Its host ID as the cluster's status last recorded it ('' if never): a
    # decommissioned member's pilot stops its database and reports no facts,
    # and a pilot restarted after that knows nothing, but the member's host ID
    # is still what its peers must have forgotten.
    recorded_host_id: str = ""
    replaces: tuple[str, ...] = ()  # Replace intent ids in the Pilot's spec
    # The node its volume was pinned to, when that node is gone for good and
    # its pod cannot be scheduled ('' otherwise; see `operator.lostvolume`).
    volume_lost_with: str = ""

    @property
    def current_facts(self) -> bool:
        """The Pilot's status was written by the pod that runs now and observed
        at most `FACTS_FRESH_FOR_S` ago (a status from an earlier incarnation,
        from a pilot that does not say which pod it is, or from one that went
        quiet, is stale). A pilot that does not say when it observed (one from
        before `observedAt`) is judged by its pod alone."""
        if self.pilot is None or self.pod is None:
            return False
        if not self.pilot.pod_uid or self.pilot.pod_uid != self.pod.uid:
            return False
        return not self.facts_stale

    @property
    def facts_stale(self) -> bool:
        """Its pilot's last observation is older than `FACTS_FRESH_FOR_S`."""
        return self.facts_age_s is not None and self.facts_age_s > FACTS_FRESH_FOR_S

    @property
    def serving(self) -> bool:
        """Up and serving now: the pod is Ready and not going away, and its
        current pilot says the node is Up/Normal and accepts CQL."""
        pod, pilot = self.pod, self.pilot
        return (
            pod is not None
            and pod.ready
            and not pod.terminating
            and pilot is not None
            and pilot.ready
            and self.current_facts
        )

    @property
    def facts(self) -> Facts | None:
        return self.pilot.facts if self.pilot else None

    @property
    def host_id(self) -> str:
        """Its host ID: from its own facts, else as last recorded in status."""
        own = self.facts.host_id if self.facts else ""
        return own or self.recorded_host_id

    def outcome(self, intent_id: str) -> IntentOutcome | None:
        outcomes = self.pilot.intents if self.pilot else []
        return next((o for o in outcomes if o.id == intent_id), None)

    def outcomes(self) -> list[tuple[str, IntentOutcome | None]]:
        return [(i, self.outcome(i)) for i in self.intents]

    @property
    def decommissioned(self) -> bool:
        """The pilot reports one of its decommission intents Succeeded."""
        return any(o is not None and o.phase == "Succeeded" for _, o in self.outcomes())

    @property
    def to_release(self) -> str:
        """Why its volume is to be given up ('' if it is not): its node is
        gone for good, or a user asked for its replacement on its pod."""
        if self.volume_lost_with:
            return f"its volume lived on node {self.volume_lost_with}, which is gone"
        if self.pod is not None and self.pod.replace_requested:
            return "a replacement was requested (navigator.dev/replace on its pod)"
        return ""

    @property
    def awaiting_replacement(self) -> bool:
        """Its current pilot holds the database back because the volume is
        empty while the member had joined the ring (a host ID is recorded):
        its data is gone, and it waits to replace its old self."""
        start = self.pilot.start if self.pilot else None
        return (
            self.current_facts
            and start is not None
            and start.plan == "Hold"
            and start.volume_empty
            and bool(self.recorded_host_id)
        )

    @property
    def replacing(self) -> str:
        """The id of a Replace intent asked and not finished ('' if none)."""
        for intent in self.replaces:
            outcome = self.outcome(intent)
            if outcome is None or outcome.phase == "Running":
                return intent
        return ""

    @property
    def leaving(self) -> bool:
        """A decommission was requested and has no final outcome yet."""
        return any(o is None or o.phase == "Running" for _, o in self.outcomes())


@dataclass(frozen=True)
class PoolState:
    """A pool's StatefulSet as observed (absent when not created yet)."""

    pool: CassandraNodePool
    exists: bool = False
    replicas: int = 0
    ready_replicas: int = 0
    updated_replicas: int = 0
    members: tuple[Member, ...] = ()
    revision: str = ""  # the revision every member should run (the built template's)
    restarted_at: str = ""  # the restart request the revision carries
    # The pool is no longer in the spec but its StatefulSet still exists:
    # `pool` was rebuilt from that StatefulSet (datacenter, rack, volume size;
    # replicas 0), `revision` is its template's, and its members leave one by
    # one (decide's pool removal) before the StatefulSet is deleted.
    removed: bool = False

    @property
    def name(self) -> str:
        return self.pool.name


@dataclass(frozen=True)
class Observed:
    """Everything one decision needs, frozen."""

    cluster: str
    spec: CassandraClusterSpec
    generation: int
    pools: tuple[PoolState, ...] = field(default_factory=tuple)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The rollout the stored status records ('' if none): after the last
    # member's restart nothing is outdated, but the rollout lasts until that
    # member serves again.
    rollout: str = ""
    # Authentication's inputs (None: not observed; the auth steps stay out).
    auth: AuthView | None = None

    def members(self) -> Iterator[Member]:
        for pool in self.pools:
            yield from pool.members

    def pool(self, name: str) -> PoolState | None:
        return next((p for p in self.pools if p.name == name), None)

    @property
    def intent_id(self) -> str:
        """The decommission intent id for the spec generation being worked on:
        a new spec (a user's retry) gets a new id, a restart the same one."""
        return f"{DECOMMISSION_PREFIX}{self.generation}"
