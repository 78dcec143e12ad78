"""OpenSearchCluster and ElasticsearchCluster in the real API server: what is
accepted (shapes, defaults, transitions), names, columns and status. What is
refused is the `invalid-search/` corpus of test_api_admission.py; `kubectl
explain` is in test_api_kubectl.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from navigator.api.search import ELASTICSEARCH, ENGINES, OPENSEARCH, Engine

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("navigator_crds")]

IDS = [e.name for e in ENGINES]


def manifest(engine: Engine, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "navigator.dev/v1alpha1",
        "kind": engine.kind,
        "metadata": {"name": "c"},
        "spec": {"version": engine.example_version, **spec},
    }


def apply(cluster: Any, ns: str, engine: Engine, spec: dict[str, Any]) -> None:
    cluster.kubectl(
        "apply", "--server-side", "--field-manager=test", "-n", ns, "-f", "-",
        input=json.dumps(manifest(engine, spec)),
    )  # fmt: skip


def stored(cluster: Any, ns: str, engine: Engine) -> dict[str, Any]:
    out = cluster.kubectl("get", engine.short_names[0], "c", "-n", ns, "-o", "json").stdout
    obj: dict[str, Any] = json.loads(out)
    return obj


def pools(engine: Engine, *shape: tuple[str, int, list[str]]) -> dict[str, Any]:
    return {"nodePools": [{"name": n, "replicas": r, "roles": roles} for n, r, roles in shape]}


@pytest.mark.parametrize("engine", ENGINES, ids=IDS)
def test_minimal_cluster_gets_every_default(
    local_cluster: Any, namespace: str, engine: Engine
) -> None:
    apply(local_cluster, namespace, engine, pools(engine, ("nodes", 1, [engine.manager_role])))
    spec = stored(local_cluster, namespace, engine)["spec"]
    assert spec["nodePools"] == [
        {
            "name": "nodes",
            "replicas": 1,
            "roles": [engine.manager_role],
            "config": {"settings": {}},
            "persistence": {"size": "10Gi"},
        }
    ]
    assert spec["paused"] is False
    assert spec["imagePullPolicy"] == "IfNotPresent"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenScaled": "Retain",
        "whenDeleted": "Retain",
    }


@pytest.mark.parametrize("engine", ENGINES, ids=IDS)
def test_dedicated_pools_and_free_settings_are_accepted(
    local_cluster: Any, namespace: str, engine: Engine
) -> None:
    """Manager-only, data-only, ingest and coordinating-only pools; an odd number
    of managers over several pools; settings Navigator does not own, flat or
    nested, including under the first part of an owned key (cluster.*, node.*)."""
    m = engine.manager_role
    spec = pools(
        engine,
        ("managers", 3, [m]),
        ("hot", 2, [m, "data"]),
        ("warm", 4, ["data"]),
        ("ingest", 1, ["ingest"]),
        ("coordinating", 2, []),
    )
    spec["nodePools"][2]["config"] = {
        "settings": {
            "node.attr.temp": "warm",
            "cluster": {"routing": {"allocation": {"awareness": {"attributes": "temp"}}}},
            "node": {"attr": {"rack": "r1"}},
            "thread_pool.write.queue_size": 2000,
        }
    }
    apply(local_cluster, namespace, engine, spec)
    got = stored(local_cluster, namespace, engine)["spec"]["nodePools"]
    assert [p["roles"] for p in got] == [[m], [m, "data"], ["data"], ["ingest"], []]
    assert got[2]["config"] == spec["nodePools"][2]["config"]  # kept as written


@pytest.mark.parametrize(
    ("engine", "before", "after"),
    [
        (OPENSEARCH, "2.19.1", "2.19.6"),
        (OPENSEARCH, "2.9.0", "2.10.0"),  # numbers, not strings
        (OPENSEARCH, "2.19.6", "3.0.0"),
        (OPENSEARCH, "2.19.1", "2.19.1"),
        (ELASTICSEARCH, "8.18.7", "8.19.3"),
        (ELASTICSEARCH, "8.19.3", "9.0.0"),
    ],
)
def test_allowed_upgrades(
    local_cluster: Any, namespace: str, engine: Engine, before: str, after: str
) -> None:
    shape = pools(engine, ("nodes", 3, [engine.manager_role, "data"]))
    apply(local_cluster, namespace, engine, {**shape, "version": before})
    apply(local_cluster, namespace, engine, {**shape, "version": after})
    assert stored(local_cluster, namespace, engine)["spec"]["version"] == after


@pytest.mark.parametrize("engine", ENGINES, ids=IDS)
def test_managers_grow_by_two_and_pools_come_and_go(
    local_cluster: Any, namespace: str, engine: Engine
) -> None:
    m = engine.manager_role
    steps = [
        pools(engine, ("nodes", 1, [m, "data"])),
        pools(engine, ("nodes", 3, [m, "data"])),
        pools(engine, ("nodes", 3, [m, "data"]), ("managers", 2, [m])),
        pools(engine, ("managers", 3, [m]), ("data", 2, ["data"])),
    ]
    for spec in steps:
        apply(local_cluster, namespace, engine, spec)
    names = [p["name"] for p in stored(local_cluster, namespace, engine)["spec"]["nodePools"]]
    assert names == ["managers", "data"]


def test_short_names_are_ours_alone(local_cluster: Any) -> None:
    """No built-in resource (or other CRD installed here) answers to them."""
    table = local_cluster.kubectl("api-resources", "--no-headers").stdout
    owners: dict[str, list[str]] = {}
    for line in table.splitlines():
        cells = line.split()  # NAME [SHORTNAMES] APIVERSION NAMESPACED KIND
        if len(cells) == 5:
            for short in cells[1].split(","):
                owners.setdefault(short, []).append(cells[4])
    for engine in ENGINES:
        for short in engine.short_names:
            assert owners.get(short) == [engine.kind], (short, owners.get(short))


@pytest.mark.parametrize("engine", ENGINES, ids=IDS)
def test_get_shows_health_among_the_columns(
    local_cluster: Any, namespace: str, engine: Engine
) -> None:
    apply(local_cluster, namespace, engine, pools(engine, ("nodes", 3, [engine.manager_role])))
    status = {"phase": "Ready", "readyMembers": "3/3", "health": "yellow"}
    local_cluster.kubectl(
        "patch", engine.short_names[1], "c", "-n", namespace, "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": status}),
    )  # fmt: skip
    out = local_cluster.kubectl("get", engine.short_names[0], "-n", namespace).stdout
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "READY", "VERSION", "HEALTH", "STATUS", "AGE"]
    assert row.split()[:5] == ["c", "3/3", engine.example_version, "yellow", "Ready"]


@pytest.mark.parametrize("engine", ENGINES, ids=IDS)
def test_status_refuses_an_unknown_health(
    local_cluster: Any, namespace: str, engine: Engine
) -> None:
    apply(local_cluster, namespace, engine, pools(engine, ("nodes", 3, [engine.manager_role])))
    proc = local_cluster.kubectl(
        "patch", engine.short_names[0], "c", "-n", namespace, "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": {"health": "orange"}}), check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "status.health" in proc.stderr
    assert "Unsupported value" in proc.stderr
