"""`navigator operator`: kopf watches and wakes, the reconcilers decide and act.

Each database the operator runs is an `Engine` in `ENGINES`: its cluster kind
and the reconciler (`navigator.operator.core.reconciler`) that runs its
clusters. One handler set is registered per engine: its clusters' events wake
that cluster's one serialized reconcile, and its children's (StatefulSets and
Pilots that carry the cluster label, routed by their app.kubernetes.io/name)
wake their cluster.

kopf is used only to watch and wake; no state-tracking handler, finalizer or
annotation of kopf's is used, so kopf never writes to the objects. Pods are
not watched: kopf filters labels client-side, which would stream every Pod of
the cluster into the operator; StatefulSet status and Pilot status carry what
the decision needs.

The metrics server (`navigator.operator.core.metrics`) starts before kopf and
stops after it, on the same event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kopf
from lightkube import AsyncClient, KubeConfig

from navigator.api.common import GROUP, VERSION
from navigator.cassandra.profile import DEFAULT, Profile
from navigator.operator.cassandra.reconcile import Reconciler as CassandraReconciler
from navigator.operator.core.kube import Kube
from navigator.operator.core.leader import LeaseElector
from navigator.operator.core.metrics import Metrics, MetricsServer
from navigator.operator.core.objects import CLUSTER_LABEL, FIELD_MANAGER
from navigator.operator.core.reconciler import Reconciler
from navigator.operator.core.workers import Workers

log = logging.getLogger(__name__)


SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
APP_LABEL = "app.kubernetes.io/name"


@dataclass(frozen=True)
class Engine:
    """One database the operator runs."""

    plural: str  # its cluster resource, in navigator.dev/v1alpha1
    app: str  # the app.kubernetes.io/name label of its clusters' children
    # Its reconciler, on the operator's `Kube` and with the run's settings.
    reconciler: Callable[[Kube, Mapping[str, Any]], Reconciler[Any, Any, Any, Any]]


ENGINES: tuple[Engine, ...] = (
    Engine(
        "cassandraclusters",
        "cassandra",
        lambda kube, memo: CassandraReconciler(kube, profile=memo["cassandra_profile"]),
    ),
)


@kopf.on.login()
def _login(settings: kopf.OperatorSettings, **kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a pod, the API server as client-go and lightkube find it: from
    KUBERNETES_SERVICE_HOST/PORT (kopf's own service-account login assumes the
    name kubernetes.default.svc on port 443); elsewhere, the kubeconfig. Both
    of the operator's clients thus talk to the same server."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT")
    token = SERVICE_ACCOUNT / "token"
    if not (host and port and token.exists()):
        return kopf.login_with_kubeconfig(settings=settings, **kwargs)
    namespace = SERVICE_ACCOUNT / "namespace"
    return kopf.ConnectionInfo(
        server=f"https://{f'[{host}]' if ':' in host else host}:{port}",
        ca_path=str(SERVICE_ACCOUNT / "ca.crt"),
        token=token.read_text().strip(),
        default_namespace=namespace.read_text().strip() if namespace.exists() else None,
    )


@kopf.on.startup()
async def _startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.posting.enabled = False  # our own Events only, never kopf's log lines
    settings.peering.standalone = True  # leader election is the Lease's job
    settings.watching.server_timeout = 300
    client = AsyncClient(config=KubeConfig.from_env(), field_manager=FIELD_MANAGER)
    metrics: Metrics = memo["metrics"]
    elector = LeaseElector(
        client,
        namespace=memo["lease_namespace"],
        identity=memo["identity"],
        duration=memo["lease_seconds"],
        renew=memo["lease_seconds"] / 3,
    )
    # Leadership is asked before every write, not only at the start of a pass.
    kube = Kube(client, metrics=metrics, is_leader=lambda: elector.is_leader)
    workers = {
        engine.plural: Workers(
            metrics.instrument(engine.reconciler(kube, memo).reconcile),
            resync=memo["resync"],
            is_leader=lambda: elector.is_leader,
        )
        for engine in ENGINES
    }
    elector.on_elected = lambda: _wake_all(workers)
    metrics.watch_leader(lambda: elector.is_leader)
    metrics.watch_clusters(lambda: sum(len(w) for w in workers.values()))
    memo["workers"], memo["elector"] = workers, elector
    memo["elector_task"] = asyncio.create_task(elector.run(), name="lease")


@kopf.on.cleanup()
async def _cleanup(memo: kopf.Memo, **_: Any) -> None:
    memo["elector_task"].cancel()
    for workers in memo["workers"].values():
        await workers.stop()
    await memo["elector"].release()


def _wake_all(workers: Mapping[str, Workers]) -> None:
    for one in workers.values():
        one.wake_all()


def _register(engine: Engine) -> None:
    """The engine's clusters' events wake (or forget) their reconcile."""

    async def cluster_event(
        *, type: str, name: str, namespace: str | None, memo: Any, **_: Any
    ) -> None:
        if namespace is None:
            return
        workers = memo["workers"][engine.plural]
        if type == "DELETED":
            workers.forget(namespace, name)
        else:
            workers.wake(namespace, name)

    kopf.on.event(GROUP, VERSION, engine.plural, id=f"{engine.plural}-event")(cluster_event)


for _engine in ENGINES:
    _register(_engine)


@kopf.on.event("apps", "v1", "statefulsets", labels={CLUSTER_LABEL: kopf.PRESENT})
@kopf.on.event(GROUP, VERSION, "pilots", labels={CLUSTER_LABEL: kopf.PRESENT})
async def _child_event(
    *, labels: Mapping[str, str], namespace: str | None, memo: Any, **_: Any
) -> None:
    """A child wakes its cluster, in the engine its app label names (every
    engine when it names none of them)."""
    if namespace is None:
        return
    ours = [e for e in ENGINES if e.app == labels.get(APP_LABEL)] or ENGINES
    for engine in ours:
        memo["workers"][engine.plural].wake(namespace, labels[CLUSTER_LABEL])


def health(memo: Mapping[str, Any]) -> str | None:
    """Why this replica is unhealthy, or None. The endpoint answering at all
    shows the event loop runs; the Lease loop must run too, or this replica
    would never lead (nor stop leading)."""
    task = memo.get("elector_task")
    if task is not None and task.done():
        return "the lease loop stopped"
    return None


async def _serve(memo: kopf.Memo, *, metrics_port: int, namespaces: tuple[str, ...]) -> None:
    server = None
    if metrics_port:
        server = MetricsServer(memo["metrics"], port=metrics_port, health=lambda: health(memo))
        try:
            await server.start()
        except OSError as err:
            # Never in a pod (the port is the pod's own); where it happens the
            # liveness probe on this port fails and says so.
            log.error("no metrics endpoint: port %d: %s", metrics_port, err)
            server = None
    try:
        # Our identity, not kopf's default (user@host via getpass, which fails
        # for a container user without a passwd entry, such as uid 65532).
        await kopf.operator(
            clusterwide=not namespaces,
            namespaces=list(namespaces),
            standalone=True,
            memo=memo,
            identity=memo["identity"],
        )
    finally:
        if server is not None:
            await server.stop()


def run(
    *,
    lease_namespace: str,
    identity: str,
    resync: float,
    lease_seconds: int,
    metrics_port: int = 0,
    namespaces: tuple[str, ...] = (),
    cassandra_profile: Profile = DEFAULT,
) -> None:
    """Run until signalled. `namespaces`: watch only these (empty: all).
    `cassandra_profile`: what the members' Cassandra is rendered with."""
    memo = kopf.Memo(
        cassandra_profile=cassandra_profile,
        lease_namespace=lease_namespace,
        identity=identity,
        resync=resync,
        lease_seconds=lease_seconds,
        metrics=Metrics(),
    )
    asyncio.run(_serve(memo, metrics_port=metrics_port, namespaces=namespaces))
