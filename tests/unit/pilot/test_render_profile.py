"""The pilot renders with the profile its pod names, refuses an unknown one
at startup, and refuses a user override of the keys Navigator owns."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from navigator.cassandra.profile import ENV, LOCAL_TEST, PRODUCTION, Profile
from navigator.pilot.cassandra.render import ConfigError, Layout, Overrides, render
from navigator.pilot.cassandra.tls import TlsMaterial
from navigator.pilot.cli import pilot
from navigator.pilot.core.identity import Identity

pytestmark = pytest.mark.unit

IDENTITY = Identity("c-r-0", "db", "10.0.0.5", "c", "r", "dc1", "r")
IDENTITY_ENV = {
    "POD_NAME": "c-r-0",
    "POD_NAMESPACE": "db",
    "POD_IP": "10.0.0.5",
    "NAVIGATOR_CLUSTER": "c",
    "NAVIGATOR_POOL": "r",
    "NAVIGATOR_DATACENTER": "dc1",
    "NAVIGATOR_RACK": "r",
}
SHORTCUTS = ("skip_wait_for_gossip_to_settle", "ring_delay_ms", "superuser_setup_delay_ms")


def _render(
    overrides: Overrides | None = None, profile: Profile = PRODUCTION
) -> tuple[dict[str, object], str]:
    layout = Layout()
    launch = render(
        IDENTITY,
        ["10.0.0.1"],
        overrides or Overrides(),
        layout,
        jvm_options_text="",
        profile=profile,
    )
    settings = yaml.safe_load(launch.files[layout.conf_dir / "cassandra.yaml"])
    return settings, " ".join(launch.argv)


def test_the_pilot_renders_production_unless_told_otherwise() -> None:
    settings, argv = _render()
    assert settings["auto_snapshot"] is True
    assert not any(s in argv for s in SHORTCUTS)
    assert "auto_bootstrap" not in settings  # Cassandra's default: bootstrap


def test_the_local_test_profile_renders_the_shortcuts() -> None:
    settings, argv = _render(profile=LOCAL_TEST)
    assert settings["auto_snapshot"] is False
    assert all(s in argv for s in SHORTCUTS)


def test_a_user_may_still_choose_auto_snapshot_but_not_auto_bootstrap() -> None:
    settings, _ = _render(Overrides(cassandra_yaml={"auto_snapshot": False}))
    assert settings["auto_snapshot"] is False
    with pytest.raises(ConfigError, match="auto_bootstrap"):
        _render(Overrides(cassandra_yaml={"auto_bootstrap": False}))


def test_an_unknown_profile_stops_the_pilot_at_startup_with_its_name() -> None:
    result = CliRunner().invoke(pilot, ["cassandra"], env={**IDENTITY_ENV, ENV: "fast"})
    assert result.exit_code == 1
    assert f"{ENV}=fast" in result.output
    assert "production, local-test" in result.output


def test_auth_renders_password_authentication_and_role_authorization() -> None:
    settings, _ = _render(Overrides(auth=True))
    assert settings["authenticator"] == "PasswordAuthenticator"
    assert settings["authorizer"] == "CassandraAuthorizer"
    assert settings["role_manager"] == "CassandraRoleManager"
    off, _ = _render(Overrides(auth=False))
    assert off["authenticator"] == "AllowAllAuthenticator"
    assert off["authorizer"] == "AllowAllAuthorizer"


def test_auth_cannot_be_turned_off_behind_spec_auth() -> None:
    with pytest.raises(ConfigError, match="authenticator"):
        _render(Overrides(auth=True, cassandra_yaml={"authenticator": "AllowAllAuthenticator"}))


def test_tls_renders_the_encryption_options_and_nothing_without() -> None:
    off, _ = _render()
    assert "client_encryption_options" not in off
    assert "server_encryption_options" not in off
    material = TlsMaterial("key\ncert\n", "ca\n")
    on, _ = _render(Overrides(client_encryption=True, internode_encryption=True, tls=material))
    assert on["client_encryption_options"]["enabled"] is True
    assert on["server_encryption_options"]["internode_encryption"] == "all"
    assert on["server_encryption_options"]["keystore"] == "/etc/cassandra/tls/keystore.pem"


@pytest.mark.parametrize("key", ["client_encryption_options", "server_encryption_options"])
def test_tls_cannot_be_set_behind_spec_tls(key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        _render(Overrides(cassandra_yaml={key: {"enabled": False}}))
