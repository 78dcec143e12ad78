"""The Cassandra adapter: how the pilot core starts, observes and operates Cassandra."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from navigator.pilot.cassandra import observe as obs
from navigator.pilot.cassandra.facts import CassandraFacts
from navigator.pilot.cassandra.jolokia import Jolokia, Read
from navigator.pilot.cassandra.safety import decommission_refusal
from navigator.pilot.cassandra.start import StartInputs, StartPlan, pending_replace, plan
from navigator.pilot.cassandra.tls import TlsReloader, write_file
from navigator.pilot.core.intents import Intent, Outcome, Progress
from navigator.pilot.core.loop import Boot

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
    private: frozenset[Path] = frozenset()  # of `files`, those written mode 0600 (keys)


# A Replace is over when the node serves in the ring as itself.
_REPLACE = {
    "STARTING": Progress.IN_PROGRESS,
    "JOINING": Progress.IN_PROGRESS,
    "NORMAL": Progress.DONE,
}

LaunchFor = Callable[[StartPlan], Launch]
GatherStart = Callable[[Intent | None], Awaitable[StartInputs]]


class CassandraAdapter:
    def __init__(
        self,
        launch: Launch | LaunchFor,
        *,
        jolokia_url: str,
        gather: GatherStart | None = None,
        tls: TlsReloader | None = None,
    ) -> None:
        """`launch`: how to start, or how to start given a start plan (then
        `gather` reads the plan's inputs: seeds, joined members, the volume).
        `tls`: applies renewed certificates while Cassandra runs, checked
        with each observation (it paces itself)."""
        self.launch_for: LaunchFor | None = None if isinstance(launch, Launch) else launch
        self.launch: Launch | None = launch if isinstance(launch, Launch) else None
        self.gather = gather
        self.replacing = ""  # the address this node replaces, when started as a replacement
        self.tls = tls
        self.jmx = Jolokia(jolokia_url, timeout=5.0)
        # Decommission blocks in JMX until done: a separate client without timeout.
        self.jmx_long = Jolokia(jolokia_url, timeout=None)

    async def boot(self, intents: Sequence[Intent], outcomes: Mapping[str, Outcome]) -> Boot:
        """Plan the start (`start.plan`); hold, or fix the launch and go."""
        if self.launch_for is None or self.gather is None:
            assert self.launch is not None
            return Boot(config_hash=launch_hash(self.launch))
        decided = plan(await self.gather(pending_replace(intents, outcomes)))
        if decided.hold:
            return Boot(hold=decided.reason, report=decided.report())
        self.launch = self.launch_for(decided)
        self.replacing = decided.replacing
        return Boot(
            report=decided.report(), runs=decided.intent, config_hash=launch_hash(self.launch)
        )

    def command(self) -> Sequence[str]:
        assert self.launch is not None, "boot() decides the launch first"
        return self.launch.argv

    async def prepare(self) -> None:
        """Write cassandra.yaml & co. (rendered from the spec and this pod's identity)."""
        assert self.launch is not None, "boot() decides the launch first"
        for path, text in self.launch.files.items():
            write_file(path, text, private=path in self.launch.private)

    async def observe(self) -> CassandraFacts:
        if self.tls is not None:
            await self.tls.check()  # never raises
        return await obs.observe(self.jmx)

    def progress(self, action: str, facts: CassandraFacts | None) -> Progress:
        if action == "Replace":
            if not self.replacing:
                return Progress.NOT_STARTED  # and refused: see `refusal`
            return (
                _REPLACE.get(facts.operation_mode, Progress.UNKNOWN) if facts else Progress.UNKNOWN
            )
        return obs.progress(action, facts)

    def refusal(self, action: str, facts: CassandraFacts) -> str | None:
        if action == "Replace" and not self.replacing:
            return (
                "NotStartedAsReplacement: the database already runs, on its own data; a"
                " replacement happens only at a start on an empty volume"
            )
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


def launch_hash(launch: Launch) -> str:
    """A hash of what the database was started with: its files and argv."""
    body = json.dumps(
        {"files": {str(k): v for k, v in sorted(launch.files.items())}, "argv": launch.argv},
        sort_keys=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()[:16]


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
