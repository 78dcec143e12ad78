"""`navigator pilot cassandra`: the entrypoint of every Cassandra container."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from navigator import logs
from navigator.cassandra.profile import Profile, UnknownProfile, profile_from_env
from navigator.pilot.cassandra.adapter import CassandraAdapter, Launch
from navigator.pilot.cassandra.render import JOLOKIA_PORT, Layout, Overrides, render
from navigator.pilot.core.identity import Identity, IdentityError
from navigator.pilot.core.loop import Pilot, Settings
from navigator.pilot.kube import KubeStore, cluster_spec, seed_addresses
from navigator.pilot.kubeclient import KubeClient, default_endpoint

log = logging.getLogger("navigator.pilot")


@click.group("pilot")
def pilot() -> None:
    """Run as a database container's entrypoint (set by the operator's pod spec)."""


@pilot.command("cassandra")
@click.option("--cassandra-home", type=click.Path(path_type=Path), default="/opt/cassandra")
@click.option("--conf-dir", type=click.Path(path_type=Path), default="/etc/cassandra")
@click.option("--data-dir", type=click.Path(path_type=Path), default="/var/lib/cassandra")
@click.option("--log-dir", type=click.Path(path_type=Path), default="/var/log/cassandra")
@click.option(
    "--jolokia-agent",
    type=click.Path(path_type=Path),
    default="/opt/navigator/jolokia-agent.jar",
    help="Jolokia JVM agent jar (JMX over HTTP on 127.0.0.1:8778).",
)
@click.option("--probe-port", type=int, default=8080, show_default=True)
@click.option("--heap", default=lambda: os.environ.get("NAVIGATOR_HEAP", "512M"))
@click.option("--log-level", default="INFO")
def cassandra(
    cassandra_home: Path,
    conf_dir: Path,
    data_dir: Path,
    log_dir: Path,
    jolokia_agent: Path,
    probe_port: int,
    heap: str,
    log_level: str,
) -> None:
    """Render config, start and supervise Cassandra, report facts, execute intents."""
    logs.configure(log_level)
    try:
        identity = Identity.from_env()
        # Set by the operator's pod template when it is not the default.
        profile = profile_from_env(os.environ)
    except (IdentityError, UnknownProfile) as err:
        raise click.ClickException(str(err)) from err
    layout = Layout(
        cassandra_home=cassandra_home,
        conf_dir=conf_dir,
        data_dir=data_dir,
        log_dir=log_dir,
        jolokia_agent=jolokia_agent,
    )
    seeds = [s for s in os.environ.get("NAVIGATOR_SEEDS", "").split(",") if s]
    log.info("cassandra profile", extra={"profile": profile.name})
    sys.exit(asyncio.run(_run(identity, layout, seeds, heap, probe_port, profile)))


async def _run(
    identity: Identity,
    layout: Layout,
    seed_pods: list[str],
    heap: str,
    probe_port: int,
    profile: Profile,
) -> int:
    client = KubeClient(default_endpoint())
    spec = await cluster_spec(client, namespace=identity.namespace, name=identity.cluster)
    seeds = await seed_addresses(client, namespace=identity.namespace, seed_pods=seed_pods)
    log.info("seeds resolved", extra={"seeds": seeds, "seed_pods": seed_pods})
    config = _config(spec)
    jars = sorted((layout.cassandra_home / "lib").glob("jamm-*.jar"))
    launch = render(
        identity,
        seeds,
        Overrides(
            cassandra_yaml=config.get("cassandraYaml") or {},
            jvm_options=config.get("jvmOptions") or [],
            heap=heap,
        ),
        layout,
        jvm_options_text=(layout.conf_dir / "jvm17-server.options").read_text(),
        jamm_agent=jars[-1] if jars else None,
        profile=profile,
    )
    adapter = CassandraAdapter(launch, jolokia_url=f"http://127.0.0.1:{JOLOKIA_PORT}/jolokia/")
    store = KubeStore(client, namespace=identity.namespace, name=identity.pilot_name)
    pilot = Pilot(adapter, store, Settings(probe_port=probe_port))
    pilot.incarnation = incarnation(os.environ, launch_hash(launch))
    return await pilot.run()


def _config(spec: dict[str, Any]) -> dict[str, Any]:
    """The user's configuration: from the pod (`NAVIGATOR_CONFIG`, what the
    operator put in the pod template, so the pod runs what its revision says),
    else, for a member started by hand, from the cluster's spec."""
    text = os.environ.get("NAVIGATOR_CONFIG")
    if text:
        loaded = json.loads(text)
        if not isinstance(loaded, dict):
            raise click.ClickException("NAVIGATOR_CONFIG is not a JSON object")
        return loaded
    return dict(spec.get("config") or {})


def launch_hash(launch: Launch) -> str:
    """A hash of what the database was started with: its files and argv."""
    body = json.dumps(
        {"files": {str(k): v for k, v in sorted(launch.files.items())}, "argv": launch.argv},
        sort_keys=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def incarnation(env: Mapping[str, str], config_hash: str) -> dict[str, str]:
    """The status fields that say which pod, revision and config wrote it."""
    return {
        "revision": env.get("NAVIGATOR_REVISION", ""),
        "podUID": env.get("POD_UID", ""),
        "configHash": config_hash,
    }
