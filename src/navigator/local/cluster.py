"""Bring the local control plane up, report on it, and tear it down.

`up` is idempotent: components already running and healthy are left alone, so
a second `up` changes nothing. Every failure names the component and its log.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from navigator.local import network, processes
from navigator.local.agent import cgroups, disks, fleet
from navigator.local.agent.config import AgentConfig
from navigator.local.controlplane import (
    ClusterConfig,
    Component,
    certificate_specs,
    components,
)
from navigator.local.kubeconfig import build_kubeconfig, write_kubeconfig
from navigator.local.paths import Binaries, cache_root
from navigator.local.pki import Authority, KeyPair, ensure_service_account_keys
from navigator.versions import pinned

Reporter = Callable[[str], None]

START_TIMEOUT = 60.0
NODE_READY_TIMEOUT = 90.0
COREDNS = "coredns"


class LocalClusterError(RuntimeError):
    """A failure the user can act on; the message says which component and log."""


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    healthy: bool
    detail: str
    rss_bytes: int


def load_config(state_dir: Path) -> ClusterConfig | None:
    """The config a previous `up` recorded in this state directory."""
    path = ClusterConfig(state_dir=state_dir).layout.config_file
    if not path.exists():
        return None
    return ClusterConfig.from_json(path.read_text())


def pod_network(cfg: ClusterConfig) -> network.PodNetwork:
    return network.PodNetwork(
        netns=cfg.netns, host_veth=cfg.host_veth, host_ip=cfg.host_ip, pod_cidr=cfg.pod_cidr
    )


def up(
    cfg: ClusterConfig,
    *,
    bins: Binaries | None = None,
    say: Reporter = print,
    nodes: fleet.NodeSet | None = None,
) -> bool:
    """Start whatever is not running; return True if anything was started.

    With `nodes`, also CoreDNS and one node agent per node (see `ensure_nodes`).
    """
    started = _up_control_plane(cfg, bins=bins, say=say)
    if nodes is not None and nodes.count > 0:
        started |= ensure_nodes(cfg, nodes, bins=bins, say=say)
    return started


def _up_control_plane(cfg: ClusterConfig, *, bins: Binaries | None, say: Reporter) -> bool:
    bins = bins or Binaries.from_cache()
    _check_binaries(bins)
    previous = load_config(cfg.state_dir)
    if previous is not None and previous != cfg and _any_running(previous, bins):
        raise LocalClusterError(
            f"a local cluster with different settings is running from {cfg.state_dir}; "
            "run 'navigator local down' first"
        )
    wanted = components(cfg, bins)
    if all(_health(cfg, c)[0] for c in wanted):
        say(f"local cluster already running ({cfg.server_url}); nothing to do")
        return False
    _prepare(cfg)
    started = False
    for component in wanted:
        started |= _ensure_component(cfg, component, say)
    say(f"local cluster ready at {cfg.server_url}")
    return started


def down(cfg: ClusterConfig, *, bins: Binaries | None = None, say: Reporter = print) -> None:
    """Stop every component (reverse order) and remove the pod network."""
    bins = bins or Binaries.from_cache()
    stop_nodes(cfg, say=say)
    for component in reversed(components(cfg, bins)):
        if processes.stop(cfg.layout.pidfile(component.name)):
            say(f"stopped {component.name}")
    _sweep_pod_namespaces(cfg)
    for point in disks.sweep(fleet.nodes_dir(cfg)):
        say(f"unmounted {point.name}")
    network.teardown(pod_network(cfg))
    say("local cluster is down")


def status(cfg: ClusterConfig, *, bins: Binaries | None = None) -> list[ComponentStatus]:
    bins = bins or Binaries.from_cache()
    out = []
    for component in components(cfg, bins):
        tracked = processes.running(cfg.layout.pidfile(component.name))
        healthy, detail = _health(cfg, component)
        rss = processes.rss_bytes(tracked.pid) if tracked else 0
        out.append(
            ComponentStatus(component.name, tracked.pid if tracked else None, healthy, detail, rss)
        )
    return out + node_status(cfg)


def _check_binaries(bins: Binaries) -> None:
    missing = bins.missing()
    if missing:
        names = ", ".join(p.name for p in missing)
        raise LocalClusterError(
            f"control-plane binaries not built: {names}. Run 'make binaries' "
            "(builds them from upstream sources with Go; 10-20 minutes the first time)"
        )


def _any_running(cfg: ClusterConfig, bins: Binaries) -> bool:
    return any(processes.running(cfg.layout.pidfile(c.name)) for c in components(cfg, bins))


def _prepare(cfg: ClusterConfig) -> None:
    """Directories, network, certificates and kubeconfigs (all idempotent)."""
    layout = cfg.layout
    for d in (layout.root, layout.logs, layout.run, layout.pki):
        d.mkdir(parents=True, exist_ok=True)
    layout.config_file.write_text(cfg.to_json())
    try:
        network.ensure(pod_network(cfg))
    except network.NetworkError as err:
        raise LocalClusterError(f"pod network: {err} (the local cluster needs root)") from err
    ca = Authority(layout.pki)
    ca.ensure()
    pairs = {spec.name: ca.issue(spec) for spec in certificate_specs(cfg)}
    ensure_service_account_keys(layout.pki)
    identities = {
        layout.admin_kubeconfig: ("kubernetes-admin", pairs["admin"]),
        layout.kubeconfig("controller-manager"): (
            "system:kube-controller-manager",
            pairs["controller-manager"],
        ),
        layout.kubeconfig("scheduler"): ("system:kube-scheduler", pairs["scheduler"]),
    }
    for path, (user, creds) in identities.items():
        write_kubeconfig(path, _kubeconfig(cfg, user, creds))


def _kubeconfig(cfg: ClusterConfig, user: str, creds: KeyPair) -> dict[str, object]:
    return build_kubeconfig(
        cluster=cfg.cluster_name,
        server=cfg.server_url,
        ca=cfg.layout.pki / "ca.crt",
        user=user,
        creds=creds,
    )


def _ensure_component(cfg: ClusterConfig, component: Component, say: Reporter) -> bool:
    pidfile, log = cfg.layout.pidfile(component.name), cfg.layout.log(component.name)
    if processes.running(pidfile):
        _wait_healthy(cfg, component)
        return False
    if _port_in_use(component.port):
        raise LocalClusterError(
            f"{component.name}: port {component.port} is already in use by another "
            "process; stop it or choose another port (see 'navigator local up --help')"
        )
    say(f"starting {component.name} (log: {log})")
    processes.start(component.argv, pidfile=pidfile, log=log)
    _wait_healthy(cfg, component)
    return True


def _wait_healthy(cfg: ClusterConfig, component: Component) -> None:
    pidfile, log = cfg.layout.pidfile(component.name), cfg.layout.log(component.name)
    deadline = time.monotonic() + START_TIMEOUT
    detail = ""
    while time.monotonic() < deadline:
        if not processes.running(pidfile):
            raise LocalClusterError(
                f"{component.name} exited during start; see {log}:\n{processes.tail(log)}"
            )
        healthy, detail = _health(cfg, component)
        if healthy:
            return
        time.sleep(0.25)
    raise LocalClusterError(
        f"{component.name} not healthy after {START_TIMEOUT:.0f}s ({detail}); see {log}:\n"
        f"{processes.tail(log)}"
    )


def _health(cfg: ClusterConfig, component: Component) -> tuple[bool, str]:
    """GET the component's health endpoint over TLS with the admin identity."""
    pki = cfg.layout.pki
    if not (pki / "ca.crt").exists():
        return False, "not initialised"
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    cert = "etcd-server" if component.name == "etcd" else "admin"
    try:
        ctx.load_cert_chain(str(pki / f"{cert}.crt"), str(pki / f"{cert}.key"))
        if component.name in ("kube-controller-manager", "kube-scheduler"):
            # They serve a self-signed certificate of their own.
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        with urllib.request.urlopen(component.health_url, context=ctx, timeout=2.0) as resp:
            code, body = resp.status, resp.read().decode(errors="replace").strip()
    except urllib.error.HTTPError as err:
        code, body = err.code, err.read().decode(errors="replace").strip()
    except (OSError, ssl.SSLError) as err:
        return False, type(err).__name__
    ok = code == 200 and (body == "ok" or '"health":"true"' in body)
    return ok, body[:200] if not ok else "ok"


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


