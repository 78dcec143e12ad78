"""A real N-node Apache Cassandra cluster for tests, without Kubernetes.

Each node runs in its own network namespace (``navc-n<i>``) with address
``10.250.0.<i>`` on a bridge that lives in its own namespace (``navc-br``); the
host joins that bridge with one veth pair and has ``10.250.0.254``, so the test
process reaches every node's CQL port directly. (A bridge in the root network
namespace does not forward on these machines; one inside a namespace does.)

Nodes start one at a time, like ccm. JMX listens on the node's loopback, so
`CassandraCluster.nodetool` runs nodetool inside the node's namespace.

Needs root (``ip netns``) and the fetched distribution (``make cassandra``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from navigator.cassandra.config import (
    CQL_PORT,
    DEFAULT_HEAP,
    NodeConfig,
    cassandra_yaml,
    daemon_command,
    nodetool_command,
    render_cassandra_yaml,
    render_rackdc,
)
from navigator.cassandra.distribution import TOOLS_LOGBACK, Distribution
from navigator.cassandra.profile import LOCAL_TEST

log = logging.getLogger(__name__)

NETNS_PREFIX = "navc-"
BRIDGE_NETNS = "navc-br"
BRIDGE = "br0"
HOST_VETH = "navc-host"
SUBNET_PREFIX = "10.250.0"
HOST_ADDRESS = f"{SUBNET_PREFIX}.254"
START_TIMEOUT = 240.0


def node_address(index: int) -> str:
    """Address of node ``index`` (1-based)."""
    if not 1 <= index <= 250:
        raise ValueError(f"node index {index} out of range")
    return f"{SUBNET_PREFIX}.{index}"


def node_netns(index: int) -> str:
    return f"{NETNS_PREFIX}n{index}"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


# --- network -----------------------------------------------------------------


def list_netns(prefix: str = NETNS_PREFIX) -> list[str]:
    out = _ip("netns", "list").stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


def _kill_netns_processes(ns: str) -> None:
    pids = _ip("netns", "pids", ns, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def cleanup_network() -> None:
    """Remove every ``navc-`` namespace (killing what runs inside) and the host veth."""
    for ns in list_netns():
        _kill_netns_processes(ns)
        _ip("netns", "delete", ns, check=False)
    _ip("link", "delete", HOST_VETH, check=False)


def create_bridge() -> None:
    """The bridge namespace, plus the host's veth into it."""
    _ip("netns", "add", BRIDGE_NETNS)
    _ip("-n", BRIDGE_NETNS, "link", "add", BRIDGE, "type", "bridge")
    _ip("-n", BRIDGE_NETNS, "link", "set", BRIDGE, "up")
    _ip("link", "add", HOST_VETH, "type", "veth", "peer", "name", "host", "netns", BRIDGE_NETNS)
    _ip("-n", BRIDGE_NETNS, "link", "set", "host", "master", BRIDGE, "up")
    _ip("addr", "add", f"{HOST_ADDRESS}/24", "dev", HOST_VETH)
    _ip("link", "set", HOST_VETH, "up")


def create_node_netns(index: int) -> None:
    """A namespace with loopback and ``eth0`` on the bridge."""
    ns, port = node_netns(index), f"n{index}"
    _ip("netns", "add", ns)
    _ip("-n", ns, "link", "set", "lo", "up")
    _ip(
        "-n", BRIDGE_NETNS, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns
    )
    _ip("-n", BRIDGE_NETNS, "link", "set", port, "master", BRIDGE, "up")
    _ip("-n", ns, "addr", "add", f"{node_address(index)}/24", "dev", "eth0")
    _ip("-n", ns, "link", "set", "eth0", "up")


# --- nodes -------------------------------------------------------------------


def port_open(address: str, port: int, timeout: float = 1.0) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((address, port), timeout):
        return True
    return False


