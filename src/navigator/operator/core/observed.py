"""The frozen snapshot of the world one decision is taken from, as every
engine has it: members with names, ordinals, pods, their pilot's report and
its freshness, the intents asked of them; pools; the cluster.

Generic over what differs: the pilot's report `S` (which carries the engine's
facts), a pool's spec `P` and the member type `M`. An engine's own snapshot
(`navigator.operator.cassandra.observed`) adds its members' identity and
its facts' meaning.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from navigator.api.pilot import IntentOutcome

# A pilot writes its status at least every 30 s (its heartbeat); facts older
# than three heartbeats come from a pilot that is hung, or whose node is gone.
FACTS_FRESH_FOR_S = 90.0


class PilotReport(Protocol):
    """What the core reads of a Pilot's status (the engine reads its facts)."""

    @property
    def ready(self) -> bool: ...
    @property
    def ready_reason(self) -> str: ...
    @property
    def pod_uid(self) -> str: ...
    @property
    def intents(self) -> Sequence[IntentOutcome]: ...


class PoolSpec(Protocol):
    @property
    def name(self) -> str: ...


class ClusterSpec(Protocol):
    @property
    def version(self) -> str: ...


S = TypeVar("S", bound=PilotReport)
P = TypeVar("P", bound=PoolSpec)
M = TypeVar("M", bound="Member[Any]")
C = TypeVar("C", bound=ClusterSpec)


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
class Member(Generic[S]):
    """One member of a pool (an ordinal below the StatefulSet's replicas)."""

    name: str
    pool: str
    ordinal: int
    pilot: S | None = None
    intents: tuple[str, ...] = ()  # ids of the intents to leave, in the Pilot's spec
    problem: str | None = None  # why its Pod cannot run the database (pods.pod_problem)
    pod: PodView | None = None
    # Seconds since its pilot observed what its status says (None: not said).
    facts_age_s: float | None = None
    # The node its volume was pinned to, when that node is gone for good and
    # its pod cannot be scheduled ('' otherwise; see `operator.core.lostvolume`).
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
        current pilot says the database serves (for Cassandra: the node is
        Up/Normal and accepts CQL)."""
        pod, pilot = self.pod, self.pilot
        return (
            pod is not None
            and pod.ready
            and not pod.terminating
            and pilot is not None
            and pilot.ready
            and self.current_facts
        )

    def outcome(self, intent_id: str) -> IntentOutcome | None:
        outcomes = self.pilot.intents if self.pilot else []
        return next((o for o in outcomes if o.id == intent_id), None)

    def outcomes(self) -> list[tuple[str, IntentOutcome | None]]:
        return [(i, self.outcome(i)) for i in self.intents]

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
    def leaving(self) -> bool:
        """An intent to leave was asked and has no final outcome yet."""
        return any(o is None or o.phase == "Running" for _, o in self.outcomes())


def not_serving_reason(member: Member[Any]) -> str:
    """Why `member` does not serve right now, in words ('' when it does)."""
    if member.pod is None:
        return "its pod does not exist"
    if member.pod.terminating:
        return "its pod is terminating"
    if member.pilot is None:
        return "its pilot has not reported yet"
    if member.facts_stale:
        return (
            f"its pilot last observed the database {member.facts_age_s:.0f} s ago"
            " (the facts are stale: the pilot or its node is hung or gone)"
        )
    if not member.current_facts:
        return "its pilot has not reported since the pod started (the facts are stale)"
    if not member.pilot.ready:
        return member.pilot.ready_reason or "its pilot reports it not ready"
    if not member.pod.ready:
        return "its pod is not Ready"
    return ""


@dataclass(frozen=True)
class PoolState(Generic[P, M]):
    """A pool's StatefulSet as observed (absent when not created yet)."""

    pool: P
    exists: bool = False
    replicas: int = 0
    ready_replicas: int = 0
    updated_replicas: int = 0
    members: tuple[M, ...] = ()
    revision: str = ""  # the revision every member should run (the built template's)
    restarted_at: str = ""  # the restart request the revision carries
    # The pool is no longer in the spec but its StatefulSet still exists:
    # `pool` was rebuilt from that StatefulSet (replicas 0), `revision` is its
    # template's, and its members leave one by one before the StatefulSet is
    # deleted.
    removed: bool = False

    @property
    def name(self) -> str:
        return self.pool.name


@dataclass(frozen=True)
class Observed(Generic[C, P, M]):
    """Everything one decision needs, frozen."""

    cluster: str
    spec: C
    generation: int
    pools: tuple[PoolState[P, M], ...] = field(default_factory=tuple)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The rollout the stored status records ('' if none): after the last
    # member's restart nothing is outdated, but the rollout lasts until that
    # member serves again.
    rollout: str = ""

    def members(self) -> Iterator[M]:
        for pool in self.pools:
            yield from pool.members

    def pool(self, name: str) -> PoolState[P, M] | None:
        return next((p for p in self.pools if p.name == name), None)