# -- nodes: CoreDNS and one node agent per node -----------------------------------


def coredns_binary() -> Path:
    return cache_root() / "bin" / f"coredns-{pinned().coredns}" / "coredns"


def load_nodes(cfg: ClusterConfig) -> fleet.NodeSet | None:
    path = fleet.nodes_dir(cfg) / "nodes.json"
    return fleet.NodeSet.from_json(path.read_text()) if path.exists() else None


def agent_component(cfg: ClusterConfig, agent: AgentConfig) -> str:
    return f"agent-{agent.node_name}"


def ensure_nodes(
    cfg: ClusterConfig,
    nodes: fleet.NodeSet,
    *,
    bins: Binaries | None = None,
    say: Reporter = print,
) -> bool:
    """Start CoreDNS and the node agents that are not running; wait for Ready nodes."""
    bins = bins or Binaries.from_cache()
    previous = load_nodes(cfg)
    if previous is not None and previous != nodes and _agents_running(cfg, previous):
        raise LocalClusterError(
            f"the cluster in {cfg.state_dir} runs {previous.count} node(s) with other settings; "
            "run 'navigator local down' first"
        )
    fleet.nodes_dir(cfg).mkdir(parents=True, exist_ok=True)
    (fleet.nodes_dir(cfg) / "nodes.json").write_text(nodes.to_json())
    ca = Authority(cfg.layout.pki)
    ca.ensure()
    pairs = {spec.name: ca.issue(spec) for spec in fleet.certificate_specs(cfg, nodes)}
    _apply(cfg, bins, fleet.cluster_objects())
    started = _ensure_coredns(cfg, pairs["coredns"], say)
    agents = fleet.agent_configs(cfg, nodes)
    for agent in agents:
        started |= _ensure_agent(cfg, agent, say)
    _wait_nodes_ready(cfg, agents)
    if started:
        say(f"{len(agents)} node(s) ready: {', '.join(a.node_name for a in agents)}")
    return started


