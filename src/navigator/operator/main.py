"""`navigator operator`: kopf watches and wakes, the reconciler decides and acts.

kopf is used only to watch CassandraClusters and the children that carry the
cluster label (StatefulSets, Pilots) and to wake that cluster's one serialized
reconcile; no state-tracking handler, finalizer or annotation of kopf's is
used, so kopf never writes to the objects. Pods are not watched: kopf filters
labels client-side, which would stream every Pod of the cluster into the
operator; StatefulSet status and Pilot status carry what the decision needs.

The metrics server (`navigator.operator.core.metrics`) starts before kopf and
stops after it, on the same event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kopf
from lightkube import AsyncClient, KubeConfig

from navigator.api.common import GROUP, VERSION
from navigator.cassandra.profile import DEFAULT, Profile
from navigator.operator.cassandra.builders.meta import CLUSTER_LABEL, FIELD_MANAGER
from navigator.operator.cassandra.reconcile import Reconciler
from navigator.operator.core.kube import Kube
from navigator.operator.core.leader import LeaseElector
from navigator.operator.core.metrics import Metrics, MetricsServer
from navigator.operator.core.workers import Workers

log = logging.getLogger(__name__)


SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


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
    reconciler = Reconciler(
        Kube(client, metrics=metrics, is_leader=lambda: elector.is_leader),
        profile=memo["cassandra_profile"],
    )
    workers = Workers(
        metrics.instrument(reconciler.reconcile),
        resync=memo["resync"],
        is_leader=lambda: elector.is_leader,
    )
    elector.on_elected = workers.wake_all
    metrics.watch_leader(lambda: elector.is_leader)
    metrics.watch_clusters(lambda: len(workers))
    memo["workers"], memo["elector"] = workers, elector
    memo["elector_task"] = asyncio.create_task(elector.run(), name="lease")


@kopf.on.cleanup()
async def _cleanup(memo: kopf.Memo, **_: Any) -> None:
    memo["elector_task"].cancel()
    await memo["workers"].stop()
    await memo["elector"].release()


@kopf.on.event(GROUP, VERSION, "cassandraclusters")
async def _cluster_event(
    *, type: str, name: str, namespace: str | None, memo: Any, **_: Any
) -> None:
    if namespace is None:
        return
    if type == "DELETED":
        memo["workers"].forget(namespace, name)
    else:
        memo["workers"].wake(namespace, name)


@kopf.on.event("apps", "v1", "statefulsets", labels={CLUSTER_LABEL: kopf.PRESENT})
@kopf.on.event(GROUP, VERSION, "pilots", labels={CLUSTER_LABEL: kopf.PRESENT})
async def _child_event(
    *, labels: Mapping[str, str], namespace: str | None, memo: Any, **_: Any
) -> None:
    if namespace is not None:
        memo["workers"].wake(namespace, labels[CLUSTER_LABEL])


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
