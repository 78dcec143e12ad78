"""Pure builders for one Cassandra node: cassandra.yaml, rackdc and the java command.

Tuned for small machines (2 cores shared by several nodes): few tokens, one
compactor, small thread pools and caches. The node's profile
(`navigator.cassandra.profile`) adds its settings and -D flags: Cassandra's
safe defaults in production, fast-start shortcuts on the local test cluster.
Nothing here touches the system.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from navigator.cassandra.profile import PRODUCTION, Profile

DAEMON_CLASS = "org.apache.cassandra.service.CassandraDaemon"
NODETOOL_CLASS = "org.apache.cassandra.tools.NodeTool"
CQL_PORT = 9042
STORAGE_PORT = 7000
JMX_PORT = 7199
DEFAULT_HEAP = "512M"
# Reads the private key and certificates from PEM files (Cassandra 4.1 and later).
PEM_SSL_CONTEXT_FACTORY = "org.apache.cassandra.security.PEMBasedSslContextFactory"


@dataclass(frozen=True)
class TlsFiles:
    """A node's TLS material, as PEMBasedSslContextFactory reads it."""

    keystore: Path  # the private key (unencrypted PKCS#8) followed by its certificate chain
    truststore: Path  # the CA certificates a peer's or client's chain must end at


@dataclass(frozen=True)
class NodeConfig:
    """What differs between the nodes of one cluster."""

    name: str
    address: str
    seeds: tuple[str, ...]
    data_dir: Path
    cluster_name: str = "navigator"
    dc: str = "dc1"
    rack: str = "rack1"
    num_tokens: int = 16
    heap: str = DEFAULT_HEAP
    # Where config and logs go; by default under the data directory. In a pod
    # the pilot renders into the image's CASSANDRA_CONF and log directory.
    conf: Path | None = None
    logs: Path | None = None
    profile: Profile = PRODUCTION
    # Clients log in (PasswordAuthenticator) and roles carry permissions
    # (CassandraAuthorizer); off, anyone who reaches the node may do anything.
    auth: bool = False
    # TLS (spec.tls): CQL over TLS only; mutual TLS between members. Off, the
    # encryption options are not rendered (Cassandra's defaults: no TLS).
    client_encryption: bool = False
    internode_encryption: bool = False

    @property
    def conf_dir(self) -> Path:
        return self.conf or self.data_dir / "conf"

    @property
    def log_dir(self) -> Path:
        return self.logs or self.data_dir / "logs"

    @property
    def tls_files(self) -> TlsFiles:
        """Where the pilot puts the member's key and certificate, and the CA."""
        tls = self.conf_dir / "tls"
        return TlsFiles(keystore=tls / "keystore.pem", truststore=tls / "truststore.pem")


def cassandra_yaml(node: NodeConfig) -> dict[str, Any]:
    """The settings of one node's cassandra.yaml (Cassandra 5.0 key names)."""
    data = node.data_dir
    return {
        "cluster_name": node.cluster_name,
        "num_tokens": node.num_tokens,
        "allocate_tokens_for_local_replication_factor": 3,
        "partitioner": "org.apache.cassandra.dht.Murmur3Partitioner",
        "endpoint_snitch": "GossipingPropertyFileSnitch",
        "seed_provider": [
            {
                "class_name": "org.apache.cassandra.locator.SimpleSeedProvider",
                "parameters": [{"seeds": ",".join(node.seeds)}],
            }
        ],
        "listen_address": node.address,
        # CQL on every address of the node (as in the official image), so that
        # a client in the pod (cqlsh) and `kubectl port-forward`, which both
        # reach it on loopback, are served; clients are told the node address.
        "rpc_address": "0.0.0.0",
        "broadcast_rpc_address": node.address,
        "storage_port": STORAGE_PORT,
        "native_transport_port": CQL_PORT,
        "start_native_transport": True,
        "data_file_directories": [str(data / "data")],
        "commitlog_directory": str(data / "commitlog"),
        "saved_caches_directory": str(data / "saved_caches"),
        "hints_directory": str(data / "hints"),
        "cdc_raw_directory": str(data / "cdc_raw"),
        "commitlog_sync": "periodic",
        "commitlog_sync_period": "10000ms",
        "commitlog_segment_size": "8MiB",
        # A disk or commitlog failure (a full volume, an I/O error) ends the
        # JVM, so the container restarts and says so (CrashLoopBackOff while
        # it lasts), instead of Cassandra's default `stop`: a live JVM that
        # serves nothing, which no liveness probe notices.
        "disk_failure_policy": "die",
        "commit_failure_policy": "die",
        **_small_machine_tuning(),
        **auth_settings(node.auth),
        **encryption_settings(node.client_encryption, node.internode_encryption, node.tls_files),
        **node.profile.cassandra_yaml,
    }


def _small_machine_tuning() -> dict[str, Any]:
    """Fewer threads and smaller caches: several nodes share 2 cores."""
    return {
        "concurrent_compactors": 1,
        "concurrent_reads": 4,
        "concurrent_writes": 4,
        "concurrent_counter_writes": 4,
        "concurrent_materialized_view_writes": 2,
        "native_transport_max_threads": 16,
        "memtable_flush_writers": 1,
        "memtable_heap_space": "64MiB",
        "memtable_offheap_space": "64MiB",
        "key_cache_size": "8MiB",
        "counter_cache_size": "0MiB",
        "file_cache_size": "32MiB",
        "compaction_throughput": "0MiB/s",
        "hinted_handoff_enabled": True,
        "dynamic_snitch": False,
    }


