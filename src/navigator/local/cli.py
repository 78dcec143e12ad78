"""`navigator local`: the embedded local cluster."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from navigator.local import cluster
from navigator.local.agent.config import NodeResources
from navigator.local.agent.fleet import DEFAULT_ZONES, NodeSet
from navigator.local.controlplane import ClusterConfig
from navigator.local.paths import Binaries, default_state_dir, helm_binary
from navigator.versions import pinned

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=default_state_dir,
    show_default="$NAVIGATOR_LOCAL_STATE or ~/.local/state/navigator/local",
    help="Where the cluster keeps certificates, etcd data, logs and pidfiles.",
)


def _config(state_dir: Path) -> ClusterConfig:
    return cluster.load_config(state_dir) or ClusterConfig(state_dir=state_dir)


@click.group("local")
def local() -> None:
    """Run a real Kubernetes control plane, built from upstream sources, on this machine."""


@local.command()
@state_dir_option
@click.option("--apiserver-port", type=int, default=6443, show_default=True)
@click.option("--etcd-port", type=int, default=2379, show_default=True)
@click.option(
    "--nodes", type=click.IntRange(0, 50), default=3, show_default=True, help="Node agents to run."
)
@click.option(
    "--zones",
    default=",".join(DEFAULT_ZONES),
    show_default=True,
    help="Comma-separated zones, spread over the nodes in turn.",
)
@click.option("--node-cpu", default="4", show_default=True, help="Each node's CPU capacity.")
@click.option("--node-memory", default="8Gi", show_default=True, help="Each node's memory.")
@click.option("--node-pods", type=int, default=110, show_default=True, help="Pods per node.")
@click.option(
    "--kubelet-port", type=int, default=10250, show_default=True, help="Node agents' log port."
)
def up(
    state_dir: Path,
    apiserver_port: int,
    etcd_port: int,
    nodes: int,
    zones: str,
    node_cpu: str,
    node_memory: str,
    node_pods: int,
    kubelet_port: int,
) -> None:
    """Start etcd, kube-apiserver, kube-controller-manager, kube-scheduler, CoreDNS and
    one node agent per node."""
    cfg = ClusterConfig(
        state_dir=state_dir.resolve(),
        apiserver_port=apiserver_port,
        etcd_client_port=etcd_port,
        etcd_peer_port=etcd_port + 1,
    )
    node_set = NodeSet(
        count=nodes,
        zones=tuple(z.strip() for z in zones.split(",") if z.strip()) or DEFAULT_ZONES,
        resources=NodeResources(cpu=node_cpu, memory=node_memory, pods=node_pods),
        kubelet_port=kubelet_port,
    )
    try:
        cluster.up(cfg, say=click.echo, nodes=node_set)
    except cluster.LocalClusterError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f'use it:   eval "$(navigator local env --state-dir {shlex.quote(str(state_dir))})"')
    click.echo("stop it:  navigator local down")


@local.command()
@state_dir_option
def down(state_dir: Path) -> None:
    """Stop the node agents (and their pods), CoreDNS, every component and the pod network."""
    cluster.down(_config(state_dir.resolve()), say=click.echo)


@local.command()
@state_dir_option
def env(state_dir: Path) -> None:
    """Print shell exports for kubectl, helm and KUBECONFIG: eval "$(navigator local env)"."""
    cfg = _config(state_dir.resolve())
    tools = [Binaries.from_cache().kubectl.parent, helm_binary().parent]
    path = ":".join(shlex.quote(str(d)) for d in tools)
    click.echo(f"export KUBECONFIG={shlex.quote(str(cfg.layout.admin_kubeconfig))}")
    click.echo(f'export PATH={path}:"$PATH"')


@local.command()
@state_dir_option
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
def status(state_dir: Path, output: str) -> None:
    """Show each component's process, health and memory."""
    cfg = _config(state_dir.resolve())
    rows = cluster.status(cfg)
    if output == "json":
        click.echo(json.dumps([vars(r) for r in rows], indent=2))
    else:
        click.echo(f"Kubernetes {pinned().kubernetes} at {cfg.server_url}")
        click.echo(f"{'COMPONENT':<25} {'PID':>8} {'HEALTH':<8} {'RSS':>8}  DETAIL")
        for r in rows:
            pid = str(r.pid) if r.pid else "-"
            health = "ok" if r.healthy else "down"
            rss = f"{r.rss_bytes / 2**20:.0f}Mi" if r.rss_bytes else "-"
            click.echo(f"{r.name:<25} {pid:>8} {health:<8} {rss:>8}  {r.detail}")
    if not all(r.healthy for r in rows):
        sys.exit(1)
