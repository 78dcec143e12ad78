"""Renderers: golden text of the tables (regenerate after an intended change
with `NAVIGATOR_UPDATE_SNAPSHOTS=1 uv run pytest tests/unit/status`), the
rows that matter, and the shape of `-o json`."""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console
from status_fixtures import (
    HOSTS,
    NEW_REVISION,
    OLD_REVISION,
    STALLED,
    rolling_upgrade,
    scale_in_in_progress,
    scale_in_refused,
    with_down_member,
)

from navigator.status.render import (
    age,
    cluster_json,
    cluster_renderable,
    clusters_json,
    summary_renderable,
    to_text,
)
from navigator.status.view import ClusterView, cluster_view

pytestmark = pytest.mark.unit

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("NAVIGATOR_UPDATE_SNAPSHOTS") == "1"
NOW = datetime(2026, 1, 1, 0, 5, 7, tzinfo=UTC)
FIXTURES = {
    "scale-in": scale_in_in_progress,
    "scale-in-refused": scale_in_refused,
    "member-down": with_down_member,
    "rollout": rolling_upgrade,
    "rollout-stalled": lambda: rolling_upgrade(stalled=True),
}


def view(name: str) -> ClusterView:
    return cluster_view(*FIXTURES[name]())


def row(text: str, first: str) -> list[str]:
    """The cells of the table line that starts with `first`, split on blanks."""
    line = next(line for line in text.splitlines() if line.strip().startswith(first))
    return line.split()


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_cluster_table_snapshot(name: str) -> None:
    text = to_text(cluster_renderable(view(name), NOW))
    golden = SNAPSHOTS / f"{name}.txt"
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"no golden {golden.name}: create it with NAVIGATOR_UPDATE_SNAPSHOTS=1"
    assert text == golden.read_text(), "snapshot changed: rerun with NAVIGATOR_UPDATE_SNAPSHOTS=1"


def test_cluster_table_says_what_the_operation_waits_on() -> None:
    text = to_text(cluster_renderable(view("scale-in"), NOW))
    lines = text.splitlines()
    assert lines[0].split() == [
        *("CassandraCluster", "prod/demo", "Cassandra", "5.0.6", "Progressing"),
        *("ready", "4/3", "generation", "2"),
    ]
    assert lines[1] == ("Operation  ScaleIn demo-rack1-3, started 2026-01-01T00:00:00Z (5m7s ago)")
    assert lines[2] == (
        "Waiting on DecommissionCompletes: waiting for the pilot of demo-rack1-3"
        " to finish its decommission"
    )


def test_the_leaving_member_row() -> None:
    text = to_text(cluster_renderable(view("scale-in"), NOW))
    assert row(text, "MEMBER") == [
        *("MEMBER", "POOL", "DC", "RACK", "STATE", "MODE", "LOAD", "READY"),
        *("REVISION", "UPDATED", "HOST", "ID", "NOTE"),
    ]
    assert row(text, "demo-rack1-3") == [
        *("demo-rack1-3", "rack1", "dc1", "rack1", "UL", "LEAVING", "1.18", "MiB", "no"),
        *("-", "-"),  # an operator without rollouts wrote the status: nothing to say
        *(HOSTS[3], "decommissioning", "(intent"),
    ]
    assert "decommissioning (intent decommission-g2 Running, attempt 1)" in " ".join(text.split())
    assert row(text, "demo-rack1-0")[:12] == [
        *("demo-rack1-0", "rack1", "dc1", "rack1", "UN", "NORMAL", "1.21", "MiB", "yes"),
        *("-", "-", HOSTS[0]),
    ]
    assert row(text, "rack1") == ["rack1", "dc1", "rack1", "3", "4", "4", "4", "-"]


def test_a_narrow_terminal_keeps_whole_cells() -> None:
    text = to_text(cluster_renderable(view("scale-in"), NOW), width=100)
    assert "demo-rack1-3" in text
    assert HOSTS[3] in text.replace("\n", "")


