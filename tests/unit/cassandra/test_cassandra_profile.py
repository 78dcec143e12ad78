"""Cassandra profiles: production renders Cassandra's safe defaults, only the
local test cluster's profile renders a test machine's fast-start shortcuts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from navigator.cassandra.config import NodeConfig, daemon_command, render_cassandra_yaml
from navigator.cassandra.profile import (
    DEFAULT,
    ENV,
    LOCAL_TEST,
    PRODUCTION,
    UnknownProfile,
    profile_from_env,
    profile_named,
)

pytestmark = pytest.mark.unit

NODE = NodeConfig(name="n", address="10.0.0.1", seeds=("10.0.0.1",), data_dir=Path("/d"))
SHORTCUTS = ("skip_wait_for_gossip_to_settle", "ring_delay_ms", "superuser_setup_delay_ms")


def rendered(node: NodeConfig) -> tuple[dict[str, object], list[str]]:
    settings = yaml.safe_load(render_cassandra_yaml(node))
    argv = daemon_command(node, java="java", jvm_options=[], classpath="cp")
    return settings, argv


def test_production_is_the_default_and_renders_no_shortcut() -> None:
    assert NodeConfig(name="n", address="a", seeds=(), data_dir=Path("/d")).profile is PRODUCTION
    assert DEFAULT is PRODUCTION
    settings, argv = rendered(NODE)
    assert settings["auto_snapshot"] is True
    assert not [arg for arg in argv if any(s in arg for s in SHORTCUTS)]


def test_local_test_renders_the_fast_start_shortcuts() -> None:
    settings, argv = rendered(replace(NODE, profile=LOCAL_TEST))
    assert settings["auto_snapshot"] is False
    assert "-Dcassandra.skip_wait_for_gossip_to_settle=0" in argv
    assert "-Dcassandra.ring_delay_ms=5000" in argv
    assert "-Dcassandra.superuser_setup_delay_ms=0" in argv


def test_the_profiles_differ_only_in_the_shortcuts() -> None:
    prod_settings, prod_argv = rendered(NODE)
    test_settings, test_argv = rendered(replace(NODE, profile=LOCAL_TEST))
    assert {k for k in prod_settings if prod_settings[k] != test_settings[k]} == {"auto_snapshot"}
    assert [a for a in test_argv if a not in prod_argv] == list(LOCAL_TEST.system_properties)


def test_profiles_by_name_and_from_the_environment() -> None:
    assert profile_named("production") is PRODUCTION
    assert profile_named("local-test") is LOCAL_TEST
    assert profile_from_env({}) is PRODUCTION
    assert profile_from_env({ENV: ""}) is PRODUCTION
    assert profile_from_env({ENV: "local-test"}) is LOCAL_TEST


def test_an_unknown_profile_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(UnknownProfile, match=r"'fast'.*production, local-test"):
        profile_named("fast")
    with pytest.raises(UnknownProfile, match=f"{ENV}=Production"):
        profile_from_env({ENV: "Production"})
