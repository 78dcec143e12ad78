"""A real 3-node Cassandra cluster for the checker's tests (no Kubernetes).

The same fixture as tests/e2e/cassandra, plus a wait: the cluster's setup
removes every ``navc-`` namespace, so when another session's cluster is
running we wait for it to go away instead of pulling the network from under it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from navigator.cassandra.distribution import Distribution, DistributionMissing
from navigator.testing.cassandra import CassandraCluster, cassandra_cluster, list_netns

NETWORK_WAIT = 1200.0


def wait_for_free_network(timeout: float = NETWORK_WAIT) -> None:
    deadline = time.monotonic() + timeout
    while busy := list_netns():
        if time.monotonic() > deadline:
            pytest.fail(f"another Cassandra test cluster still runs ({busy}) after {timeout:.0f}s")
        time.sleep(10)


@pytest.fixture(scope="module")
def cassandra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CassandraCluster]:
    """A started 3-node cluster shared by the tests of one module."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    try:
        dist = Distribution.from_cache()
    except DistributionMissing as err:
        pytest.fail(str(err))
    wait_for_free_network()
    workdir: Path = tmp_path_factory.mktemp("cassandra")
    began = time.monotonic()
    with cassandra_cluster(workdir, size=3, dist=dist) as cluster:
        print(f"\n3-node cluster up in {time.monotonic() - began:.0f}s")
        yield cluster