def test_down_member_and_no_operation() -> None:
    text = to_text(cluster_renderable(view("member-down"), NOW))
    assert "Operation  none (settled)" in text
    assert row(text, "demo-rack1-2")[4:6] == ["DN", "-"]
    assert "Rollout" not in text
    assert "last error: cassandra exited 137" in text
    assert row(text, "Degraded") == [
        "Degraded",
        "True",
        "MembersDown",
        "seen",
        "down:",
        "demo-rack1-2",
    ]


def test_summary_one_row_per_cluster() -> None:
    views = [view("scale-in"), view("member-down")]
    text = to_text(summary_renderable(views, now=NOW))
    assert row(text, "NAME")[:5] == ["NAME", "VERSION", "PHASE", "READY", "MEMBERS"]
    rows = [line.split() for line in text.splitlines() if line.strip().startswith("demo")]
    assert rows[0][:9] == [
        *("demo", "5.0.6", "Progressing", "4/3", "3", "UN,", "1", "UL"),
        "ScaleIn",
    ]
    assert "DecommissionCompletes:" in rows[0]
    assert rows[1] == ["demo", "5.0.6", "Degraded", "2/3", "2", "UN,", "1", "DN", "-", "-"]
    everywhere = to_text(summary_renderable(views, all_namespaces=True, now=NOW))
    assert row(everywhere, "NAMESPACE")[:2] == ["NAMESPACE", "NAME"]
    assert row(everywhere, "prod")[:2] == ["prod", "demo"]


def test_json_of_a_scale_in() -> None:
    body = cluster_json(view("scale-in"))
    json.dumps(body)  # serializable as is
    assert set(body) == {
        *("name", "namespace", "version", "phase", "readyMembers", "desiredMembers"),
        *("paused", "generation", "observedGeneration", "operation", "pools", "members"),
        *("rollout", "conditions"),
    }
    assert body["rollout"] is None
    assert body["operation"] == {
        "type": "ScaleIn",
        "target": "demo-rack1-3",
        "startedAt": "2026-01-01T00:00:00Z",
        "blockedBy": {
            "rule": "DecommissionCompletes",
            "reason": "waiting for the pilot of demo-rack1-3 to finish its decommission",
        },
    }
    assert body["pools"] == [
        {
            "name": "rack1",
            "datacenter": "dc1",
            "rack": "rack1",
            "desiredReplicas": 3,
            "replicas": 4,
            "readyReplicas": 4,
            "updatedReplicas": 4,
            "revision": "",
        }
    ]
    leaving = body["members"][3]
    assert leaving == {
        "name": "demo-rack1-3",
        "pool": "rack1",
        "datacenter": "dc1",
        "rack": "rack1",
        "state": "UL",
        "operationMode": "LEAVING",
        "load": "1.18 MiB",
        "hostID": HOSTS[3],
        "version": "5.0.6",
        "ready": False,
        "revision": "",
        "updated": None,
        "activity": "decommissioning",
        "leaving": True,
        "decommission": {
            "intent": "decommission-g2",
            "phase": "Running",
            "message": "decommission started",
            "attempts": 1,
        },
        "lastError": None,
    }
    assert body["members"][0]["decommission"] is None
    assert body["members"][0]["leaving"] is False
    assert body["conditions"][0] == {
        "type": "Available",
        "status": "True",
        "reason": "MembersReady",
        "message": "4 of 4 members ready",
    }


def test_json_of_a_settled_cluster_and_of_a_list() -> None:
    settled = cluster_json(view("member-down"))
    assert settled["operation"] is None
    assert settled["members"][2]["lastError"] == "cassandra exited 137"
    listed = clusters_json([view("scale-in"), view("member-down")])
    assert [c["phase"] for c in listed["items"]] == ["Progressing", "Degraded"]
    assert clusters_json([]) == {"items": []}


