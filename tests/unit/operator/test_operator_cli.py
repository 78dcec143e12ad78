"""`navigator operator` flags that need no API server."""

from __future__ import annotations

import pytest

from navigator.operator.cli import watched_namespaces

pytestmark = pytest.mark.unit


def test_no_namespace_means_every_namespace() -> None:
    assert watched_namespaces(()) == ()


def test_namespaces_from_flags_and_comma_lists_are_one_sorted_set() -> None:
    got = watched_namespaces(("team-b", "team-a, team-c", "team-b,", " "))
    assert got == ("team-a", "team-b", "team-c")
