"""How the kubectl-side commands (`navigator status`, `navigator restart`)
reach the API server: the kubeconfig they read, the lightkube client they
build from it, and the exit code each failure maps to.

Exit codes, the same for every such command: 0 done, 1 the cluster (or the
CRD) does not exist, 2 the API could not be used (no kubeconfig, unreachable,
refused).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import httpx2
from lightkube import ApiError, Client, ConfigError, KubeConfig, SingleConfig
from lightkube.config.models import User

NOT_FOUND, UNREACHABLE = 1, 2


class CommandError(click.ClickException):
    """Nothing was done: the message says why, the class sets the exit code."""


class NotFound(CommandError):
    exit_code = NOT_FOUND


class Unreachable(CommandError):
    exit_code = UNREACHABLE


namespace_option = click.option(
    "-n",
    "--namespace",
    default=None,
    help="Namespace of the cluster(s); default: the kubeconfig context's, else 'default'.",
)
kubeconfig_option = click.option(
    "--kubeconfig",
    default=None,
    help="Kubeconfig file; default: $KUBECONFIG, else ~/.kube/config.",
)


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


def api_error(err: ApiError, namespace: str, name: str | None) -> CommandError:
    """What an API error means to the user: a 404 on a named cluster is that
    cluster missing, on a list the CRD missing; anything else a refusal."""
    if err.status.code == 404 and name is not None:
        return NotFound(f"CassandraCluster {namespace}/{name} not found")
    if err.status.code == 404:
        return NotFound("the CassandraCluster resource is not installed (apply deploy/crds/)")
    return Unreachable(f"the API server refused: {err.status.code} {err}")


@contextmanager
def api_errors(server: str, *, namespace: str, name: str | None) -> Iterator[None]:
    """Turn the failures of the requests made inside into CommandErrors."""
    try:
        yield
    except ApiError as err:
        raise api_error(err, namespace, name) from err
    except (httpx2.HTTPError, OSError) as err:
        raise Unreachable(f"cannot reach the API server {server}: {err}") from err
