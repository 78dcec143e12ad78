"""The `navigator operator` command. kopf is imported only when it runs, so
other commands (the pilot above all, whose memory is measured) do not load it."""

from __future__ import annotations

import logging
import os
import socket

import click

from navigator.cassandra.profile import DEFAULT, ENV, NAMES, profile_named


@click.command("operator")
@click.option(
    "--lease-namespace",
    default=lambda: os.environ.get("POD_NAMESPACE", "navigator-system"),
    show_default="$POD_NAMESPACE or navigator-system",
    help="Namespace of the leader-election Lease.",
)
@click.option(
    "--identity",
    default=lambda: os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}",
    help="This replica's name in the Lease.",
)
@click.option("--resync", default=60.0, show_default=True, help="Seconds between resyncs.")
@click.option("--lease-seconds", default=15, show_default=True, help="Lease duration.")
@click.option(
    "--metrics-port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port of /metrics and /healthz (0: no endpoint).",
)
@click.option(
    "--namespace",
    "namespaces",
    multiple=True,
    envvar="NAVIGATOR_WATCH_NAMESPACES",
    help="Watch only this namespace (repeatable; comma-separated in"
    " $NAVIGATOR_WATCH_NAMESPACES). Default: every namespace.",
)
@click.option(
    "--cassandra-profile",
    type=click.Choice(NAMES),
    default=DEFAULT.name,
    show_default=True,
    envvar=ENV,
    help=f"What members' Cassandra is rendered with (also ${ENV}): production is"
    " Cassandra's safe defaults; local-test adds a test machine's fast-start shortcuts"
    " (auto_snapshot off, short ring delay, no wait for gossip). Never for real data.",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def operator(
    lease_namespace: str,
    identity: str,
    resync: float,
    lease_seconds: int,
    metrics_port: int,
    namespaces: tuple[str, ...],
    cassandra_profile: str,
    verbose: bool,
) -> None:
    """Run the Cassandra operator (watches CassandraClusters in every
    namespace, or only in those given with --namespace)."""
    from navigator.operator.main import run

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO)
    if not verbose:  # a line per API request or per watch event is debugging material
        for name in ("httpx", "httpx2", "httpcore", "kopf.objects"):
            logging.getLogger(name).setLevel(logging.WARNING)
    run(
        lease_namespace=lease_namespace,
        identity=identity,
        resync=resync,
        lease_seconds=lease_seconds,
        metrics_port=metrics_port,
        namespaces=watched_namespaces(namespaces),
        cassandra_profile=profile_named(cassandra_profile),
    )


def watched_namespaces(values: tuple[str, ...]) -> tuple[str, ...]:
    """--namespace values (each may be a comma-separated list, as the
    environment variable is) as a sorted set; empty means every namespace."""
    names = {n.strip() for v in values for n in v.split(",")}
    return tuple(sorted(n for n in names if n))
