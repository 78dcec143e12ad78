"""The safety rules, as named predicates over an `Observed` snapshot.

Each returns None when the rule allows progress, or a `Block` naming the rule
and saying why in plain words. The names are part of the API: they appear in
`status.operation.blockedBy.rule`, in Events and in docs/operator.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from navigator.api.pilot import Keyspace, Peer
from navigator.operator.cassandra.observed import Member, Observed, PoolState
from navigator.operator.core.gates import RESTARTED_MEMBER_SERVES, ROLLOUT_STALLED, Block
from navigator.operator.core.observed import not_serving_reason
from navigator.pilot.cassandra.facts import Replication
from navigator.pilot.cassandra.safety import KEEPS_REPLICATION, decommission_keeps_replication
from navigator.quantity import quantity

ALL_MEMBERS_UP_NORMAL = "AllMembersUpNormal"
ONE_BOOTSTRAP_AT_A_TIME = "OneBootstrapAtATime"
DECOMMISSION_KEEPS_RF = KEEPS_REPLICATION
REMAINING_NODES_CAN_HOLD_THE_DATA = "RemainingNodesCanHoldTheData"
NOT_PAUSED = "NotPaused"
PEERS_FORGOT_MEMBER = "PeersForgotMember"
DECOMMISSION_COMPLETES = "DecommissionCompletes"
RING_STABLE = "RingStable"
SCHEMA_AGREEMENT = "SchemaAgreement"
HINTS_DELIVERED = "HintsDelivered"
NEVER_JOINED = "NeverJoined"
REPLACED_HOST_IS_DOWN = "ReplacedHostIsDown"
DECOMMISSION_STUCK = "DecommissionStuck"
# A decommission attempt running this long is reported as stuck: it streams
# the member's data to the others, which takes long only with much data or a
# sick peer. Reported, never acted on: nobody but a human may cut it short.
DECOMMISSION_STUCK_AFTER = timedelta(hours=2)
REPLACEMENT_COMPLETES = "ReplacementCompletes"
POOL_REMOVAL_KEEPS_REPLICATION = "PoolRemovalKeepsReplication"
# Storage expansion (navigator.operator.cassandra.storage).
STORAGE_CLASS_ALLOWS_EXPANSION = "StorageClassAllowsExpansion"
VOLUMES_EXPANDED = "VolumesExpanded"

RULES = (
    NOT_PAUSED,
    ALL_MEMBERS_UP_NORMAL,
    ONE_BOOTSTRAP_AT_A_TIME,
    DECOMMISSION_KEEPS_RF,
    REMAINING_NODES_CAN_HOLD_THE_DATA,
    DECOMMISSION_COMPLETES,
    PEERS_FORGOT_MEMBER,
    RING_STABLE,
    SCHEMA_AGREEMENT,
    RESTARTED_MEMBER_SERVES,
    ROLLOUT_STALLED,
    HINTS_DELIVERED,
    NEVER_JOINED,
    POOL_REMOVAL_KEEPS_REPLICATION,
    REPLACED_HOST_IS_DOWN,
    REPLACEMENT_COMPLETES,
    STORAGE_CLASS_ALLOWS_EXPANSION,
    VOLUMES_EXPANDED,
    DECOMMISSION_STUCK,
)

# Rules that say an operation is stuck (it waits, but something is wrong): a
# Warning event named after the rule, and Degraded with the rule as reason.
HALT_RULES = frozenset({ROLLOUT_STALLED, DECOMMISSION_STUCK})

# Rules that are the normal course of an operation (waiting for a member to
# join, leave or come back): shown in status, but neither a Warning event nor
# Degraded. Every other rule blocks something the user asked for.
PROGRESS_RULES = frozenset(
    {
        ALL_MEMBERS_UP_NORMAL,
        ONE_BOOTSTRAP_AT_A_TIME,
        DECOMMISSION_COMPLETES,
        PEERS_FORGOT_MEMBER,
        RING_STABLE,
        SCHEMA_AGREEMENT,
        RESTARTED_MEMBER_SERVES,
        HINTS_DELIVERED,
        REPLACEMENT_COMPLETES,
        VOLUMES_EXPANDED,
    }
)

# The remaining members may be filled up to this share of their volumes.
MAX_FILL = 0.8


def not_paused(observed: Observed) -> Block | None:
    if observed.spec.paused:
        return Block(NOT_PAUSED, "spec.paused is true: the operator changes nothing")
    return None


def _status_of(observer: Member, host_id: str) -> str:
    facts = observer.facts
    peer = next((p for p in facts.peers if p.host_id == host_id), None) if facts else None
    return peer.status if peer else "absent"


def all_members_up_normal(observed: Observed) -> Block | None:
    """Every member reports current facts, serves (its pod is Ready and its
    pilot says Up/Normal and accepting CQL) and sees every other Up/Normal. A
    seed's gossip says Normal before its node has finished starting, so the
    ring view alone is not enough; a Pilot status from an earlier pod is not
    evidence at all."""
    return _up_normal(observed, except_member=None)


def others_up_normal(observed: Observed, target: Member) -> Block | None:
    """`all_members_up_normal` for every member but `target`, whose own state
    does not matter: restarting it takes down at most that one member, and
    when it is already down (a member that did not come back from a
    restart), restarting it costs nothing. Its view of the others counts only
    while it serves."""
    return _up_normal(observed, except_member=target)


def _up_normal(observed: Observed, except_member: Member | None) -> Block | None:
    members = list(observed.members())
    skip = except_member.name if except_member else None
    checked = [m for m in members if m.name != skip]
    silent = [m.name for m in checked if not m.host_id]
    if silent:
        return Block(ALL_MEMBERS_UP_NORMAL, f"no facts yet from {', '.join(silent)}")
    for member in checked:
        if why := not_serving_reason(member):
            return Block(ALL_MEMBERS_UP_NORMAL, f"{member.name} is not serving: {why}")
    observers = [*checked, *([except_member] if except_member and except_member.serving else [])]
    for target in checked:
        for observer in observers:
            status = _status_of(observer, target.host_id)
            if status != "UN":
                return Block(
                    ALL_MEMBERS_UP_NORMAL,
                    f"{observer.name} sees {target.name} as {status}, not UN",
                )
    return None


def decommission_not_stuck(observed: Observed, member: Member) -> Block | None:
    """The member's running decommission attempt began less than
    `DECOMMISSION_STUCK_AFTER` ago (by its pilot's `startedAt`; an attempt
    whose start is not recorded is not judged)."""
    for intent, outcome in member.outcomes():
        if outcome is None or outcome.phase != "Running" or not outcome.started_at:
            continue
        try:
            began = datetime.fromisoformat(outcome.started_at.replace("Z", "+00:00"))
        except ValueError:
            continue
        if (running := observed.now - began) > DECOMMISSION_STUCK_AFTER:
            hours = running.total_seconds() / 3600
            return Block(
                DECOMMISSION_STUCK,
                f"the decommission of {member.name} ({intent}, attempt {outcome.attempts}) has"
                f" run for {hours:.1f} h without finishing: see its pod's log and"
                " `nodetool netstats` on it; the operator keeps waiting",
            )
    return None


def replaced_host_is_down(observed: Observed, target: Member) -> Block | None:
    """Every other member (each serving, with current facts: see
    `others_up_normal`) still holds `target`'s recorded host ID, and as down.
    Then the old node is a dead member of the ring, and the new, empty
    volume can take over its tokens. Fails closed: no recorded host ID, a
    peer that does not know it, or one that sees it up, blocks."""
    host_id = target.recorded_host_id
    if not host_id:
        return Block(REPLACED_HOST_IS_DOWN, f"no host ID is recorded for {target.name}")
    others = [m for m in observed.members() if m.name != target.name]
    if not others:
        return Block(REPLACED_HOST_IS_DOWN, "no other member can vouch that it is down")
    for other in others:
        status = _status_of(other, host_id) if other.serving else "unknown"
        if status == "unknown":
            return Block(REPLACED_HOST_IS_DOWN, f"{other.name} is not serving")
        if status == "absent":
            return Block(
                REPLACED_HOST_IS_DOWN,
                f"{other.name} does not know host {host_id} of {target.name}: it is not a"
                " dead member of the ring (removed by hand?); replace it by hand",
            )
        if not status.startswith("D"):
            return Block(
                REPLACED_HOST_IS_DOWN,
                f"{other.name} sees host {host_id} of {target.name} as {status}, not down",
            )
    return None


def replaced_address(observed: Observed, target: Member) -> str:
    """The address the serving members know `target`'s recorded host ID by."""
    for other in observed.members():
        if other.name == target.name or not other.serving or other.facts is None:
            continue
        for peer in other.facts.peers:
            if peer.host_id == target.recorded_host_id and peer.address:
                return peer.address
    return ""


