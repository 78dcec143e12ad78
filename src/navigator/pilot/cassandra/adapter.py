"""The Cassandra adapter: how the pilot core starts, observes and operates Cassandra."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from navigator.pilot.cassandra import observe as obs
from navigator.pilot.cassandra.facts import CassandraFacts
from navigator.pilot.cassandra.jolokia import Jolokia, Read
from navigator.pilot.cassandra.safety import decommission_refusal
from navigator.pilot.core.intents import Progress

CQL_PORT = 9042
# What Cassandra says when it refuses to start after its decommission.
DECOMMISSIONED_AT_START = "This node was decommissioned and will not rejoin the ring"
# Answer the liveness probe within the kubelet's timeout even when the JVM hangs.
ALIVE_TIMEOUT = 1.5


@dataclass(frozen=True)
class Launch:
    """How to start this node: the rendered files and the command line."""

    files: dict[Path, str]
    argv: tuple[str, ...]
    cql_host: str


class CassandraAdapter:
    def __init__(self, launch: Launch, *, jolokia_url: str) -> None:
        self.launch = launch
        self.jmx = Jolokia(jolokia_url, timeout=5.0)
        # Decommission blocks in JMX until done: a separate client without timeout.
        self.jmx_long = Jolokia(jolokia_url, timeout=None)

    def command(self) -> Sequence[str]:
        return self.launch.argv

    async def prepare(self) -> None:
        """Write cassandra.yaml & co. (rendered from the spec and this pod's identity)."""
        for path, text in self.launch.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_text(text)
            tmp.replace(path)

    async def observe(self) -> CassandraFacts:
        return await obs.observe(self.jmx)

    def progress(self, action: str, facts: CassandraFacts | None) -> Progress:
        return obs.progress(action, facts)

    def refusal(self, action: str, facts: CassandraFacts) -> str | None:
        return decommission_refusal(facts) if action == "Decommission" else None

    async def begin(self, action: str) -> None:
        await self.jmx_long.call(obs.begin_request(action))

    async def drain(self) -> None:
        await self.jmx_long.call(obs.begin_request("Drain"))

    def ready(self, facts: CassandraFacts | None) -> tuple[bool, str]:
        """Ready = this node is Up/Normal in its own view and serves CQL."""
        if facts is None:
            return False, "Cassandra is not answering on its management interface"
        if facts.operation_mode != "NORMAL":
            return False, f"operation mode {facts.operation_mode}"
        me = next((p for p in facts.peers if p.host_id == facts.host_id), None)
        if me is None or not me.up or me.state != "NORMAL":
            return False, "not Up/Normal in the ring yet"
        if not facts.native_transport_running:
            return False, "CQL (native transport) is not running"
        return True, "Up/Normal, accepting CQL"

    def left_for_good(self, last_words: Sequence[str]) -> str | None:
        """Cassandra refuses to start once it is decommissioned, and says so."""
        if any(DECOMMISSIONED_AT_START in line for line in last_words):
            return "Cassandra refuses to start: this node was decommissioned"
        return None

    async def alive(self) -> tuple[bool, str]:
        """Live = the JVM answers JMX within the timeout (a hung JVM does not)."""
        try:
            mode = await asyncio.wait_for(
                self.jmx.call(
                    Read("org.apache.cassandra.db:type=StorageService", ("OperationMode",))
                ),
                ALIVE_TIMEOUT,
            )
        except Exception as err:
            return False, f"management interface not answering: {type(err).__name__}"
        return True, f"answering ({mode.get('OperationMode') if isinstance(mode, dict) else mode})"

    def report(self, facts: CassandraFacts | None) -> dict[str, Any]:
        return facts_to_status(facts)


def facts_to_status(facts: CassandraFacts | None) -> dict[str, Any]:
    """Facts as JSON for `Pilot.status` (camelCase, stable order: no spurious writes)."""
    if facts is None:
        return {}
    return {
        "hostID": facts.host_id,
        "operationMode": facts.operation_mode,
        "releaseVersion": facts.release_version,
        "schemaVersion": facts.schema_version,
        "clusterName": facts.cluster_name,
        "nativeTransportRunning": facts.native_transport_running,
        "peers": [
            {
                "address": p.address,
                "hostID": p.host_id,
                "up": p.up,
                "state": p.state,
                "status": p.short,
                "datacenter": p.datacenter,
                "rack": p.rack,
                "load": p.load,
            }
            for p in facts.peers
        ],
        "keyspaces": [
            {
                "name": name,
                "strategy": rep.strategy,
                "replication": dict(sorted(rep.factors.items())),
            }
            for name, rep in sorted(facts.keyspaces.items())
        ],
        **(
            {"hintsPending": dict(sorted(facts.hints_pending.items()))}
            if facts.hints_pending is not None
            else {}
        ),
    }


__all__ = ["CassandraAdapter", "Launch", "facts_to_status"]