@pytest.mark.parametrize(
    ("started", "expected"),
    [
        ("2026-01-01T00:05:00Z", "7s"),
        ("2026-01-01T00:00:00Z", "5m7s"),
        ("2025-12-31T21:00:00+00:00", "3h5m"),
        ("2025-12-25T00:00:00Z", "7d0h"),
        ("2026-01-02T00:00:00Z", "0s"),  # clocks disagree: never negative
        ("yesterday", ""),
        ("", ""),
    ],
)
def test_age(started: str, expected: str) -> None:
    assert age(started, NOW) == expected


def test_a_rollout_line_between_the_operation_and_what_it_waits_on() -> None:
    lines = to_text(cluster_renderable(view("rollout"), NOW)).splitlines()
    assert lines[1] == "Operation  Upgrade demo-rack1-1, started 2026-01-01T00:00:00Z (5m7s ago)"
    assert lines[2] == "Rollout    Upgrade  1/3 members updated  current demo-rack1-1"
    assert lines[3].startswith("Waiting on RestartedMemberServes: demo-rack1-1 runs revision")


def test_a_stalled_rollout_says_so_and_why() -> None:
    lines = to_text(cluster_renderable(view("rollout-stalled"), NOW), width=300).splitlines()
    assert lines[2] == "Rollout    Upgrade  1/3 members updated  current demo-rack1-1  STALLED"
    assert lines[3] == f"Waiting on RolloutStalled: {STALLED['reason']}"


def test_stalled_is_in_red() -> None:
    console = Console(file=io.StringIO(), width=300, color_system="standard", record=True)
    console.print(cluster_renderable(view("rollout-stalled"), NOW))
    styled = console.export_text(styles=True)
    assert "\x1b[1;31mSTALLED\x1b[0m" in styled
    assert "\x1b[1;31mRolloutStalled\x1b[0m" in styled


def test_member_rows_show_the_short_revision_and_whether_updated() -> None:
    text = to_text(cluster_renderable(view("rollout"), NOW))
    cells = {n: row(text, n) for n in ("demo-rack1-0", "demo-rack1-1", "demo-rack1-2")}
    assert cells["demo-rack1-0"][9:11] == [OLD_REVISION[:7], "no"]
    assert cells["demo-rack1-2"][9:11] == [NEW_REVISION[:7], "yes"]
    assert cells["demo-rack1-1"][4:11] == [
        *("DN", "STARTING", "1.19", "MiB", "no"),
        *(NEW_REVISION[:7], "yes"),
    ]
    assert cells["demo-rack1-1"][12:] == ["restarting"]
    assert row(text, "rack1")[-1] == NEW_REVISION[:7]
    stalled = to_text(cluster_renderable(view("rollout-stalled"), NOW))
    assert row(stalled, "demo-rack1-1")[12:] == ["restart", "stalled"]


def test_summary_counts_the_rollout() -> None:
    text = to_text(summary_renderable([view("rollout-stalled")], now=NOW), width=300)
    line = " ".join(row(text, "demo"))
    assert "Upgrade demo-rack1-1, 1/3 updated (5m7s)" in line
    assert "RolloutStalled: demo-rack1-1 did not come back" in line


def test_json_of_a_rollout() -> None:
    body = cluster_json(view("rollout-stalled"))
    assert body["rollout"] == {
        "type": "Upgrade",
        "updatedMembers": 1,
        "members": 3,
        "currentMember": "demo-rack1-1",
        "stalled": True,
    }
    assert body["operation"]["blockedBy"] == STALLED
    assert body["pools"][0]["revision"] == NEW_REVISION
    assert [(m["revision"], m["updated"], m["activity"]) for m in body["members"]] == [
        (OLD_REVISION, False, ""),
        (NEW_REVISION, True, "restart stalled"),
        (NEW_REVISION, True, ""),
    ]
