"""Pure builders for a Cassandra node: cassandra.yaml, rackdc, java and nodetool commands."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from navigator.cassandra.config import (
    DAEMON_CLASS,
    NODETOOL_CLASS,
    NodeConfig,
    TlsFiles,
    cassandra_yaml,
    daemon_command,
    encryption_settings,
    module_flags,
    nodetool_command,
    parse_jvm_options,
    render_cassandra_yaml,
    render_rackdc,
)
from navigator.testing.cassandra import node_address, node_netns, parse_status

pytestmark = pytest.mark.unit

NODE = NodeConfig(
    name="node2",
    address="10.250.0.2",
    seeds=("10.250.0.1",),
    data_dir=Path("/data/node2"),
    rack="r2",
)


def test_yaml_binds_the_node_address_and_names_the_seeds() -> None:
    rendered = yaml.safe_load(render_cassandra_yaml(NODE))
    assert rendered["listen_address"] == rendered["broadcast_rpc_address"] == "10.250.0.2"
    # CQL on loopback too: cqlsh in the pod and `kubectl port-forward` reach it there.
    assert rendered["rpc_address"] == "0.0.0.0"
    seeds = rendered["seed_provider"][0]["parameters"][0]["seeds"]
    assert seeds == "10.250.0.1"
    assert rendered["endpoint_snitch"] == "GossipingPropertyFileSnitch"


def test_yaml_keeps_every_directory_under_the_node_data_dir() -> None:
    settings = cassandra_yaml(NODE)
    dirs = [*settings["data_file_directories"]] + [
        settings[key]
        for key in ("commitlog_directory", "saved_caches_directory", "hints_directory")
    ]
    assert all(Path(d).is_relative_to(NODE.data_dir) for d in dirs)


def test_yaml_is_tuned_for_small_machines() -> None:
    settings = cassandra_yaml(NODE)
    assert settings["num_tokens"] == 16
    assert settings["concurrent_compactors"] == 1


def test_rackdc_names_dc_and_rack() -> None:
    assert render_rackdc(NODE) == "dc=dc1\nrack=r2\n"


def test_jvm_options_skip_comments_and_blanks() -> None:
    text = "# heading\n\n-ea\n  --add-opens=java.base/java.io=ALL-UNNAMED \n#-Xmx1G\n"
    assert parse_jvm_options(text) == ["-ea", "--add-opens=java.base/java.io=ALL-UNNAMED"]


def test_daemon_command_sets_heap_once_and_points_at_the_node_config() -> None:
    command = daemon_command(
        NODE, java="java", jvm_options=["-ea", "-Xmx4G"], classpath="cp", jamm_agent=None
    )
    assert command[0] == "java"
    assert command[-1] == DAEMON_CLASS
    assert [opt for opt in command if opt.startswith("-Xm")] == ["-Xms512M", "-Xmx512M"]
    assert "-Dcassandra.config=file:///data/node2/conf/cassandra.yaml" in command


def test_daemon_command_writes_dumps_and_native_libraries_where_a_non_root_user_may() -> None:
    command = daemon_command(
        NODE, java="java", jvm_options=["-XX:HeapDumpPath=/elsewhere"], classpath="cp"
    )
    assert "-XX:HeapDumpPath=/data/node2/logs" in command
    assert "-XX:ErrorFile=/data/node2/logs/hs_err_pid%p.log" in command
    assert "-Djna.tmpdir=/tmp" in command
    # The image's and the user's options come later, so they win.
    dumps = [o for o in command if o.startswith("-XX:HeapDumpPath=")]
    assert dumps == ["-XX:HeapDumpPath=/data/node2/logs", "-XX:HeapDumpPath=/elsewhere"]


def test_daemon_command_loads_the_jamm_agent_when_present() -> None:
    command = daemon_command(
        NODE, java="java", jvm_options=[], classpath="cp", jamm_agent=Path("/l/jamm-0.4.0.jar")
    )
    assert "-javaagent:/l/jamm-0.4.0.jar" in command


def test_nodetool_gets_module_flags_but_not_server_flags() -> None:
    options = ["-XX:+UseG1GC", "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED"]
    assert module_flags(options) == options[1:]
    command = nodetool_command("status", java="java", classpath="cp", jvm_options=options)
    assert "-XX:+UseG1GC" not in command
    assert command[command.index(NODETOOL_CLASS) :] == [
        NODETOOL_CLASS,
        "-h",
        "127.0.0.1",
        "-p",
        "7199",
        "status",
    ]


def test_node_addresses_and_namespaces() -> None:
    assert node_address(1) == "10.250.0.1"
    assert node_netns(3) == "navc-n3"
    with pytest.raises(ValueError, match="out of range"):
        node_address(254)


def test_parse_status_reads_state_per_address() -> None:
    output = """Datacenter: dc1
