"""Storage expansion, pure parts (navigator.operator.cassandra.storage): which claims
grow, when the StatefulSet is re-created, the StorageClass rule, and that the
size never touches the pod template (so growing restarts nobody)."""

from __future__ import annotations

from typing import Any

import pytest

from navigator.api.cassandra import CassandraCluster
from navigator.operator.cassandra import storage
from navigator.operator.cassandra.builders import build_statefulset
from navigator.operator.cassandra.builders.statefulset import pool_revision
from navigator.operator.cassandra.predicates import (
    PROGRESS_RULES,
    RULES,
    STORAGE_CLASS_ALLOWS_EXPANSION,
    VOLUMES_EXPANDED,
)

pytestmark = pytest.mark.unit


def cluster(size: str = "2Gi", replicas: int = 2) -> CassandraCluster:
    return CassandraCluster.model_validate(
        {
            "metadata": {"name": "db", "namespace": "ns", "uid": "u-1"},
            "spec": {
                "version": "5.0.6",
                "nodePools": [{"name": "r1", "replicas": replicas, "persistence": {"size": size}}],
            },
        }
    )


def live(size: str = "1Gi", replicas: int = 2) -> dict[str, Any]:
    c = cluster(size, replicas)
    return build_statefulset(c, c.spec.node_pools[0], replicas=replicas)


def claim(name: str, requested: str, capacity: str, sc: str = "local") -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"storageClassName": sc, "resources": {"requests": {"storage": requested}}},
        "status": {"capacity": {"storage": capacity}},
    }


def state(claims: list[dict[str, Any]], size: str = "2Gi", template: str = "1Gi") -> Any:
    c = cluster(size)
    return storage.pool_storage(c, c.spec.node_pools[0], live(template), claims)


def test_a_raised_size_patches_every_members_claim_and_recreates_the_statefulset() -> None:
    s = state([claim("data-db-r1-0", "1Gi", "1Gi"), claim("data-db-r1-1", "1Gi", "1Gi")])
    assert s.to_patch == ("data-db-r1-0", "data-db-r1-1")
    assert s.recreate
    assert s.growing == ("data-db-r1-0", "data-db-r1-1")
    assert s.storage_class == "local"


def test_only_members_claims_count_not_a_kept_volume_of_a_removed_member() -> None:
    s = state([claim("data-db-r1-0", "1Gi", "1Gi"), claim("data-db-r1-5", "1Gi", "1Gi")])
    assert s.to_patch == ("data-db-r1-0",)


def test_sizes_compare_as_quantities_however_spelled() -> None:
    s = state([claim("data-db-r1-0", "2048Mi", "2Gi")], size="2Gi", template="2048Mi")
    assert s.to_patch == ()
    assert not s.recreate
    assert s.growing == ()
    assert not storage.smaller("2Gi", "2048Mi")
    assert storage.smaller("", "1Gi")  # not set yet: below anything
    assert not storage.smaller("1Gi", "")  # nothing to grow to


def test_patched_claims_wait_on_the_driver_until_their_capacity_is_reached() -> None:
    s = state(
        [claim("data-db-r1-0", "2Gi", "2Gi"), claim("data-db-r1-1", "2Gi", "1Gi")],
        template="2Gi",
    )
    assert s.to_patch == ()
    assert not s.recreate
    wait = storage.progress(s)
    assert wait is not None
    assert wait.rule == VOLUMES_EXPANDED
    assert wait.progress
    assert (wait.operation, wait.target) == (storage.EXPAND_STORAGE, "r1")
    assert "data-db-r1-1" in wait.reason
    assert "data-db-r1-0" not in wait.reason
    done = state([claim("data-db-r1-0", "2Gi", "2Gi")], template="2Gi")
    assert storage.progress(done) is None


@pytest.mark.parametrize(
    ("sc", "name", "says"),
    [
        ({"allowVolumeExpansion": False}, "slow", "does not set allowVolumeExpansion: true"),
        ({}, "slow", "does not set allowVolumeExpansion: true"),
        (None, "gone", "StorageClass gone does not exist"),
        (None, "", "name no StorageClass"),
    ],
)
def test_storage_class_allows_expansion_fails_closed(
    sc: dict[str, Any] | None, name: str, says: str
) -> None:
    block = storage.storage_class_allows_expansion(sc, name, "r1", "2Gi")
    assert block is not None
    assert block.rule == STORAGE_CLASS_ALLOWS_EXPANSION
    assert says in block.reason
    assert "pool r1" in block.reason
    assert "2Gi" in block.reason
    wait = storage.refused(block, "r1")
    assert not wait.progress  # a Warning event and the rule in status


def test_storage_class_with_expansion_allows_it() -> None:
    sc = {"allowVolumeExpansion": True}
    assert storage.storage_class_allows_expansion(sc, "local", "r1", "2Gi") is None


def test_the_rules_are_named_in_rules_and_only_the_wait_is_progress() -> None:
    assert {STORAGE_CLASS_ALLOWS_EXPANSION, VOLUMES_EXPANDED} <= set(RULES)
    assert VOLUMES_EXPANDED in PROGRESS_RULES
    assert STORAGE_CLASS_ALLOWS_EXPANSION not in PROGRESS_RULES


def test_the_size_is_not_part_of_the_pod_template_so_growing_restarts_nobody() -> None:
    """`pool_revision` hashes the pod template only; the volume size lives in
    the claim template, so a raised size gives the same revision."""
    small, big = cluster("1Gi"), cluster("2Gi")
    assert pool_revision(small, small.spec.node_pools[0]) == pool_revision(
        big, big.spec.node_pools[0]
    )
    a, b = live("1Gi"), live("2Gi")
    assert a["spec"]["template"] == b["spec"]["template"]


def test_an_apply_keeps_the_live_claim_template_size() -> None:
    """The template is immutable: until the re-creation, an apply holds the
    live size (a refused expansion must not make every apply fail)."""
    desired = live("2Gi")
    held = storage.held_claim_size(desired, live("1Gi"))
    assert storage.template_size(held) == "1Gi"
    assert storage.template_size(desired) == "2Gi"  # not mutated
    assert held["spec"]["template"] == desired["spec"]["template"]
    assert storage.held_claim_size(desired, None) is desired
    assert storage.held_claim_size(desired, live("2Gi")) is desired


def test_the_claims_are_read_only_when_a_pool_grows_or_an_expansion_shows() -> None:
    c = cluster("2Gi")
    sets = {"db-r1": live("1Gi")}
    assert storage.needs_look(c, sets, "")
    assert not storage.needs_look(c, {"db-r1": live("2Gi")}, "")
    assert storage.needs_look(c, {"db-r1": live("2Gi")}, storage.EXPAND_STORAGE)
    assert not storage.needs_look(c, {}, "")


def test_a_statefulset_cut_short_in_its_recreation_resumes_at_its_members_number() -> None:
    c = cluster()
    pool = c.spec.node_pools[0]
    pods = {
        "db-r1-0": {"metadata": {"labels": {"navigator.dev/pool": "r1"}}},
        "db-r1-2": {"metadata": {"labels": {"navigator.dev/pool": "r1"}}},
        "db-r2-7": {"metadata": {"labels": {"navigator.dev/pool": "r2"}}},
    }
    assert storage.orphaned_replicas(c, pool, pods, ["db-r1-0", "db-r1-3"]) == 4
    assert storage.orphaned_replicas(c, pool, {}, []) == 0