def stop_nodes(cfg: ClusterConfig, *, say: Reporter = print) -> None:
    """Stop every node agent (each stops its pods) and CoreDNS."""
    for pidfile in sorted(cfg.layout.run.glob("agent-*.pid")):
        if processes.stop(pidfile, grace=30.0):
            say(f"stopped {pidfile.stem}")
    if processes.stop(cfg.layout.pidfile(COREDNS)):
        say("stopped coredns")


def remove_nodes(
    cfg: ClusterConfig, *, bins: Binaries | None = None, say: Reporter = print
) -> None:
    """Stop the node agents and CoreDNS and deregister the nodes (the control plane stays)."""
    bins = bins or Binaries.from_cache()
    nodes = load_nodes(cfg)
    stop_nodes(cfg, say=say)
    _sweep_pod_namespaces(cfg)
    disks.sweep(fleet.nodes_dir(cfg))
    if nodes is None:
        return
    names = [fleet.node_name(i) for i in range(1, nodes.count + 1)]
    subprocess.run(
        [
            str(bins.kubectl),
            f"--kubeconfig={cfg.layout.admin_kubeconfig}",
            "delete",
            "node",
            "--ignore-not-found",
            *names,
        ],
        capture_output=True,
        check=False,
        timeout=60,
    )
    (fleet.nodes_dir(cfg) / "nodes.json").unlink(missing_ok=True)


def node_status(cfg: ClusterConfig) -> list[ComponentStatus]:
    nodes = load_nodes(cfg)
    if nodes is None:
        return []
    rows = []
    names = [COREDNS] + [f"agent-{a.node_name}" for a in fleet.agent_configs(cfg, nodes)]
    for name in names:
        tracked = processes.running(cfg.layout.pidfile(name))
        rss = processes.rss_bytes(tracked.pid) if tracked else 0
        detail = "running" if tracked else "not running"
        rows.append(
            ComponentStatus(name, tracked.pid if tracked else None, bool(tracked), detail, rss)
        )
    return rows


def _agents_running(cfg: ClusterConfig, nodes: fleet.NodeSet) -> bool:
    return any(
        processes.running(cfg.layout.pidfile(f"agent-{a.node_name}"))
        for a in fleet.agent_configs(cfg, nodes)
    )


