"""Builds `Observed` snapshots of simulated clusters for the decision tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from navigator.api.cassandra import CassandraClusterSpec, CassandraNodePool
from navigator.api.pilot import Facts, IntentOutcome, Keyspace, Peer, PilotStatus
from navigator.operator.cassandra.observed import Member, Observed, PodView, PoolState

PoolShape = tuple[str, int, int]  # name, spec replicas, StatefulSet replicas
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
REVISION = "rev-1"
# The id of the decommission intent the operator writes at generation 1
# (`observed`'s default): `Observed.intent_id`.
DECOMMISSION_G1 = "decommission-g1"


def pod(name: str, revision: str = REVISION, *, ready: bool = True, age: float = 3600) -> PodView:
    """A member's Ready pod on `revision`, started `age` seconds before NOW."""
    return PodView(
        uid=f"uid-{name}-{revision}",
        revision=revision,
        version="5.0.6",
        ready=ready,
        started_at=NOW - timedelta(seconds=age),
    )


def host_id(name: str) -> str:
    return f"id-{name}"


def observed(
    pools: Sequence[PoolShape],
    *,
    rf: int = 0,
    paused: bool = False,
    generation: int = 1,
    load: str = "1.0 GiB",
    size: str = "10Gi",
    datacenter: str = "dc1",
) -> Observed:
    """A cluster whose existing members are all Up/Normal in every view."""
    spec = CassandraClusterSpec(
        version="5.0.6",
        paused=paused,
        nodePools=[
            CassandraNodePool(
                name=n, replicas=want, datacenter=datacenter, persistence={"size": size}
            )
            for n, want, _ in pools
        ],
    )
    names = [(n, i) for n, _, have in pools for i in range(have)]
    peers = [
        Peer(
            hostID=host_id(f"c-{n}-{i}"),
            address=f"10.0.0.{k}",
            up=True,
            state="NORMAL",
            status="UN",
            datacenter=datacenter,
            rack=n,
            load=load,
        )
        for k, (n, i) in enumerate(names)
    ]
    keyspaces = [Keyspace(name="ks", replication={datacenter: rf})] if rf else []
    states = []
    for pool, (n, _, have) in zip(spec.node_pools, pools, strict=True):
        members = tuple(
            Member(
                name=f"c-{n}-{i}",
                pool=n,
                datacenter=datacenter,
                ordinal=i,
                pilot=PilotStatus(
                    ready=True,
                    podUID=pod(f"c-{n}-{i}").uid,
                    revision=REVISION,
                    facts=Facts(
                        hostID=host_id(f"c-{n}-{i}"),
                        operationMode="NORMAL",
                        releaseVersion="5.0.6",
                        schemaVersion="schema-1",
                        hintsPending={},
                        peers=peers,
                        keyspaces=keyspaces,
                    ),
                ),
                pod=pod(f"c-{n}-{i}"),
            )
            for i in range(have)
        )
        states.append(
            PoolState(
                pool=pool,
                exists=True,
                replicas=have,
                ready_replicas=have,
                updated_replicas=have,
                members=members,
                revision=REVISION,
            )
        )
    return Observed(cluster="c", spec=spec, generation=generation, pools=tuple(states), now=NOW)


def map_member(obs: Observed, name: str, **changes: object) -> Observed:
    """`obs` with one member's fields replaced."""
    pools = tuple(
        replace(s, members=tuple(replace(m, **changes) if m.name == name else m for m in s.members))  # type: ignore[arg-type]
        for s in obs.pools
    )
    return replace(obs, pools=pools)


def with_outcome(
    obs: Observed, name: str, intent_id: str, phase: str, message: str = ""
) -> Observed:
    member = next(m for m in obs.members() if m.name == name)
    assert member.pilot is not None
    outcome = IntentOutcome(id=intent_id, action="Decommission", phase=phase, message=message)  # type: ignore[arg-type]
    pilot = member.pilot.model_copy(update={"intents": [outcome]})
    return map_member(obs, name, intents=(intent_id,), pilot=pilot)


def forget(obs: Observed, name: str) -> Observed:
    """Every other member's ring no longer lists `name`."""
    out = obs
    for m in obs.members():
        if m.name == name or m.pilot is None or m.pilot.facts is None:
            continue
        facts = m.pilot.facts
        peers = [p for p in facts.peers if p.host_id != host_id(name)]
        pilot = m.pilot.model_copy(update={"facts": facts.model_copy(update={"peers": peers})})
        out = map_member(out, m.name, pilot=pilot)
    return out


def set_peer_status(obs: Observed, observer: str, target: str, status: str) -> Observed:
    m = next(m for m in obs.members() if m.name == observer)
    assert m.pilot is not None
    assert m.pilot.facts is not None
    peers = [
        p.model_copy(update={"status": status}) if p.host_id == host_id(target) else p
        for p in m.pilot.facts.peers
    ]
    facts = m.pilot.facts.model_copy(update={"peers": peers})
    return map_member(obs, observer, pilot=m.pilot.model_copy(update={"facts": facts}))
