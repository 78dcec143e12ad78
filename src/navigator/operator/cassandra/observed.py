"""The frozen snapshot of the world one Cassandra decision is taken from.

Gathered by `reconcile` (from the CassandraCluster, its StatefulSets and its
Pilots), consumed by the pure `decide`, `predicates` and `status` modules.
What every engine's snapshot has (names, ordinals, pods, facts' freshness,
intents, pools) is `navigator.operator.core.observed`; this module adds a
Cassandra member's datacenter, host ID, replacement and decommission.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from navigator.api.cassandra import CassandraClusterSpec, CassandraNodePool
from navigator.api.pilot import Facts, PilotStatus
from navigator.operator.core import observed as core
from navigator.operator.core.observed import FACTS_FRESH_FOR_S, PodView

if TYPE_CHECKING:
    from navigator.operator.cassandra.auth import AuthView

__all__ = ["FACTS_FRESH_FOR_S", "Member", "Observed", "PodView", "PoolState"]

DECOMMISSION_PREFIX = "decommission-g"


@dataclass(frozen=True)
class Member(core.Member[PilotStatus]):
    """One Cassandra member; its `intents` are decommission intent ids."""

    datacenter: str = field(kw_only=True)
    # Its host ID as the cluster's status last recorded it ('' if never): a
    # decommissioned member's pilot stops its database and reports no facts,
    # and a pilot restarted after that knows nothing, but the member's host ID
    # is still what its peers must have forgotten.
    recorded_host_id: str = field(default="", kw_only=True)
    replaces: tuple[str, ...] = field(default=(), kw_only=True)  # Replace intent ids

    @property
    def facts(self) -> Facts | None:
        return self.pilot.facts if self.pilot else None

    @property
    def host_id(self) -> str:
        """Its host ID: from its own facts, else as last recorded in status."""
        own = self.facts.host_id if self.facts else ""
        return own or self.recorded_host_id

    @property
    def decommissioned(self) -> bool:
        """The pilot reports one of its decommission intents Succeeded."""
        return any(o is not None and o.phase == "Succeeded" for _, o in self.outcomes())

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


# A Cassandra pool's StatefulSet as observed. A removed pool's `pool` was
# rebuilt from its StatefulSet (datacenter, rack, volume size; replicas 0), and
# its members leave one by one (decide's pool removal).
PoolState = core.PoolState[CassandraNodePool, Member]


@dataclass(frozen=True)
class Observed(core.Observed[CassandraClusterSpec, CassandraNodePool, Member]):
    """Everything one Cassandra decision needs, frozen."""

    # Authentication's inputs (None: not observed; the auth steps stay out).
    auth: AuthView | None = None

    @property
    def intent_id(self) -> str:
        """The decommission intent id for the spec generation being worked on:
        a new spec (a user's retry) gets a new id, a restart the same one."""
        return f"{DECOMMISSION_PREFIX}{self.generation}"
