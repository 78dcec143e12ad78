"""Fixtures for tests that need a real Cassandra cluster (no Kubernetes)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from navigator.cassandra.distribution import Distribution, DistributionMissing
from navigator.testing.cassandra import CassandraCluster, cassandra_cluster


@pytest.fixture(scope="module")
def cassandra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CassandraCluster]:
    """A started 3-node cluster shared by the tests of one module."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    try:
        dist = Distribution.from_cache()
    except DistributionMissing as err:
        pytest.fail(str(err))
    workdir: Path = tmp_path_factory.mktemp("cassandra")
    with cassandra_cluster(workdir, size=3, dist=dist) as cluster:
        yield cluster
