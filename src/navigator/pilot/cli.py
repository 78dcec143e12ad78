"""`navigator pilot cassandra`: the entrypoint of every Cassandra container."""

from __future__ import annotations

import asyncio
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
from navigator.pilot.cassandra.jolokia import Jolokia
from navigator.pilot.cassandra.render import JOLOKIA_PORT, Layout, Overrides, render
from navigator.pilot.cassandra.start import (
    JoinedMember,
    StartInputs,
    StartPlan,
    cluster_view,
    volume_empty,
)
from navigator.pilot.cassandra.tls import TlsMaterial, TlsReloader, reload_with
from navigator.pilot.core.identity import Identity, IdentityError
from navigator.pilot.core.intents import Intent
from navigator.pilot.core.loop import Pilot, Settings
from navigator.pilot.kube import KubeStore, cluster_object, cluster_spec, pod_addresses
from navigator.pilot.kubeclient import KubeClient, default_endpoint

log = logging.getLogger("navigator.pilot")

# Where the operator mounts the pool's TLS Secret when spec.tls is on.
TLS_DIR_ENV = "NAVIGATOR_TLS_DIR"


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
    log.info("cassandra profile", extra={"profile": profile.name})
    sys.exit(asyncio.run(_run(identity, layout, heap, probe_port, profile)))


async def _run(
    identity: Identity, layout: Layout, heap: str, probe_port: int, profile: Profile
) -> int:
    client = KubeClient(default_endpoint())
    spec = await cluster_spec(client, namespace=identity.namespace, name=identity.cluster)
    config = _config(spec)
    jars = sorted((layout.cassandra_home / "lib").glob("jamm-*.jar"))
    jvm_options_text = (layout.conf_dir / "jvm17-server.options").read_text()
    jolokia_url = f"http://127.0.0.1:{JOLOKIA_PORT}/jolokia/"
    client_tls, internode_tls, tls_dir = tls_config(config, os.environ)
    reloader = (
        TlsReloader(tls_dir, identity.pod_name, layout.tls_files, reload_with(Jolokia(jolokia_url)))
        if tls_dir is not None
        else None
    )

    def launch_for(start: StartPlan) -> Launch:
        log.info("starting", extra=start.report())
        # Read at every launch: a restart starts with the current certificates.
        material: TlsMaterial | None = reloader.for_launch() if reloader else None
        return render(
            identity,
            start.seeds,
            Overrides(
                cassandra_yaml=config.get("cassandraYaml") or {},
                jvm_options=config.get("jvmOptions") or [],
                heap=heap,
                auth=bool(config.get("auth", False)),
                client_encryption=client_tls,
                internode_encryption=internode_tls,
                tls=material,
            ),
            layout,
            jvm_options_text=jvm_options_text,
            jamm_agent=jars[-1] if jars else None,
            profile=profile,
            replace_address=start.replacing,
        )

    async def gather(replace: Intent | None) -> StartInputs:
        return await start_inputs(client, identity, layout.data_dir, replace)

    adapter = CassandraAdapter(launch_for, jolokia_url=jolokia_url, gather=gather, tls=reloader)
    store = KubeStore(client, namespace=identity.namespace, name=identity.pilot_name)
    pilot = Pilot(adapter, store, Settings(probe_port=probe_port))
    pilot.incarnation = incarnation(os.environ)
    return await pilot.run()


async def start_inputs(
    client: KubeClient, identity: Identity, data_dir: Path, replace: Intent | None
) -> StartInputs:
    """What `start.plan` decides from: the cluster's record of who joined, their
    pods' addresses now, and whether this member's volume holds data."""
    cluster = await cluster_object(client, namespace=identity.namespace, name=identity.cluster)
    view = cluster_view(cluster)
    names = [name for name, _ in view.joined]
    addresses = await pod_addresses(client, namespace=identity.namespace, pods=names)
    return StartInputs(
        me=identity.pod_name,
        my_address=identity.pod_ip,
        founder=view.founder,
        volume_empty=volume_empty(data_dir),
        recorded_host_id=view.recorded.get(identity.pod_name, ""),
        joined=tuple(JoinedMember(n, h, addresses.get(n, "")) for n, h in view.joined),
        replace=replace,
    )


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
    auth = (spec.get("auth") or {}).get("enabled", True)
    config = {**(spec.get("config") or {}), "auth": bool(auth)}
    if "tls" in spec:  # absent: both off (`tls_config`)
        tls = spec["tls"] or {}
        config["tls"] = {
            "client": bool(tls.get("clientEncryption", False)),
            "internode": bool(tls.get("internodeEncryption", False)),
        }
    return config


def tls_config(config: Mapping[str, Any], env: Mapping[str, str]) -> tuple[bool, bool, Path | None]:
    """Client and internode encryption (`config["tls"]`, both off when absent)
    and, when either is on, the directory of the mounted TLS Secret."""
    tls = config.get("tls") or {}
    client, internode = bool(tls.get("client", False)), bool(tls.get("internode", False))
    if not (client or internode):
        return False, False, None
    directory = env.get(TLS_DIR_ENV)
    if not directory:
        raise click.ClickException(
            f"TLS is on (client={client}, internode={internode}) but {TLS_DIR_ENV} is not set:"
            " the pod must mount the pool's TLS Secret and name its directory there"
        )
    return client, internode, Path(directory)


def incarnation(env: Mapping[str, str]) -> dict[str, str]:
    """The status fields that say which pod and revision wrote it (the
    config hash is added once the database starts)."""
    return {
        "revision": env.get("NAVIGATOR_REVISION", ""),
        "podUID": env.get("POD_UID", ""),
    }
