"""Bring the local control plane up, report on it, and tear it down.

`up` is idempotent: components already running and healthy are left alone, so
a second `up` changes nothing. Every failure names the component and its log.
"""

from __future__ import annotations

import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from navigator.local import network, processes
from navigator.local.controlplane import (
    ClusterConfig,
    Component,
    certificate_specs,
    components,
)
from navigator.local.kubeconfig import build_kubeconfig, write_kubeconfig
from navigator.local.paths import Binaries
from navigator.local.pki import Authority, KeyPair, ensure_service_account_keys

Reporter = Callable[[str], None]

START_TIMEOUT = 60.0


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


def up(cfg: ClusterConfig, *, bins: Binaries | None = None, say: Reporter = print) -> bool:
    """Start whatever is not running; return True if anything was started."""
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
    for component in reversed(components(cfg, bins)):
        if processes.stop(cfg.layout.pidfile(component.name)):
            say(f"stopped {component.name}")
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
    return out


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
