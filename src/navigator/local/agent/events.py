"""Events about pods, posted as the kubelet posts them (source: kubelet on this node)."""

from __future__ import annotations

import asyncio
import logging
import secrets

import httpx2

from navigator.local.agent import clock
from navigator.local.agent.kube import ApiError, Kube, Obj

log = logging.getLogger(__name__)


def event_object(
    pod: Obj, node: str, kind: str, reason: str, message: str, field_path: str = ""
) -> Obj:
    meta = pod["metadata"]
    now = clock.rfc3339()
    involved: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "namespace": meta["namespace"],
        "name": meta["name"],
        "uid": meta["uid"],
    }
    if field_path:
        involved["fieldPath"] = field_path
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{secrets.token_hex(8)}",
            "namespace": meta["namespace"],
        },
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": kind,
        "source": {"component": "kubelet", "host": node},
        "reportingComponent": "kubelet",
        "reportingInstance": node,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


class Recorder:
    """Fire-and-forget events: a failed post is logged, never raised."""

    def __init__(self, kube: Kube, node: str) -> None:
        self.kube = kube
        self.node = node
        self._tasks: set[asyncio.Task[None]] = set()

    def emit(self, pod: Obj, kind: str, reason: str, message: str, container: str = "") -> None:
        path = f"spec.containers{{{container}}}" if container else ""
        obj = event_object(pod, self.node, kind, reason, message, path)
        task = asyncio.create_task(self._post(obj))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, obj: Obj) -> None:
        ns = obj["metadata"]["namespace"]
        try:
            await self.kube.create(f"/api/v1/namespaces/{ns}/events", obj)
        except (ApiError, httpx2.HTTPError) as err:
            log.warning("event %s not posted: %s", obj["reason"], err)
