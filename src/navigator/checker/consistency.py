"""Consistency arithmetic: can a run's write and read levels prove durability? (pure)

The checker proves "no acknowledged write was lost" only if the way it wrote
and the way it read back can see a loss at all. With RF replicas of a row,
a write at level W waits for ``w`` replicas and a read at level R consults
``r`` of them. The rule, for the keyspace's RF in the checked datacenter:

1. ``w >= RF // 2 + 1``: every acknowledged row was held by a majority of
   its replicas. Below that (ONE with RF 3), losing one node can lose an
   acknowledged row without anything being wrong, so the run would test the
   consistency level rather than the operation, and a copy missing on a
   replica would be expected rather than a finding.
2. ``w + r > RF``: every read overlaps every acknowledged write, so a row
   that is anywhere it was acknowledged is seen (the classic overlap check).

The default verification reads every replica that owns a row, each alone
(`EACH_REPLICA`): ``r = RF``, so rule 2 holds whenever rule 1 does and the
per-replica counts are the real proof. A run that breaks either rule fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Settings.read_consistency: AUTO is the default and means EACH_REPLICA.
AUTO = "AUTO"
# Every replica that owns a row, each read alone at ONE (host-targeted).
EACH_REPLICA = "EACH_REPLICA"

_FIXED = {"ANY": 0, "ONE": 1, "LOCAL_ONE": 1, "TWO": 2, "THREE": 3}
_MAJORITY = frozenset({"QUORUM", "LOCAL_QUORUM", "EACH_QUORUM", "SERIAL", "LOCAL_SERIAL"})
_EVERY = frozenset({"ALL", EACH_REPLICA})


def majority(rf: int) -> int:
    return rf // 2 + 1


def replicas_required(level: str, rf: int) -> int:
    """How many of a row's ``rf`` replicas a request at ``level`` waits for."""
    name = level.upper()
    if name in _FIXED:
        return _FIXED[name]
    if name in _MAJORITY:
        return majority(rf)
    if name in _EVERY:
        return rf
    raise ValueError(f"unknown consistency level {level!r}")


def durability_problem(write: str, read: str, rf: int) -> str | None:
    """Why ``write`` and ``read`` levels cannot prove durability at ``rf`` (None: they can)."""
    if rf < 1:
        return "the keyspace's replication factor is unknown"
    w, r, needed = replicas_required(write, rf), replicas_required(read, rf), majority(rf)
    if w < needed:
        return (
            f"writes at {write} are acknowledged by {w} of {rf} replicas; proving durability "
            f"needs a majority ({needed}, e.g. QUORUM)"
        )
    if w + r <= rf:
        return (
            f"writes at {write} ({w}) and reads at {read} ({r}) need not overlap with RF {rf} "
            "(W + R must exceed RF)"
        )
    return None


@dataclass(frozen=True)
class Replication:
    """A keyspace's replication: its strategy and factors (NetworkTopologyStrategy dc1:3)."""

    strategy: str  # short class name
    factors: tuple[
        tuple[str, int], ...
    ]  # (datacenter, rf), sorted; SimpleStrategy: ("replication_factor", rf)

    @classmethod
    def network_topology(cls, dc: str, rf: int) -> Replication:
        return cls("NetworkTopologyStrategy", ((dc, rf),))

    @classmethod
    def from_schema(cls, options: Mapping[str, str]) -> Replication:
        """From ``system_schema.keyspaces.replication`` ({"class": ..., "dc1": "3"})."""
        strategy = str(options.get("class", "")).rsplit(".", 1)[-1]
        factors = []
        for key, value in options.items():
            if key == "class":
                continue
            # NTS may carry "3/1" (full/transient replicas): the full count is what holds data.
            factors.append((str(key), int(str(value).split("/", 1)[0])))
        return cls(strategy, tuple(sorted(factors)))

    def factor_in(self, dc: str) -> int:
        """The replicas a row has in ``dc`` (0 when none or unknown)."""
        if self.strategy == "NetworkTopologyStrategy":
            return dict(self.factors).get(dc, 0)
        if self.strategy == "SimpleStrategy":
            return dict(self.factors).get("replication_factor", 0)
        return 0

    def __str__(self) -> str:
        """``dc1:3`` for NetworkTopologyStrategy, else prefixed by the strategy."""
        factors = ",".join(f"{dc}:{rf}" for dc, rf in self.factors)
        return (
            factors if self.strategy == "NetworkTopologyStrategy" else f"{self.strategy} {factors}"
        )
