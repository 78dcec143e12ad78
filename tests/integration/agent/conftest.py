"""Fixtures for node-agent tests: the session's local cluster with three nodes.

The nodes exist only while this directory's tests run: the rest of the session
(the control-plane tests) expects a cluster without nodes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from agent_helpers import Agents

from navigator.local import cluster
from navigator.local.agent.testimage import ensure_test_image
from navigator.testing.pytest_plugin import LocalCluster

HERE = Path(__file__).parent
_running: dict[str, LocalCluster] = {}


@pytest.fixture
def agents(local_cluster: LocalCluster) -> Agents:
    handle = Agents(local_cluster)
    if "cluster" not in _running:
        ensure_test_image()
        handle.restart()
        _running["cluster"] = local_cluster
    return handle


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Leaving this directory: stop the agents and deregister the nodes."""
    if nextitem is not None and HERE in Path(nextitem.path).parents:
        return
    running = _running.pop("cluster", None)
    if running is not None:
        cluster.remove_nodes(running.config, bins=running.binaries, say=lambda _: None)
