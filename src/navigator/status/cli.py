"""`navigator status`: read a CassandraCluster and its Pilots, print the view.

The only module of the package that talks to the API server (with lightkube,
read-only); building the view and rendering it are pure (`view`, `render`).
Exit codes: 0 shown, 1 the cluster (or the CRD) does not exist, 2 the API
could not be read (no kubeconfig, unreachable, refused).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import httpx2
from lightkube import ALL_NS, ApiError, Client, ConfigError, KubeConfig, SingleConfig
from lightkube.config.models import User
from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text

from navigator.operator.builders.meta import CLUSTER_LABEL
from navigator.operator.kube import CassandraClusterResource, PilotResource, to_dict
from navigator.status.render import (
    cluster_json,
    cluster_renderable,
    clusters_json,
    summary_renderable,
    to_text,
)
from navigator.status.view import ClusterView, Obj, cluster_view, pilots_of

NOT_FOUND, UNREACHABLE = 1, 2
WATCH_INTERVAL = 2.0
PIPE_WIDTH = 200  # a pipe has no width; wide enough that member rows stay on one line


class StatusError(click.ClickException):
    """Nothing to show: the message says why, the class sets the exit code."""


class NotFound(StatusError):
    exit_code = NOT_FOUND


class Unreachable(StatusError):
    exit_code = UNREACHABLE


@dataclass(frozen=True)
class Query:
    """What to show: one cluster, every cluster of a namespace, or of all."""

    namespace: str
    name: str | None = None
    all_namespaces: bool = False


def kubeconfig_path(option: str | None) -> Path:
    """--kubeconfig, else the first existing file of $KUBECONFIG, else ~/.kube/config."""
    if option:
        return Path(option).expanduser()
    paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    existing = [Path(p).expanduser() for p in paths if Path(p).expanduser().is_file()]
    if existing:
        return existing[0]
    return Path(paths[0]).expanduser() if paths else Path("~/.kube/config").expanduser()


def connect(kubeconfig: Path) -> tuple[Client, SingleConfig]:
    """A client for the kubeconfig's current context, and that context."""
    try:
        config = KubeConfig.from_file(kubeconfig).get()
        if config is None:  # get() raises instead; this satisfies the type
            raise ConfigError("no current context")
        if config.user is None:  # no user: anonymous, as kubectl does
            config = config._replace(user=User())
        client = Client(config=config, timeout=httpx2.Timeout(10.0, connect=5.0))
    except (ConfigError, KeyError, OSError, ValueError) as err:
        raise Unreachable(f"cannot use kubeconfig {kubeconfig}: {err}") from err
    return client, config


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
    """The views, or a StatusError saying why there are none."""
    try:
        found = fetch(client, query)
    except ApiError as err:
        raise _api_error(err, query) from err
    except (httpx2.HTTPError, OSError) as err:
        raise Unreachable(f"cannot reach the API server {server}: {err}") from err
    views = [cluster_view(c, p) for c, p in found]
    return sorted(views, key=lambda v: (v.namespace, v.name))


def _api_error(err: ApiError, query: Query) -> StatusError:
    if err.status.code == 404 and query.name is not None:
        where = f"{query.namespace}/{query.name}"
        return NotFound(f"CassandraCluster {where} not found")
    if err.status.code == 404:
        msg = "the CassandraCluster resource is not installed (apply deploy/crds/)"
        return NotFound(msg)
    return Unreachable(f"the API server refused: {err.status.code} {err}")


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
        except StatusError as err:
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
@click.option(
    "-n",
    "--namespace",
    default=None,
    help="Namespace of the cluster(s); default: the kubeconfig context's, else 'default'.",
)
@click.option(
    "-A", "--all-namespaces", is_flag=True, help="Summarize the clusters of every namespace."
)
@click.option(
    "--kubeconfig",
    default=None,
    help="Kubeconfig file; default: $KUBECONFIG, else ~/.kube/config.",
)
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
