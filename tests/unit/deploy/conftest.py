"""The chart's tests need the pinned helm (`make helm`; `make unit` and
`make test` build it first). Without it they fail, each with the same clear
message, rather than skip: a skipped chart test would pass CI with the chart
unchecked."""

from __future__ import annotations

import pytest

from navigator.local.helm import HelmMissing, helm


@pytest.fixture(autouse=True)
def pinned_helm() -> None:
    try:
        helm()
    except HelmMissing as e:
        pytest.fail(str(e), pytrace=False)
