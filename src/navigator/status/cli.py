"""`navigator status`: read a CassandraCluster and its Pilots, print the view.

The only module of the package that reads the API (with lightkube, read-only,
connected by `kubeapi`); building the view and rendering it are pure (`view`,
`render`). Exit codes (`kubeapi`): 0 shown, 1 the cluster (or the CRD) does
not exist, 2 the API could not be read (no kubeconfig, unreachable, refused).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
from lightkube import ALL_NS, Client
from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text

from navigator.operator.cassandra.builders.meta import CLUSTER_LABEL
from navigator.operator.core.kube import CassandraClusterResource, PilotResource, to_dict
from navigator.status.kubeapi import (
    CommandError,
    api_errors,
    connect,
    kubeconfig_option,
    kubeconfig_path,
    namespace_option,
)
from navigator.status.render import (
    cluster_json,
    cluster_renderable,
    clusters_json,
    summary_renderable,
    to_text,
)
from navigator.status.view import ClusterView, Obj, cluster_view, pilots_of

WATCH_INTERVAL = 2.0
PIPE_WIDTH = 200  # a pipe has no width; wide enough that member rows stay on one line


@dataclass(frozen=True)
class Query:
    """What to show: one cluster, every cluster of a namespace, or of all."""

    namespace: str
    name: str | None = None
    all_namespaces: bool = False


def fetch(client: Client, query: Query) -> list[tuple[Obj, list[Obj]]]:
    """Each cluster the query names, with its Pilots."""
    if query.name is not None:
        cluster = to_dict(
            client.get(CassandraClusterResource, query.name, namespace=query.namespace)
        )
        labels: dict[str, Any] = {CLUSTER_LABEL: query.name}
        found = client.list(PilotResource, namespace=query.namespace, labels=labels)
        return [(cluster, [to_dict(p) for p in found])]
    scope = ALL_NS if query.all_namespaces else query.namespace
    clusters = [to_dict(c) for c in client.list(CassandraClusterResource, namespace=scope)]
    pilots: list[Obj] = (
        [to_dict(p) for p in client.list(PilotResource, namespace=scope)] if clusters else []
    )
    return [(c, pilots_of(c, pilots)) for c in clusters]


def read_views(client: Client, query: Query, server: str) -> list[ClusterView]:
    """The views, or a CommandError saying why there are none."""
    with api_errors(server, namespace=query.namespace, name=query.name):
        found = fetch(client, query)
    views = [cluster_view(c, p) for c, p in found]
    return sorted(views, key=lambda v: (v.namespace, v.name))


def render(views: list[ClusterView], query: Query, output: str) -> RenderableType | str:
    """What to print: a JSON document, or a rich renderable."""
    now = datetime.now(UTC)
    if output == "json":
        body = cluster_json(views[0]) if query.name is not None else clusters_json(views)
        return json.dumps(body, indent=2)
    if query.name is not None:
        return cluster_renderable(views[0], now)
    if not views:
        where = "any namespace" if query.all_namespaces else f"namespace {query.namespace}"
        return Text(f"No CassandraClusters in {where}.")
    return summary_renderable(views, all_namespaces=query.all_namespaces, now=now)


def make_console() -> Console:
    """A console for the terminal; for a pipe, wide enough that rows do not wrap."""
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=PIPE_WIDTH)
    return console


def emit(what: RenderableType | str, console: Console) -> None:
    """Print once: JSON as is, a table in colour on a terminal and as plain
    text without trailing blanks in a pipe."""
    if isinstance(what, str):
        click.echo(what)
    elif console.is_terminal:
        console.print(what)
    else:
        click.echo(to_text(what, console.width), nl=False)


def watch(
    show: Callable[[], RenderableType | str],
    first: RenderableType | str,
    console: Console,
    *,
    json_lines: bool,
) -> None:
    """Redraw every WATCH_INTERVAL seconds until Ctrl-C. A failed read says
    why (on stderr for JSON) and the next one tries again."""

    def frame() -> RenderableType | str | None:
        try:
            return show()
        except CommandError as err:
            if json_lines:
                click.echo(f"navigator status: {err.message}", err=True)
                return None
            return Text(f"{err.message} (retrying every {WATCH_INTERVAL:g}s)", style="red")

    try:
        if json_lines:  # one compact document per line: a stream of snapshots
            got: RenderableType | str | None = first
            while True:
                if isinstance(got, str):
                    click.echo(json.dumps(json.loads(got), separators=(",", ":")))
                time.sleep(WATCH_INTERVAL)
                got = frame()
        with Live(first, console=console, auto_refresh=False) as live:
            while True:
                time.sleep(WATCH_INTERVAL)
                live.update(frame() or "", refresh=True)
    except KeyboardInterrupt:
        return


@click.command("status")
@click.argument("cluster", required=False)
@namespace_option
@click.option(
    "-A", "--all-namespaces", is_flag=True, help="Summarize the clusters of every namespace."
)
@kubeconfig_option
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table for people or a JSON document for programs.",
)
@click.option("-w", "--watch", "watching", is_flag=True, help="Refresh every 2 s until Ctrl-C.")
def status(
    cluster: str | None,
    namespace: str | None,
    all_namespaces: bool,
    kubeconfig: str | None,
    output: str,
    watching: bool,
) -> None:
    """Show a CassandraCluster: pools, members with their Cassandra state
    (UN, UJ, UL, DN...), load, rack, host ID, and the operation in progress
    with the safety rule it waits on. Without CLUSTER, one line per cluster.

    Exits 1 when the cluster does not exist, 2 when the API cannot be read.
    """
    if cluster is not None and all_namespaces:
        raise click.UsageError("give either CLUSTER or --all-namespaces, not both")
    path = kubeconfig_path(kubeconfig)
    client, config = connect(path)
    query = Query(namespace or config.namespace, cluster, all_namespaces)
    server = str(config.cluster.server)

    def show() -> RenderableType | str:
        return render(read_views(client, query, server), query, output)

    console = make_console()
    first = show()  # a missing cluster or unreachable API exits here, even with --watch
    if not watching:
        emit(first, console)
        return
    watch(show, first, console, json_lines=output == "json")