def ring_stable(observed: Observed) -> Block | None:
    """No member is joining, leaving or moving, by its own account or any
    serving peer's (a restart while the ring changes risks two replicas of a
    range being unavailable at once)."""
    for member in observed.members():
        facts = member.facts
        if facts is None or not member.serving:
            continue
        if facts.operation_mode in ("JOINING", "LEAVING", "MOVING"):
            return Block(RING_STABLE, f"{member.name} is {facts.operation_mode.lower()}")
        changing = [p.address for p in facts.peers if p.status[1:] in ("J", "L", "M")]
        if changing:
            return Block(
                RING_STABLE, f"{member.name} sees {', '.join(changing)} joining, leaving or moving"
            )
    return None


def schema_agreement(observed: Observed) -> Block | None:
    """The serving members agree on the schema: one schema version per
    Cassandra release they run, and at most two in all (the two sides of a
    mixed-version upgrade, which agree only once every member is upgraded)."""
    by_release: dict[str, set[str]] = {}
    for member in observed.members():
        if member.facts is not None and member.serving:
            facts = member.facts
            by_release.setdefault(facts.release_version, set()).add(facts.schema_version)
    for release, versions in sorted(by_release.items()):
        if len(versions) > 1:
            return Block(
                SCHEMA_AGREEMENT,
                f"members running {release} report {len(versions)} schema versions",
            )
    distinct = set().union(*by_release.values()) if by_release else set()
    if len(distinct) > 2:
        return Block(SCHEMA_AGREEMENT, f"members report {len(distinct)} schema versions")
    return None


