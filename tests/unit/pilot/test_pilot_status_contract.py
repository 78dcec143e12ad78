"""What the pilot writes into `Pilot.status` is the API's `PilotStatus`: one
definition of the wire contract, checked here against the pilot's own output
(including the incarnation fields the operator trusts facts by)."""

from __future__ import annotations

from pathlib import Path

import pytest

from navigator.api.pilot import PilotStatus
from navigator.pilot.cassandra.adapter import CassandraAdapter, Launch, launch_hash
from navigator.pilot.cassandra.facts import CassandraFacts, Peer
from navigator.pilot.cli import _config, incarnation
from navigator.pilot.core.intents import Outcome, Phase
from navigator.pilot.core.loop import Pilot

pytestmark = pytest.mark.unit

LAUNCH = Launch(
    files={Path("/etc/cassandra/cassandra.yaml"): "a: 1\n"}, argv=("java",), cql_host=""
)


class NoStore:
    async def read(self) -> object:
        raise AssertionError("not used")

    async def write_status(self, status: dict[str, object]) -> None:
        raise AssertionError("not used")


async def test_what_the_pilot_writes_validates_against_the_api() -> None:
    adapter = CassandraAdapter(LAUNCH, jolokia_url="http://127.0.0.1:1/")
    pilot = Pilot(adapter, NoStore())  # type: ignore[arg-type]
    pilot.facts = CassandraFacts(
        host_id="h1",
        operation_mode="NORMAL",
        release_version="5.0.6",
        schema_version="s1",
        cluster_name="c",
        native_transport_running=True,
        peers=(Peer("10.0.0.1", "h1", True, "NORMAL", "dc1", "r1", "1 KiB"),),
        keyspaces={},
    )
    pilot.outcomes = {"d1": Outcome("d1", "Decommission", Phase.RUNNING, "started", 1)}
    pilot.incarnation = incarnation({"NAVIGATOR_REVISION": "abc", "POD_UID": "uid-1"})
    boot = await adapter.boot((), {})
    assert not boot.hold
    pilot.incarnation["configHash"] = boot.config_hash
    pilot.start = {"plan": "Join", "reason": "restarting on its own data", "seeds": ["10.0.0.2"]}
    status = PilotStatus.model_validate(pilot._status())
    assert (status.revision, status.pod_uid) == ("abc", "uid-1")
    assert status.config_hash == launch_hash(LAUNCH)
    assert status.facts is not None
    assert status.facts.release_version == "5.0.6"
    assert status.start is not None
    assert status.start.seeds == ["10.0.0.2"]


def test_config_comes_from_the_pod_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAVIGATOR_CONFIG", '{"cassandraYaml": {"x": 1}, "jvmOptions": []}')
    assert _config({"config": {"cassandraYaml": {"x": 2}}}) == {
        "cassandraYaml": {"x": 1},
        "jvmOptions": [],
    }
    monkeypatch.delenv("NAVIGATOR_CONFIG")
    assert _config({"config": {"cassandraYaml": {"x": 2}}}) == {
        "cassandraYaml": {"x": 2},
        "auth": True,  # on unless the spec turns it off
    }
    off = {"config": {}, "auth": {"enabled": False}}
    assert _config(off) == {"auth": False}


def test_the_config_hash_follows_what_the_database_runs() -> None:
    other = Launch(
        files={Path("/etc/cassandra/cassandra.yaml"): "a: 2\n"}, argv=("java",), cql_host=""
    )
    assert launch_hash(LAUNCH) == launch_hash(LAUNCH)
    assert launch_hash(LAUNCH) != launch_hash(other)
