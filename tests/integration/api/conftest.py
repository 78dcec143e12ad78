"""Install Navigator's CRDs into the test cluster once per session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

CRD_DIR = Path(__file__).parents[3] / "deploy" / "crds"


@pytest.fixture(scope="session")
def crds(local_cluster: Any) -> None:
    local_cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))
    local_cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/cassandraclusters.navigator.dev",
        "crd/pilots.navigator.dev",
        timeout=90,
    )
