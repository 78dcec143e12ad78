"""Events about pods, posted as the kubelet posts them (source: kubelet on this node)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

import httpx2

from navigator.local.agent import clock
from navigator.local.agent.kube import MERGE, ApiError, Kube, Obj

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
    """Fire-and-forget events: a failed post is logged, never raised.

    Like the kubelet's event correlator, a repeat of the same event (same pod,
    container, type, reason and message) bumps the count of the first one
    instead of creating another object.
    """

    def __init__(self, kube: Kube, node: str) -> None:
        self.kube = kube
        self.node = node
        self._tasks: set[asyncio.Task[None]] = set()
        self._seen: dict[tuple[str, ...], list[Any]] = {}  # key -> [event name, count]
        self._lock = asyncio.Lock()

    def emit(self, pod: Obj, kind: str, reason: str, message: str, container: str = "") -> None:
        path = f"spec.containers{{{container}}}" if container else ""
        obj = event_object(pod, self.node, kind, reason, message, path)
        key = (pod["metadata"]["uid"], path, kind, reason, message)
        task = asyncio.create_task(self._post(key, obj))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def forget(self, uid: str) -> None:
        for key in [k for k in self._seen if k[0] == uid]:
            del self._seen[key]

    async def _post(self, key: tuple[str, ...], obj: Obj) -> None:
        ns = obj["metadata"]["namespace"]
        async with self._lock:
            try:
                if key in self._seen:
                    seen = self._seen[key]
                    seen[1] += 1
                    patch = {"count": seen[1], "lastTimestamp": obj["lastTimestamp"]}
                    await self.kube.patch(
                        f"/api/v1/namespaces/{ns}/events/{seen[0]}", patch, kind=MERGE
                    )
                    return
                await self.kube.create(f"/api/v1/namespaces/{ns}/events", obj)
                self._seen[key] = [obj["metadata"]["name"], 1]
            except (ApiError, httpx2.HTTPError) as err:
                self._seen.pop(key, None)
                log.warning("event %s not posted: %s", obj["reason"], err)