===============
Status=Up/Down
|/ State=Normal/Leaving/Joining/Moving
--  Address     Load        Tokens  Owns (effective)  Host ID   Rack
UN  10.250.0.1  114.71 KiB  16      100.0%            b87e8432  rack1
DN  10.250.0.2  98 KiB      16      100.0%            c1        rack1
UL  10.250.0.3  98 KiB      16      100.0%            c2        rack1
"""
    assert parse_status(output) == {
        "10.250.0.1": "UN",
        "10.250.0.2": "DN",
        "10.250.0.3": "UL",
    }


def test_a_disk_or_commitlog_failure_ends_the_jvm() -> None:
    """`die`, not Cassandra's `stop`: a stopped node keeps a live JVM that
    serves nothing and passes liveness; a dead one is restarted (the fault
    suite's full volume scenario)."""
    settings = cassandra_yaml(NODE)
    assert settings["disk_failure_policy"] == "die"
    assert settings["commit_failure_policy"] == "die"


FILES = TlsFiles(keystore=Path("/conf/tls/keystore.pem"), truststore=Path("/conf/tls/ca.pem"))
PEM_STORES = {
    "ssl_context_factory": {
        "class_name": "org.apache.cassandra.security.PEMBasedSslContextFactory"
    },
    "keystore": "/conf/tls/keystore.pem",
    "truststore": "/conf/tls/ca.pem",
}


def test_no_encryption_options_without_tls() -> None:
    assert encryption_settings(False, False, FILES) == {}
    settings = cassandra_yaml(NODE)
    assert "client_encryption_options" not in settings
    assert "server_encryption_options" not in settings


def test_client_encryption_only_takes_tls_on_the_cql_port_and_none_between_members() -> None:
    settings = encryption_settings(True, False, FILES)
    assert settings["client_encryption_options"] == {
        "enabled": True,
        "optional": False,
        "require_client_auth": False,
        **PEM_STORES,
    }
    assert settings["server_encryption_options"] == {"internode_encryption": "none"}


def test_internode_encryption_is_mutual_tls_on_the_storage_port_only() -> None:
    settings = encryption_settings(True, True, FILES)
    assert settings["client_encryption_options"]["enabled"] is True
    assert settings["server_encryption_options"] == {
        "internode_encryption": "all",
        "optional": False,
        "require_client_auth": True,
        "legacy_ssl_storage_port_enabled": False,
        **PEM_STORES,
    }
    assert encryption_settings(False, True, FILES)["client_encryption_options"] == {
        "enabled": False
    }


def test_a_node_with_tls_reads_its_files_from_its_config_directory() -> None:
    node = replace(NODE, client_encryption=True, internode_encryption=True)
    settings = yaml.safe_load(render_cassandra_yaml(node))
    for options in ("client_encryption_options", "server_encryption_options"):
        assert settings[options]["keystore"] == "/data/node2/conf/tls/keystore.pem"
        assert settings[options]["truststore"] == "/data/node2/conf/tls/truststore.pem"
    text = render_cassandra_yaml(node)
    assert "&id" not in text  # no YAML anchor: each option has its own objects