def one_bootstrap_at_a_time(observed: Observed) -> Block | None:
    """No member is joining, by its own account or any peer's."""
    for member in observed.members():
        facts = member.facts
        if facts is None:
            continue
        if facts.operation_mode == "JOINING":
            return Block(ONE_BOOTSTRAP_AT_A_TIME, f"{member.name} is joining the ring")
        joining = [p.address for p in facts.peers if p.status[1:] == "J"]
        if joining:
            return Block(
                ONE_BOOTSTRAP_AT_A_TIME,
                f"{member.name} sees {', '.join(joining)} joining the ring",
            )
    return None


# Replicated system keyspaces whose replication the operator itself keeps
# for the spec's size (`navigator.operator.cassandra.auth`): lowered right before a
# decommission that needs it, so the replication rules judge the others.
MANAGED_SYSTEM_KEYSPACES = ("system_auth", "system_distributed", "system_traces")


def keyspaces(observed: Observed) -> dict[str, Replication]:
    """Keyspaces and replication as the members report them (union by name)."""
    out: dict[str, Replication] = {}
    for member in observed.members():
        for ks in member.facts.keyspaces if member.facts else []:
            out.setdefault(ks.name, _replication(ks))
    return out


def judged_keyspaces(observed: Observed) -> dict[str, Replication]:
    """The keyspaces whose replication may refuse a member's removal: all,
    but those the operator manages itself (when it does: `observed.auth`)."""
    found = keyspaces(observed)
    if observed.auth is None:
        return found
    return {k: v for k, v in found.items() if k not in MANAGED_SYSTEM_KEYSPACES}