def auth_settings(enabled: bool) -> dict[str, Any]:
    """Who may connect and what roles may do."""
    if not enabled:
        return {
            "authenticator": "AllowAllAuthenticator",
            "authorizer": "AllowAllAuthorizer",
            "role_manager": "CassandraRoleManager",
        }
    return {
        "authenticator": "PasswordAuthenticator",
        "authorizer": "CassandraAuthorizer",
        "role_manager": "CassandraRoleManager",
    }


def encryption_settings(client: bool, internode: bool, files: TlsFiles) -> dict[str, Any]:
    """TLS on the CQL port (client) and between members (internode); nothing
    when both are off, which is what Cassandra does by default.

    Key names checked against Cassandra 5.0.6's own classes (cassandra-all's
    `config.EncryptionOptions` and its `ServerEncryptionOptions`, and
    `security.PEMBasedSslContextFactory`, listed with javap): 5.0's name for
    the legacy port switch is `legacy_ssl_storage_port_enabled`
    (`enable_legacy_ssl_storage_port` is the deprecated one it replaces).
    PEMBasedSslContextFactory reads the key and the chain from the one
    `keystore` file; an unencrypted key must be PKCS#8 (it parses
    PKCS8EncodedKeySpec) and needs no `keystore_password`; `outbound_keystore`
    defaults to `keystore`, so a member presents the same certificate both
    ways. `optional: false` is written out: left out, Cassandra defaults it to
    true for options that have a keystore and no `enabled` (server options
    never have one: `internode_encryption` says it), and the storage port
    would accept plaintext connections as well.
    """
    if not (client or internode):
        return {}
    client_options: dict[str, Any] = {"enabled": False}
    if client:
        client_options = {
            "enabled": True,
            "optional": False,  # TLS only on the CQL port
            "require_client_auth": False,  # clients log in with passwords (spec.auth)
            **_pem_stores(files),
        }
    server_options: dict[str, Any] = {"internode_encryption": "none"}
    if internode:
        server_options = {
            "internode_encryption": "all",
            "optional": False,
            "require_client_auth": True,  # a peer shows a certificate the CA signed
            "legacy_ssl_storage_port_enabled": False,  # one storage port, no ssl_storage_port
            **_pem_stores(files),
        }
    return {
        "client_encryption_options": client_options,
        "server_encryption_options": server_options,
    }


def _pem_stores(files: TlsFiles) -> dict[str, Any]:
    """New objects on every call: YAML would write one object met twice as an
    anchor and an alias."""
    return {
        "ssl_context_factory": {"class_name": PEM_SSL_CONTEXT_FACTORY},
        "keystore": str(files.keystore),
        "truststore": str(files.truststore),
    }


def render_cassandra_yaml(node: NodeConfig) -> str:
    return yaml.safe_dump(cassandra_yaml(node), sort_keys=False)


def render_rackdc(node: NodeConfig) -> str:
    return f"dc={node.dc}\nrack={node.rack}\n"


def system_properties(node: NodeConfig) -> list[str]:
    """-D flags: per-node paths, then the profile's (the ccm-style fast-start
    switches of `local-test`; none in production)."""
    return [
        f"-Dcassandra.config=file://{node.conf_dir / 'cassandra.yaml'}",
        f"-Dlogback.configurationFile={node.conf_dir / 'logback.xml'}",
        f"-Dcassandra.logdir={node.log_dir}",
        f"-Dcassandra.storagedir={node.data_dir}",
        "-Dcassandra-foreground=yes",
        *node.profile.system_properties,
    ]


def written_paths(node: NodeConfig) -> list[str]:
    """Where the JVM writes besides the data and log directories, pointed at
    places a non-root user may write: heap dumps and crash reports go to the
    log directory (the JVM's default is its working directory, `/` in a pod),
    and JNA unpacks its native library into /tmp (its default is under the
    user's home, which the database's user may not have; without JNA
    Cassandra refuses to start). Given before the image's and the user's JVM
    options, which may override them."""
    return [
        f"-XX:HeapDumpPath={node.log_dir}",
        f"-XX:ErrorFile={node.log_dir}/hs_err_pid%p.log",
        "-Djna.tmpdir=/tmp",
    ]


def daemon_command(
    node: NodeConfig,
    *,
    java: str,
    jvm_options: Sequence[str],
    classpath: str,
    jamm_agent: Path | None = None,
) -> list[str]:
    """The java command line that runs one node in the foreground."""
    agent = [f"-javaagent:{jamm_agent}"] if jamm_agent else []
    heap = [f"-Xms{node.heap}", f"-Xmx{node.heap}"]
    options = [opt for opt in jvm_options if not opt.startswith(("-Xms", "-Xmx"))]
    return [
        java,
        *written_paths(node),
        *options,
        *heap,
        *agent,
        *system_properties(node),
        "-cp",
        classpath,
        DAEMON_CLASS,
    ]


def module_flags(jvm_options: Sequence[str]) -> list[str]:
    """The ``--add-exports``/``--add-opens`` flags (tools need them too)."""
    return [opt for opt in jvm_options if opt.startswith("--add-")]


def nodetool_command(
    *args: str,
    java: str,
    classpath: str,
    jvm_options: Sequence[str] = (),
    logback: Path | None = None,
    host: str = "127.0.0.1",
) -> list[str]:
    """nodetool as a plain java command (small heap, quick start, quiet logging)."""
    logging = [f"-Dlogback.configurationFile={logback}"] if logback else []
    return [
        java,
        *module_flags(jvm_options),
        *logging,
        "-Xmx128M",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-cp",
        classpath,
        NODETOOL_CLASS,
        "-h",
        host,
        "-p",
        str(JMX_PORT),
        *args,
    ]


def parse_jvm_options(text: str) -> list[str]:
    """A jvm*.options file's options: one per line; blank lines and ``#``
    comments are skipped."""
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]