def _apply(cfg: ClusterConfig, bins: Binaries, objects: list[dict[str, object]]) -> None:
    text = "\n".join(json.dumps(o) for o in objects)
    proc = subprocess.run(
        [
            str(bins.kubectl),
            f"--kubeconfig={cfg.layout.admin_kubeconfig}",
            "apply",
            "--server-side",
            "--field-manager=navigator-local",
            "-f",
            "-",
        ],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if proc.returncode != 0:
        raise LocalClusterError(f"applying the cluster's node objects failed: {proc.stderr}")


def corefile(cfg: ClusterConfig, kubeconfig: Path) -> str:
    return (
        f".:53 {{\n"
        f"    bind {cfg.host_ip}\n"
        f"    errors\n"
        f"    kubernetes {cfg.cluster_domain} in-addr.arpa ip6.arpa {{\n"
        f"        kubeconfig {kubeconfig}\n"
        f"        pods insecure\n"
        f"        fallthrough in-addr.arpa ip6.arpa\n"
        f"        ttl 5\n"
        f"    }}\n"
        f"    cache 5\n"
        f"}}\n"
    )


def _ensure_coredns(cfg: ClusterConfig, creds: KeyPair, say: Reporter) -> bool:
    binary = coredns_binary()
    pidfile, log = cfg.layout.pidfile(COREDNS), cfg.layout.log(COREDNS)
    if not binary.exists():
        say(f"coredns not built ({binary}): pods get no cluster DNS; run 'make binaries'")
        return False
    if processes.running(pidfile):
        return False
    kubeconfig = cfg.layout.kubeconfig(COREDNS)
    write_kubeconfig(kubeconfig, _kubeconfig(cfg, fleet.COREDNS_USER, creds))
    conf = cfg.state_dir / "Corefile"
    conf.write_text(corefile(cfg, kubeconfig))
    say(f"starting coredns on {cfg.host_ip}:53 (log: {log})")
    processes.start([str(binary), "-conf", str(conf)], pidfile=pidfile, log=log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not processes.running(pidfile):
            raise LocalClusterError(
                f"coredns exited during start; see {log}:\n{processes.tail(log)}"
            )
        if _dns_answers(cfg.host_ip):
            return True
        time.sleep(0.2)
    raise LocalClusterError(f"coredns not answering on {cfg.host_ip}:53; see {log}")


def _dns_answers(server: str) -> bool:
    """Any DNS answer from `server` (a query for the kubernetes Service)."""
    query = (
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
        b"\x0akubernetes\x07default\x03svc\x07cluster\x05local\x00\x00\x01\x00\x01"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        try:
            sock.sendto(query, (server, 53))
            data = sock.recv(512)
        except OSError:
            return False
    return data[:2] == b"\x12\x34"


def _ensure_agent(cfg: ClusterConfig, agent: AgentConfig, say: Reporter) -> bool:
    name = agent_component(cfg, agent)
    pidfile, log = cfg.layout.pidfile(name), cfg.layout.log(name)
    config_path = agent.state_dir / "agent.json"
    agent.state_dir.mkdir(parents=True, exist_ok=True)
    config_path.write_text(agent.to_json())
    _ensure_node_address(cfg, agent.node_ip)
    if processes.running(pidfile):
        return False
    say(f"starting node agent {agent.node_name} ({agent.node_ip}, {agent.zone}; log: {log})")
    argv = [sys.executable, "-m", "navigator.local.agent", str(config_path)]
    processes.start(argv, pidfile=pidfile, log=log)
    return True


def _ensure_node_address(cfg: ClusterConfig, address: str) -> None:
    """Each node's InternalIP lives on the host's veth into the pod network."""
    shown = subprocess.run(
        ["ip", "-o", "addr", "show", "dev", cfg.host_veth],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    if f" {address}/" not in shown:
        subprocess.run(
            ["ip", "addr", "add", f"{address}/32", "dev", cfg.host_veth],
            capture_output=True,
            check=True,
        )


def _node_ready(cfg: ClusterConfig, name: str) -> bool:
    pki = cfg.layout.pki
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    url = f"{cfg.server_url}/api/v1/nodes/{name}"
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=2.0) as resp:
            node = json.loads(resp.read())
    except (OSError, ValueError):
        return False
    conds = node.get("status", {}).get("conditions", [])
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conds)
    return ready and bool(node.get("spec", {}).get("podCIDR"))


def _wait_nodes_ready(cfg: ClusterConfig, agents: list[AgentConfig]) -> None:
    deadline = time.monotonic() + NODE_READY_TIMEOUT
    waiting = list(agents)
    while waiting:
        for agent in list(waiting):
            name = agent_component(cfg, agent)
            if not processes.running(cfg.layout.pidfile(name)):
                log = cfg.layout.log(name)
                raise LocalClusterError(
                    f"node agent {agent.node_name} exited during start; see {log}:\n"
                    f"{processes.tail(log)}"
                )
            if _node_ready(cfg, agent.node_name):
                waiting.remove(agent)
        if waiting and time.monotonic() > deadline:
            names = ", ".join(a.node_name for a in waiting)
            raise LocalClusterError(f"node(s) {names} not Ready after {NODE_READY_TIMEOUT:.0f}s")
        if waiting:
            time.sleep(0.25)


def _sweep_pod_namespaces(cfg: ClusterConfig) -> None:
    """Pod network namespaces and cgroups an agent could not remove (e.g. it was killed)."""
    cgroups.sweep(f"{cfg.netns}-{fleet.node_name(0)[:-1]}")
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        if not name.startswith(f"{cfg.netns}-") or not name[len(cfg.netns) + 1 :][:1].isdigit():
            continue
        pids = subprocess.run(
            ["ip", "netns", "pids", name], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