def _replication(ks: Keyspace) -> Replication:
    return Replication(strategy=ks.strategy, factors=dict(ks.replication))


def _in_datacenter(observed: Observed, datacenter: str) -> list[Member]:
    return [m for m in observed.members() if m.datacenter == datacenter]


def decommission_keeps_rf(observed: Observed, leaving: Member) -> Block | None:
    """The pilot's own rule, with the keyspaces from the pilots' facts and the
    number of members left in the leaving member's datacenter."""
    remaining = len(_in_datacenter(observed, leaving.datacenter)) - 1
    reason = decommission_keeps_replication(
        judged_keyspaces(observed), datacenter=leaving.datacenter, remaining=remaining
    )
    return Block(DECOMMISSION_KEEPS_RF, reason) if reason else None


def removed_pools(observed: Observed) -> set[str]:
    """Pools no longer in the spec: every member of theirs is leaving."""
    return {s.name for s in observed.pools if s.removed}


def pool_removal_keeps_replication(observed: Observed, state: PoolState) -> Block | None:
    """Removing every member of `state` (a pool taken out of the spec), and of
    any other pool being removed, leaves every keyspace at least its
    replication factor in the pool's datacenter, counting only the members
    the spec keeps. So the last rack of a datacenter a keyspace replicates to
    is never removed, and a removal that could not finish is refused before
    its first decommission rather than halfway."""
    datacenter = state.pool.datacenter
    gone = removed_pools(observed)
    kept = [
        m
        for s in observed.pools
        if s.name not in gone
        for m in s.members
        if m.datacenter == datacenter and m.ordinal < s.pool.replicas
    ]
    short = [
        f"{name} (RF {rep.in_datacenter(datacenter)})"
        for name, rep in sorted(judged_keyspaces(observed).items())
        if rep.in_datacenter(datacenter) > len(kept)
    ]
    if not short:
        return None
    return Block(
        POOL_REMOVAL_KEEPS_REPLICATION,
        f"removing pool {state.name} would leave {len(kept)} node(s) in datacenter"
        f" {datacenter}, fewer than the replication factor of {', '.join(short)};"
        " put the pool back in the spec, or lower the replication first",
    )


