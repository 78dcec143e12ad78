"""Fixtures for the operator's integration tests: an async client, a
reconciler counting its writes, and a fake pilot that writes Pilot status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from lightkube import AsyncClient, KubeConfig

from navigator.operator.cassandra.reconcile import Reconciler
from navigator.operator.core.kube import Kube


@pytest.fixture
async def aclient(local_cluster: Any, navigator_crds: None) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(
        config=KubeConfig.from_file(local_cluster.kubeconfig), field_manager="navigator-tests"
    )
    yield client
    await client.close()


@pytest.fixture
def reconciler(aclient: AsyncClient) -> Reconciler:
    return Reconciler(Kube(aclient))
