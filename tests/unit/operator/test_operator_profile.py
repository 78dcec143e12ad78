"""The operator's Cassandra profile: a setting of the operator, carried into
the member pods only when it is not the default, and part of the revision."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from navigator.api.cassandra import CassandraCluster
from navigator.cassandra.profile import ENV, LOCAL_TEST, PRODUCTION
from navigator.operator import main
from navigator.operator.cassandra.builders import build_statefulset
from navigator.operator.cassandra.builders.statefulset import pool_revision
from navigator.operator.cassandra.reconcile import Reconciler, observe
from navigator.operator.cli import operator
from navigator.operator.core.revision import REVISION_ANNOTATION

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).parents[3] / "deploy" / "examples" / "cassandra-3-nodes.yaml"


def example() -> dict[str, Any]:
    obj = yaml.safe_load(EXAMPLE.read_text())
    obj["metadata"].update(namespace="db", uid="0000-uid", generation=1)
    return dict(obj)


def cluster() -> CassandraCluster:
    return CassandraCluster.model_validate(example())


def container_env(sts: dict[str, Any]) -> dict[str, Any]:
    container = sts["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


def test_production_pods_carry_no_profile_and_keep_their_revision() -> None:
    """The default changes nothing in a production pod template, so no
    production cluster rolls when its operator gains profiles."""
    c = cluster()
    pool = c.spec.node_pools[0]
    sts = build_statefulset(c, pool, replicas=3, profile=PRODUCTION)
    assert ENV not in container_env(sts)
    assert sts == build_statefulset(c, pool, replicas=3)
    assert pool_revision(c, pool, PRODUCTION) == pool_revision(c, pool)


def test_local_test_pods_name_their_profile_and_have_their_own_revision() -> None:
    c = cluster()
    pool = c.spec.node_pools[0]
    sts = build_statefulset(c, pool, replicas=3, profile=LOCAL_TEST)
    assert container_env(sts)[ENV] == "local-test"
    revision = pool_revision(c, pool, LOCAL_TEST)
    assert revision != pool_revision(c, pool)
    assert sts["spec"]["template"]["metadata"]["annotations"][REVISION_ANNOTATION] == revision


class FakeKube:
    """Just enough of `Kube` for a gather and a StatefulSet apply."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.applied: list[dict[str, Any]] = []

    async def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        return self.raw if kind == "CassandraCluster" else None

    async def list(self, kind: str, namespace: str, selector: dict[str, str]) -> list[Any]:
        return []

    async def apply(self, manifest: dict[str, Any], live: Any, *, guard: bool = False) -> None:
        self.applied.append(manifest)


def test_the_reconciler_builds_and_compares_for_its_profile() -> None:
    kube = FakeKube(example())
    reconciler = Reconciler(kube, profile=LOCAL_TEST)  # type: ignore[arg-type]
    world = asyncio.run(reconciler.gather("db", "demo"))
    assert world is not None
    pool = world.cluster.spec.node_pools[0]
    observed = observe(world, datetime.now(UTC))
    assert observed.pools[0].revision == pool_revision(world.cluster, pool, LOCAL_TEST)
    asyncio.run(reconciler._apply_statefulset(world, pool, 1))
    assert container_env(kube.applied[0])[ENV] == "local-test"


def test_the_operator_reads_its_profile_from_a_flag_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs: list[dict[str, Any]] = []
    monkeypatch.setattr(main, "run", lambda **kw: runs.append(kw))
    runner = CliRunner()
    assert runner.invoke(operator, [], env={ENV: ""}).exit_code == 0
    assert runner.invoke(operator, ["--cassandra-profile", "local-test"]).exit_code == 0
    assert runner.invoke(operator, [], env={ENV: "local-test"}).exit_code == 0
    assert [r["cassandra_profile"] for r in runs] == [PRODUCTION, LOCAL_TEST, LOCAL_TEST]
    bad = runner.invoke(operator, [], env={ENV: "fast"})
    assert bad.exit_code == 2
    assert "'fast' is not one of 'production', 'local-test'" in bad.output


DEPLOY = Path(__file__).parents[3] / "deploy"


def test_deploy_operator_is_production_and_deploy_local_selects_local_test() -> None:
    shipped = yaml.safe_load((DEPLOY / "operator" / "deployment.yaml").read_text())
    [container] = shipped["spec"]["template"]["spec"]["containers"]
    assert ENV not in {e["name"] for e in container.get("env", [])}
    assert not any("profile" in arg for arg in container.get("args", []))
    # `make demo` installs the chart with these values (the chart's own test
    # checks that cassandraProfile sets the variable).
    local = yaml.safe_load((DEPLOY / "local" / "values.yaml").read_text())
    assert local == {"cassandraProfile": LOCAL_TEST.name}
