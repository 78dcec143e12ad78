"""Cassandra profiles: which settings a node is rendered with beyond its own.

A profile is an operator setting, never a user's: it says whether the nodes
run with Cassandra's own safe defaults (`production`, the default) or with
the fast-start shortcuts of a test machine (`local-test`), which the local
cluster selects. `local-test` is unsafe for real data: it turns off the
snapshot Cassandra takes before a TRUNCATE or DROP, skips the wait for gossip
to settle before serving, shortens the ring delay a joining node waits for
the ring's view to converge (30 s by default) and sets up the default
superuser at once instead of after a delay.

The operator puts a non-default profile in the member pods' environment
(`NAVIGATOR_CASSANDRA_PROFILE`) and the pilot renders with it; a production
pod carries no such variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ENV = "NAVIGATOR_CASSANDRA_PROFILE"


class UnknownProfile(ValueError):
    pass


@dataclass(frozen=True)
class Profile:
    """Settings merged over the rendered cassandra.yaml, and -D flags appended
    to the java command (before the user's own overrides)."""

    name: str
    cassandra_yaml: Mapping[str, Any] = field(default_factory=dict)
    system_properties: tuple[str, ...] = ()


PRODUCTION = Profile("production", cassandra_yaml={"auto_snapshot": True})
LOCAL_TEST = Profile(
    "local-test",
    cassandra_yaml={"auto_snapshot": False},
    system_properties=(
        "-Dcassandra.skip_wait_for_gossip_to_settle=0",
        "-Dcassandra.ring_delay_ms=5000",
        "-Dcassandra.superuser_setup_delay_ms=0",
    ),
)
DEFAULT = PRODUCTION
PROFILES: dict[str, Profile] = {p.name: p for p in (PRODUCTION, LOCAL_TEST)}
NAMES: tuple[str, ...] = tuple(PROFILES)


def profile_named(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownProfile(
            f"unknown Cassandra profile {name!r}; known profiles: {', '.join(NAMES)}"
        ) from None


def profile_from_env(env: Mapping[str, str]) -> Profile:
    """The profile `NAVIGATOR_CASSANDRA_PROFILE` names; unset or empty: the default."""
    name = env.get(ENV, "")
    if not name:
        return DEFAULT
    try:
        return profile_named(name)
    except UnknownProfile as err:
        raise UnknownProfile(f"{ENV}={name}: {err}") from None
