"""How a member starts: which seeds, whether it replaces a dead node, or
whether it must not start yet. `plan` is pure; `gather` reads its inputs.

Seeds never bootstrap: a node that finds its own address in its seed list
joins without streaming, so an empty node listed as its own seed would own
token ranges with no data. Hence:

- seeds are members that have joined the ring (the cluster's status records
  a host ID and a Normal, Leaving or Moving state for them), never chosen
  from the spec;
- a member lists itself only when its volume holds data (it joined before,
  and a restart does not bootstrap), or when it founds a new cluster: no
  member of the cluster ever joined, and it is the first member of the
  first pool that has members;
- a member whose volume is empty but that the cluster recorded as joined
  lost its data (its volume was lost or wiped): it must not bootstrap as a
  new node, which would leave its old host ID behind as a dead node. It
  holds until the operator asks it to replace its old self (a `Replace`
  intent naming the old address), and then starts with
  `replace_address_first_boot`;
- with no joined member to use as a seed, any other member holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from navigator.api.cassandra import CassandraCluster
from navigator.cassandra.members import founder
from navigator.pilot.core.intents import Intent, Outcome

# The most seeds a member lists (Cassandra's advice: a few per datacenter).
MAX_SEEDS = 3
JOINED_STATES = frozenset({"N", "L", "M"})

Plan = Literal["Hold", "Found", "Join", "Replace"]


@dataclass(frozen=True)
class JoinedMember:
    """A member the cluster's status records as having joined the ring."""

    name: str
    host_id: str
    address: str  # its pod's IP now ('' when it has none)


@dataclass(frozen=True)
class StartInputs:
    me: str
    my_address: str
    founder: str  # the member that may found the cluster
    volume_empty: bool
    recorded_host_id: str  # mine, as the cluster's status records it ('' if never)
    joined: tuple[JoinedMember, ...]  # every member recorded as joined, me included
    replace: Intent | None = None  # a pending Replace intent, if any


@dataclass(frozen=True)
class StartPlan:
    plan: Plan
    reason: str
    seeds: tuple[str, ...] = ()
    replacing: str = ""
    intent: str = ""  # the id of the intent this start carries out
    volume_empty: bool = False

    @property
    def hold(self) -> bool:
        return self.plan == "Hold"

    def report(self) -> dict[str, Any]:
        """For `Pilot.status.start`."""
        out: dict[str, Any] = {
            "plan": self.plan,
            "reason": self.reason,
            "volumeEmpty": self.volume_empty,
            "seeds": list(self.seeds),
        }
        if self.replacing:
            out["replacing"] = self.replacing
        return out


def plan(inputs: StartInputs) -> StartPlan:
    """The one way this member may start now (or why it must hold)."""
    others = tuple(m for m in inputs.joined if m.name != inputs.me and m.address)
    seeds = tuple(sorted(m.address for m in others))[:MAX_SEEDS]
    empty = inputs.volume_empty

    def out(
        kind: Plan, reason: str, chosen: tuple[str, ...] = (), replacing: str = ""
    ) -> StartPlan:
        intent = inputs.replace.id if kind == "Replace" and inputs.replace else ""
        return StartPlan(kind, reason, chosen, replacing, intent, empty)

    if inputs.replace is not None:
        if not seeds:
            return out(
                "Hold", "replacement asked, but no joined member has an address to seed from"
            )
        address = inputs.replace.address
        why = f"replacing the dead node {address} (its data is gone)"
        return out("Replace", why, seeds, address)
    if not empty:
        if seeds:
            return out(
                "Join", "restarting on its own data", (*seeds, inputs.my_address)[:MAX_SEEDS]
            )
        if inputs.recorded_host_id or inputs.me == inputs.founder:
            alone = "restarting on its own data; no other joined member has an address"
            return out("Join", alone, (inputs.my_address,))
        return out(
            "Hold",
            "its volume holds data but it never joined, and no joined member has an"
            " address to seed from",
        )
    if inputs.recorded_host_id:
        return out(
            "Hold",
            f"its volume is empty but it had joined the ring as host {inputs.recorded_host_id}:"
            " waiting for the operator to replace its old self",
        )
    if seeds:
        return out("Join", "a new member: bootstraps from the joined members", seeds)
    if not inputs.joined and inputs.me == inputs.founder:
        return out("Found", "the first member of a new cluster: its own seed", (inputs.my_address,))
    return out(
        "Hold", "no member has joined the ring yet, or none has an address: waiting for a seed"
    )


def pending_replace(intents: Sequence[Intent], outcomes: Mapping[str, Outcome]) -> Intent | None:
    """The Replace intent the operator asked for and that has not finished."""
    for intent in intents:
        outcome = outcomes.get(intent.id)
        if intent.action == "Replace" and (outcome is None or not outcome.phase.final):
            return intent
    return None


def volume_empty(data_dir: Path) -> bool:
    """No keyspace data at all: the node never started on this volume (a
    started node always writes its system keyspace)."""
    system = data_dir / "data" / "system"
    return not system.is_dir() or not any(system.iterdir())


@dataclass(frozen=True)
class ClusterView:
    """What `plan` needs from the CassandraCluster (spec and status)."""

    founder: str
    recorded: dict[str, str] = field(default_factory=dict)  # member → host ID
    joined: tuple[tuple[str, str], ...] = ()  # (member, host ID) of joined members


def cluster_view(cluster: Mapping[str, Any]) -> ClusterView:
    """The founder and the joined members, from the raw CassandraCluster."""
    model = CassandraCluster.model_validate({**cluster, "status": None})
    members = ((cluster.get("status") or {}).get("members")) or []
    recorded = {str(m["name"]): str(m.get("hostID") or "") for m in members if m.get("hostID")}
    joined = tuple(
        (str(m["name"]), str(m["hostID"]))
        for m in members
        if m.get("hostID") and str(m.get("state", ""))[1:] in JOINED_STATES
    )
    return ClusterView(founder=founder(model), recorded=recorded, joined=joined)
