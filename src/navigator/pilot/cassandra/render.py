"""Render one member's Cassandra configuration and command line in its pod.

Inputs: this pod's identity, the seed addresses resolved from the API, the
user's allowed overrides from the CassandraCluster spec, the image's layout
and the Cassandra profile the operator chose (`navigator.cassandra.profile`).
Pure: returns file contents and argv; the adapter writes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from navigator.cassandra.config import (
    NodeConfig,
    TlsFiles,
    cassandra_yaml,
    daemon_command,
    parse_jvm_options,
    render_rackdc,
)
from navigator.cassandra.profile import PRODUCTION, Profile
from navigator.pilot.cassandra.adapter import Launch
from navigator.pilot.cassandra.tls import TlsMaterial, tls_files
from navigator.pilot.core.identity import Identity

JOLOKIA_PORT = 8778

# cassandra.yaml keys Navigator owns: a user override of these is refused
# (admission refuses them too; this is the pilot's own guard).
OWNED_KEYS = frozenset(
    {
        "cluster_name",
        "listen_address",
        "listen_interface",
        "broadcast_address",
        "rpc_address",
        "rpc_interface",
        "broadcast_rpc_address",
        "seed_provider",
        "endpoint_snitch",
        "data_file_directories",
        "commitlog_directory",
        "saved_caches_directory",
        "hints_directory",
        "cdc_raw_directory",
        "storage_port",
        "native_transport_port",
        # Cassandra's default (true) stands: a new member that skipped
        # bootstrap would own token ranges without their data.
        "auto_bootstrap",
        # Set from spec.auth (`Overrides.auth`).
        "authenticator",
        "authorizer",
        "role_manager",
        # Set from spec.tls (`Overrides.client_encryption`, `.internode_encryption`).
        "client_encryption_options",
        "server_encryption_options",
    }
)


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Layout:
    """Where things live in the database image (the official image's paths)."""

    cassandra_home: Path = Path("/opt/cassandra")
    conf_dir: Path = Path("/etc/cassandra")
    data_dir: Path = Path("/var/lib/cassandra")
    log_dir: Path = Path("/var/log/cassandra")
    jolokia_agent: Path = Path("/opt/navigator/jolokia-agent.jar")
    java: str = "java"

    @property
    def tls_files(self) -> TlsFiles:
        """Where the member's TLS material goes (`NodeConfig.tls_files`)."""
        node = NodeConfig(name="", address="", seeds=(), data_dir=self.data_dir, conf=self.conf_dir)
        return node.tls_files


@dataclass(frozen=True)
class Overrides:
    cassandra_yaml: Mapping[str, Any] = field(default_factory=dict)
    jvm_options: Sequence[str] = ()
    heap: str = "512M"
    auth: bool = False  # spec.auth.enabled: PasswordAuthenticator and CassandraAuthorizer
    client_encryption: bool = False  # spec.tls.clientEncryption: CQL over TLS only
    internode_encryption: bool = False  # spec.tls.internodeEncryption: mutual TLS between members
    # The member's key and certificate and the CA: required when either is on.
    tls: TlsMaterial | None = None


def render(
    identity: Identity,
    seeds: Sequence[str],
    overrides: Overrides,
    layout: Layout,
    *,
    jvm_options_text: str,
    jamm_agent: Path | None = None,
    profile: Profile = PRODUCTION,
    replace_address: str = "",
) -> Launch:
    if not seeds:
        # A node never picks itself as seed by default: a seed never
        # bootstraps (`start.plan` decides when a member may seed itself).
        raise ConfigError("no seeds: the start plan must name at least one")
    owned = sorted(OWNED_KEYS & set(overrides.cassandra_yaml))
    if owned:
        raise ConfigError(f"config.cassandraYaml sets keys Navigator owns: {', '.join(owned)}")
    encrypted = overrides.client_encryption or overrides.internode_encryption
    if encrypted and overrides.tls is None:
        raise ConfigError("TLS is on but no certificate material was given")
    node = NodeConfig(
        name=identity.pod_name,
        address=identity.pod_ip,
        seeds=tuple(seeds),
        data_dir=layout.data_dir,
        cluster_name=identity.cluster,
        dc=identity.datacenter,
        rack=identity.rack,
        heap=overrides.heap,
        conf=layout.conf_dir,
        logs=layout.log_dir,
        profile=profile,
        auth=overrides.auth,
        client_encryption=overrides.client_encryption,
        internode_encryption=overrides.internode_encryption,
    )
    settings = {**cassandra_yaml(node), **overrides.cassandra_yaml}
    jvm = [*parse_jvm_options(jvm_options_text), *overrides.jvm_options]
    argv = daemon_command(
        node,
        java=layout.java,
        jvm_options=jvm,
        classpath=f"{layout.conf_dir}:{layout.cassandra_home}/lib/*",
        jamm_agent=jamm_agent,
    )
    argv.insert(1, jolokia_agent_flag(layout.jolokia_agent))
    if replace_address:
        # Take over the dead node's tokens and stream their data; ignored by
        # Cassandra once this node has bootstrapped.
        argv.insert(2, f"-Dcassandra.replace_address_first_boot={replace_address}")
    files = {
        layout.conf_dir / "cassandra.yaml": yaml.safe_dump(settings, sort_keys=True),
        layout.conf_dir / "cassandra-rackdc.properties": render_rackdc(node),
    }
    private: frozenset[Path] = frozenset()
    if encrypted and overrides.tls is not None:
        tls = tls_files(overrides.tls, node.tls_files)
        files.update(tls)
        private = frozenset(tls)  # the keystore holds the private key
    return Launch(files=files, argv=tuple(argv), cql_host=identity.pod_ip, private=private)


def jolokia_agent_flag(jar: Path) -> str:
    """JMX over HTTP on loopback only: the pilot is the sole client, inside the pod."""
    options = f"host=127.0.0.1,port={JOLOKIA_PORT},discoveryEnabled=false"
    return f"-javaagent:{jar}={options}"
