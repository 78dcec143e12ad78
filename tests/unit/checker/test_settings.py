"""Settings and CLI arguments are checked before anything connects."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from navigator.checker import Settings
from navigator.checker.cli import check_data
from navigator.checker.connection import SCHEMA_AGREEMENT_WAIT_S, ConnectionSettings, open_cluster
from navigator.cli import cli

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "options",
    [
        {"rate": 0},
        {"concurrency": 0},
        {"replication_factor": 0},
        {"verify_concurrency": 0},
        {"read_attempts": 0},
        {"write_consistency": "MOST"},
        {"read_consistency": "SOME"},
    ],
)
def test_bad_settings_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"positive|consistency"):
        Settings(**options)  # type: ignore[arg-type]


def test_read_consistency_auto_or_a_level() -> None:
    assert Settings(read_consistency="auto").read_consistency == "auto"
    assert Settings(read_consistency="LOCAL_QUORUM").read_consistency == "LOCAL_QUORUM"


@pytest.mark.parametrize(
    ("read_consistency", "per_replica"),
    [("AUTO", True), ("auto", True), ("EACH_REPLICA", True), ("ALL", False), ("ONE", False)],
)
def test_every_replica_is_read_alone_unless_a_level_is_asked_for(
    read_consistency: str, per_replica: bool
) -> None:
    assert Settings(read_consistency=read_consistency).per_replica is per_replica
    assert Settings().per_replica


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--write-consistency", "most"], "unknown consistency level"),
        (["--keyspace", "Bad-Name"], "plain lower-case CQL identifier"),
        (["--rate", "0"], "--rate"),
    ],
)
def test_cli_refuses_bad_arguments_before_connecting(args: list[str], message: str) -> None:
    result = CliRunner().invoke(check_data, ["--contact-points", "192.0.2.1", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_registered_on_the_navigator_command() -> None:
    result = CliRunner().invoke(cli, ["check-data", "--help"])
    assert result.exit_code == 0
    assert "--contact-points" in result.output


def test_the_driver_waits_for_every_node_to_have_the_schema() -> None:
    """A write to a replica that does not know the table yet is dropped (and so
    is its hint), so the checker's DDL waits for schema agreement."""
    cluster = open_cluster(["127.0.0.1"], ConnectionSettings())
    assert cluster.max_schema_agreement_wait == SCHEMA_AGREEMENT_WAIT_S >= 30


def test_a_login_goes_to_the_driver_and_never_into_a_repr() -> None:
    settings = ConnectionSettings(username="admin", password="hunter2")
    assert "hunter2" not in repr(settings)
    cluster = open_cluster(["127.0.0.1"], settings)
    assert cluster.auth_provider.username == "admin"
    assert open_cluster(["127.0.0.1"], ConnectionSettings()).auth_provider is None


def test_check_data_takes_the_password_from_the_environment_only() -> None:
    args = ["check-data", "--contact-points", "127.0.0.1", "--username", "admin"]
    result = CliRunner().invoke(cli, args, env={"NAVIGATOR_CQL_PASSWORD": ""})
    assert result.exit_code == 2
    assert "NAVIGATOR_CQL_PASSWORD" in result.output