_SIZE = re.compile(r"^\s*([0-9.]+)\s*(bytes|B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)?\s*$")
_FACTOR = {"bytes": 1, "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
_FACTOR.update({"KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40})


def parse_load(text: str) -> float | None:
    """Bytes from Cassandra's load string (e.g. '104.5 KiB'); None if unknown."""
    match = _SIZE.match(text)
    return float(match[1]) * _FACTOR[match[2] or "bytes"] if match else None


def parse_quantity(text: str) -> float:
    """Bytes of a volume size; 0 when unreadable (so the size rule fails closed)."""
    return float(quantity(text) or 0)


def _loads(observed: Observed, members: Iterable[Member]) -> tuple[float, list[str]]:
    """Total load of `members` as each reports about itself, and who is unknown."""
    total, unknown = 0.0, []
    for m in members:
        peer = next((p for p in m.facts.peers if p.host_id == m.host_id), None) if m.facts else None
        load = parse_load(peer.load) if peer else None
        if load is None:
            unknown.append(m.name)
        else:
            total += load
    return total, unknown


def remaining_nodes_can_hold_the_data(observed: Observed, leaving: Member) -> Block | None:
    """The datacenter's data (sum of the members' loads) must fit in the
    remaining members' volumes filled to at most MAX_FILL; members of a pool
    being removed do not remain. Fails closed: an unknown load blocks."""
    members = _in_datacenter(observed, leaving.datacenter)
    total, unknown = _loads(observed, members)
    if unknown:
        return Block(REMAINING_NODES_CAN_HOLD_THE_DATA, f"load unknown for {', '.join(unknown)}")
    sizes = {p.name: parse_quantity(p.pool.persistence.size) for p in observed.pools}
    gone = removed_pools(observed)  # their members all leave too
    staying = [m for m in members if m.name != leaving.name and m.pool not in gone]
    capacity = sum(sizes[m.pool] for m in staying) * MAX_FILL
    if total > capacity:
        return Block(
            REMAINING_NODES_CAN_HOLD_THE_DATA,
            f"datacenter {leaving.datacenter} holds {total / 2**30:.1f} GiB; the remaining"
            f" members' volumes hold {capacity / 2**30:.1f} GiB at {MAX_FILL:.0%} full",
        )
    return None


def peers_forgot_member(observed: Observed, gone: Member) -> Block | None:
    """No other member still lists the decommissioned member in its ring.
    Fails closed: without the member's host ID nothing can be checked, and a
    peer that cannot say (no Pilot status, facts from an earlier pod, an empty
    ring view) has not shown that it forgot the member."""
    if not gone.host_id:
        return Block(PEERS_FORGOT_MEMBER, f"host ID of {gone.name} unknown")
    for m in observed.members():
        if m.name == gone.name:
            continue
        ring = ring_view(m)
        if isinstance(ring, str):
            reason = f"{m.name} has {ring}: cannot tell whether it forgot {gone.name}"
            return Block(PEERS_FORGOT_MEMBER, reason)
        if any(p.host_id == gone.host_id for p in ring):
            return Block(PEERS_FORGOT_MEMBER, f"{m.name} still lists {gone.name} in its ring")
    return None


def ring_view(member: Member) -> list[Peer] | str:
    """The ring as `member` sees it now, or why that view is no evidence: no
    facts, facts that are not current, or an empty ring (a node always lists
    itself). The "did the others forget / never see it" rules fail closed on it."""
    if member.facts is None or not member.current_facts:
        return "no current facts"
    return member.facts.peers or "an empty ring"


def hints_delivered(observed: Observed) -> Block | None:
    """No serving member holds hints for another member: the writes a
    restarted member missed while it was down have reached it, so restarting
    the next one never leaves a row on fewer replicas than it was written to.
    Fails closed: a member that cannot say blocks."""
    for member in observed.members():
        if not member.serving or member.facts is None:
            continue
        pending = member.facts.hints_pending
        if pending is None:
            return Block(HINTS_DELIVERED, f"{member.name} cannot say which hints it holds")
        names = {m.host_id: m.name for m in observed.members()}
        held = sorted(names.get(h, h) for h, files in pending.items() if files)
        if held:
            return Block(
                HINTS_DELIVERED,
                f"{member.name} still holds hints for {', '.join(held)}",
            )
    return None


def never_joined(observed: Observed, member: Member) -> Block | None:
    """`member` never joined the ring, so removing it without a decommission
    loses nothing: it has no host ID of its own, and the ring as every other
    member sees it (current facts, fails closed otherwise) holds only nodes
    that are the other members. A node the others see but cannot name could
    be `member` (its pilot may just be unable to report), so it blocks."""
    if member.host_id:
        return Block(NEVER_JOINED, f"{member.name} has host ID {member.host_id}: it joined")
    others = [m for m in observed.members() if m.name != member.name]
    known = {m.host_id for m in others if m.host_id}
    if not others:
        return Block(NEVER_JOINED, f"no other member can say whether {member.name} joined")
    for m in others:
        ring = ring_view(m)
        if isinstance(ring, str):
            reason = (
                f"{m.name} has no current ring view ({ring}): cannot tell if {member.name} joined"
            )
            return Block(NEVER_JOINED, reason)
        unknown = sorted(p.address or p.host_id for p in ring if p.host_id not in known)
        if unknown:
            return Block(
                NEVER_JOINED,
                f"{m.name} sees {', '.join(unknown)} in the ring, which no other member is:"
                f" it may be {member.name}",
            )
    return None
