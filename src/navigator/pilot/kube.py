"""The pilot's view of the Kubernetes API: its Pilot object, seeds, cluster spec.

The pilot uses its pod's service-account token; its Role lets it read what it
needs and write only its own Pilot's status (and events).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event, Pod
from lightkube.types import PatchType

from navigator.pilot.core.intents import Intent, Outcome, Phase
from navigator.pilot.core.loop import PilotState

GROUP, VERSION = "navigator.dev", "v1alpha1"
PilotResource = create_namespaced_resource(GROUP, VERSION, "Pilot", "pilots")
CassandraClusterResource = create_namespaced_resource(
    GROUP, VERSION, "CassandraCluster", "cassandraclusters"
)


def parse_intents(spec: Mapping[str, Any]) -> tuple[Intent, ...]:
    return tuple(
        Intent(id=str(i["id"]), action=str(i["action"]))
        for i in spec.get("intents") or []
        if i.get("id") and i.get("action")
    )


def parse_outcomes(status: Mapping[str, Any]) -> tuple[Outcome, ...]:
    out = []
    for o in status.get("intents") or []:
        try:
            phase = Phase(o["phase"])
        except (KeyError, ValueError):
            continue
        out.append(
            Outcome(
                id=str(o["id"]),
                action=str(o.get("action", "")),
                phase=phase,
                message=str(o.get("message", "")),
                attempts=int(o.get("attempts", 0)),
            )
        )
    return tuple(out)


class KubeStore:
    """Reads this member's Pilot and writes its status subresource."""

    def __init__(self, client: AsyncClient, *, namespace: str, name: str) -> None:
        self.client, self.namespace, self.name = client, namespace, name

    async def read(self) -> PilotState:
        obj = await self.client.get(PilotResource, self.name, namespace=self.namespace)
        spec = dict(obj.get("spec") or {})
        status = dict(obj.get("status") or {})
        return PilotState(parse_intents(spec), parse_outcomes(status), status)

    async def write_status(self, status: dict[str, Any]) -> None:
        # A JSON patch "add" replaces the whole status, so facts that vanished
        # (a peer that left) vanish from the object too.
        await self.client.patch(
            PilotResource.Status,
            self.name,
            [{"op": "add", "path": "/status", "value": status}],
            namespace=self.namespace,
            patch_type=PatchType.JSON,
        )

    async def event(self, reason: str, message: str, *, warning: bool = False) -> None:
        now = dt.datetime.now(dt.UTC)
        with contextlib.suppress(ApiError):  # events are best effort
            await self.client.create(
                Event(
                    metadata=ObjectMeta(generateName=f"{self.name}.", namespace=self.namespace),
                    involvedObject=ObjectReference(
                        apiVersion=f"{GROUP}/{VERSION}",
                        kind="Pilot",
                        name=self.name,
                        namespace=self.namespace,
                    ),
                    reason=reason,
                    message=message,
                    type="Warning" if warning else "Normal",
                    source=EventSource(component="navigator-pilot"),
                    firstTimestamp=now,
                    lastTimestamp=now,
                    count=1,
                )
            )


async def seed_addresses(
    client: AsyncClient, *, namespace: str, seed_pods: Sequence[str]
) -> list[str]:
    """The pod IPs of the seed members that have one (skipping those not started)."""
    addresses = []
    for name in seed_pods:
        try:
            pod = await client.get(Pod, name, namespace=namespace)
        except ApiError as err:
            if err.status.code == 404:
                continue
            raise
        if pod.status and pod.status.podIP:
            addresses.append(pod.status.podIP)
    return addresses


async def cluster_spec(client: AsyncClient, *, namespace: str, name: str) -> dict[str, Any]:
    obj = await client.get(CassandraClusterResource, name, namespace=namespace)
    return dict(obj.get("spec") or {})