def process_rss_bytes(pid: int) -> int:
    """Resident set size from /proc (0 when the process is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class Node:
    """One Cassandra process and its files."""

    index: int
    config: NodeConfig
    process: subprocess.Popen[bytes] | None = None
    start_seconds: float | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def address(self) -> str:
        return self.config.address

    @property
    def netns(self) -> str:
        return node_netns(self.index)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def rss_bytes(self) -> int:
        return process_rss_bytes(self.process.pid) if self.running() and self.process else 0


@dataclass
class CassandraCluster:
    """Start, stop, kill and inspect the nodes of one local Cassandra cluster."""

    dist: Distribution
    workdir: Path
    size: int = 3
    heap: str = DEFAULT_HEAP
    java: str = field(default_factory=lambda: shutil.which("java") or "java")
    nodes: list[Node] = field(default_factory=list)

    # lifecycle

    def setup(self) -> None:
        """Clean stale leftovers, create the network and every node's config."""
        cleanup_network()
        create_bridge()
        seeds = (node_address(1),)
        for index in range(1, self.size + 1):
            create_node_netns(index)
            config = NodeConfig(
                name=f"node{index}",
                address=node_address(index),
                seeds=seeds,
                data_dir=self.workdir / f"node{index}",
                heap=self.heap,
                profile=LOCAL_TEST,  # a test machine: Cassandra's fast-start shortcuts
            )
            self._write_config(config)
            self.nodes.append(Node(index=index, config=config))

    def start_all(self) -> None:
        for node in self.nodes:
            self.start(node)

    def teardown(self) -> None:
        for node in self.nodes:
            if node.running():
                self.stop(node, signal.SIGKILL)
        cleanup_network()

    # node operations

    def start(self, node: Node, timeout: float = START_TIMEOUT) -> float:
        """Start ``node`` and wait for its CQL port; returns the seconds it took."""
        if node.running():
            raise RuntimeError(f"{node.name} is already running")
        node.config.log_dir.mkdir(parents=True, exist_ok=True)
        command = daemon_command(
            node.config,
            java=self.java,
            jvm_options=self.dist.jvm_options(),
            classpath=self.dist.classpath(node.config.conf_dir),
            jamm_agent=self.dist.jamm_agent(),
        )
        out = (node.config.log_dir / "stdout.log").open("ab")
        began = time.monotonic()
        node.process = subprocess.Popen(
            ["ip", "netns", "exec", node.netns, *command],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        self._wait_for_cql(node, timeout)
        node.start_seconds = time.monotonic() - began
        log.info("%s accepts CQL after %.1fs", node.name, node.start_seconds)
        return node.start_seconds

    def stop(self, node: Node, sig: int = signal.SIGTERM, timeout: float = 120.0) -> int | None:
        """Send ``sig`` and wait for the process to exit; returns its exit code."""
        if node.process is None:
            return None
        if node.process.poll() is None:
            node.process.send_signal(sig)
        try:
            return node.process.wait(timeout)
        except subprocess.TimeoutExpired:
            node.process.kill()
            return node.process.wait(30)

    def kill(self, node: Node) -> None:
        """SIGKILL, as a crash would (the data directory stays)."""
        self.stop(node, signal.SIGKILL)

    def nodetool(self, node: Node, *args: str, check: bool = True, timeout: float = 300.0) -> str:
        """Run nodetool against ``node`` from inside its namespace; returns stdout."""
        command = nodetool_command(
            *args,
            java=self.java,
            classpath=self.dist.lib_classpath(),
            jvm_options=self.dist.jvm_options(),
            logback=self.dist.conf / TOOLS_LOGBACK,
        )
        result = subprocess.run(
            ["ip", "netns", "exec", node.netns, *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"nodetool {' '.join(args)} on {node.name} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result.stdout

    # queries

    @property
    def addresses(self) -> list[str]:
        return [node.address for node in self.nodes]

    def running_nodes(self) -> list[Node]:
        return [node for node in self.nodes if node.running()]

    def node(self, name_or_index: str | int) -> Node:
        for node in self.nodes:
            if name_or_index in (node.name, node.index):
                return node
        raise KeyError(name_or_index)

    # internals

    def _write_config(self, config: NodeConfig) -> None:
        config.conf_dir.mkdir(parents=True, exist_ok=True)
        (config.conf_dir / "cassandra.yaml").write_text(render_cassandra_yaml(config))
        (config.conf_dir / "cassandra-rackdc.properties").write_text(render_rackdc(config))
        shutil.copy(self.dist.conf / "logback.xml", config.conf_dir / "logback.xml")

    def _wait_for_cql(self, node: Node, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not node.running():
                raise RuntimeError(f"{node.name} exited; see {node.config.log_dir}")
            if port_open(node.address, CQL_PORT):
                return
            time.sleep(0.5)
        raise TimeoutError(f"{node.name} did not accept CQL within {timeout:.0f}s")


def data_directories(node: Node) -> list[Path]:
    """Where ``node`` keeps its sstables (its ``data_file_directories``)."""
    return [Path(path) for path in cassandra_yaml(node.config)["data_file_directories"]]


def commitlog_directory(node: Node) -> Path:
    return Path(cassandra_yaml(node.config)["commitlog_directory"])


def table_directories(node: Node, keyspace: str, table: str) -> list[Path]:
    """The directories of one table's sstables on ``node`` (``<data>/<keyspace>/<table>-<id>``)."""
    return sorted(
        path
        for data in data_directories(node)
        for path in (data / keyspace).glob(f"{table}-*")
        if path.is_dir()
    )


def parse_status(output: str) -> dict[str, str]:
    """``nodetool status`` → {address: state}, e.g. {"10.250.0.1": "UN"}."""
    states: dict[str, str] = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 2 and len(fields[0]) == 2 and fields[0][0] in "UD":
            states[fields[1]] = fields[0]
    return states


@contextlib.contextmanager
def cassandra_cluster(
    workdir: Path, size: int = 3, heap: str = DEFAULT_HEAP, dist: Distribution | None = None
) -> Iterator[CassandraCluster]:
    """A started cluster; everything (processes, namespaces) is removed on exit."""
    cluster = CassandraCluster(
        dist=dist or Distribution.from_cache(), workdir=workdir, size=size, heap=heap
    )
    try:
        cluster.setup()
        cluster.start_all()
        yield cluster
    finally:
        cluster.teardown()


def wait_for_states(
    cluster: CassandraCluster,
    via: Node,
    expected: Sequence[str],
    state: str = "UN",
    timeout: float = 120.0,
) -> dict[str, str]:
    """Poll ``nodetool status`` on ``via`` until every expected address is in ``state``."""
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = parse_status(cluster.nodetool(via, "status", check=False))
        if all(states.get(address) == state for address in expected):
            return states
        time.sleep(2)
    raise TimeoutError(f"expected {list(expected)} to be {state}, last status {states}")
