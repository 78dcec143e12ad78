"""The pilot's view of the Kubernetes API: its Pilot object, seeds, cluster spec.

The pilot uses its pod's service-account token; its Role lets it read what it
needs and write only its own Pilot's status (and events).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from navigator.pilot.core.intents import Intent, Outcome, Phase
from navigator.pilot.core.loop import PilotState
from navigator.pilot.kubeclient import KubeClient, KubeError

GROUP, VERSION = "navigator.dev", "v1alpha1"
JSON_PATCH = "application/json-patch+json"


def _path(namespace: str, plural: str, name: str = "", *, core: bool = False) -> str:
    prefix = "/api/v1" if core else f"/apis/{GROUP}/{VERSION}"
    return f"{prefix}/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")


def parse_intents(spec: Mapping[str, Any]) -> tuple[Intent, ...]:
    return tuple(
        Intent(
            id=str(i["id"]),
            action=str(i["action"]),
            address=str(i.get("address") or ""),
            host_id=str(i.get("hostID") or ""),
        )
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
                started_at=str(o.get("startedAt", "")),
            )
        )
    return tuple(out)


class KubeStore:
    """Reads this member's Pilot and writes its status subresource."""

    def __init__(self, client: KubeClient, *, namespace: str, name: str) -> None:
        self.client, self.namespace, self.name = client, namespace, name

    async def read(self) -> PilotState:
        obj = await self.client.get(_path(self.namespace, "pilots", self.name))
        spec = dict(obj.get("spec") or {})
        status = dict(obj.get("status") or {})
        return PilotState(parse_intents(spec), parse_outcomes(status), status)

    async def write_status(self, status: dict[str, Any]) -> None:
        # A JSON patch "add" replaces the whole status, so facts that vanished
        # (a peer that left) vanish from the object too.
        await self.client.patch(
            _path(self.namespace, "pilots", self.name) + "/status",
            [{"op": "add", "path": "/status", "value": status}],
            content_type=JSON_PATCH,
        )

    async def event(self, reason: str, message: str, *, warning: bool = False) -> None:
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{self.name}.", "namespace": self.namespace},
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "Pilot",
                "name": self.name,
                "namespace": self.namespace,
            },
            "reason": reason,
            "message": message,
            "type": "Warning" if warning else "Normal",
            "source": {"component": "navigator-pilot"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        with contextlib.suppress(KubeError):  # events are best effort
            await self.client.create(_path(self.namespace, "events", core=True), event)


async def pod_addresses(
    client: KubeClient, *, namespace: str, pods: Sequence[str]
) -> dict[str, str]:
    """Pod name → its IP, for those of `pods` that exist and have one."""
    addresses = {}
    for name in pods:
        try:
            pod = await client.get(_path(namespace, "pods", name, core=True))
        except KubeError as err:
            if err.status == 404:
                continue
            raise
        if ip := (pod.get("status") or {}).get("podIP"):
            addresses[name] = str(ip)
    return addresses


async def cluster_object(client: KubeClient, *, namespace: str, name: str) -> dict[str, Any]:
    """The CassandraCluster as stored (spec and status)."""
    return dict(await client.get(_path(namespace, "cassandraclusters", name)))


async def cluster_spec(client: KubeClient, *, namespace: str, name: str) -> dict[str, Any]:
    obj = await cluster_object(client, namespace=namespace, name=name)
    return dict(obj.get("spec") or {})
