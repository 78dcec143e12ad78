"""A small async Kubernetes API client speaking plain JSON.

The agent touches many API shapes (pods, their status, nodes, leases, events,
token requests, volumes), sends precondition deletes and strategic-merge
patches; plain dicts over HTTP keep that explicit. TLS with a client
certificate, like the kubelet.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx2

Obj = dict[str, Any]

STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"


class ApiError(RuntimeError):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status}: {body[:300]}")
        self.status = status
        self.body = body

    @property
    def reason(self) -> str:
        try:
            return str(json.loads(self.body).get("reason", ""))
        except ValueError:
            return ""


def tls_context(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


class Kube:
    """JSON requests against one API server with one identity."""

    def __init__(
        self,
        server: str,
        ctx: ssl.SSLContext | None,
        *,
        user_agent: str,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx2.AsyncClient(
            base_url=server,
            verify=ctx if ctx is not None else True,
            transport=transport,
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            timeout=httpx2.Timeout(30.0, connect=5.0),
            limits=httpx2.Limits(max_connections=20, max_keepalive_connections=10),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        content = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if content is not None else {}
        resp = await self._http.request(
            method, path, content=content, params=dict(params or {}), headers=headers
        )
        if resp.status_code >= 400:
            raise ApiError(resp.status_code, resp.text)
        return resp.json() if resp.content else {}

    async def get(self, path: str, **params: str) -> Obj:
        return await self.request("GET", path, params=params)

    async def get_or_none(self, path: str) -> Obj | None:
        try:
            return await self.get(path)
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    async def create(self, path: str, obj: Obj) -> Obj:
        return await self.request("POST", path, body=obj)

    async def patch(self, path: str, patch: Obj, *, kind: str = STRATEGIC) -> Obj:
        return await self.request("PATCH", path, body=patch, content_type=kind)

    async def put(self, path: str, obj: Obj) -> Obj:
        return await self.request("PUT", path, body=obj)

    async def delete(self, path: str, options: Obj | None = None) -> Obj:
        return await self.request("DELETE", path, body=options)

    async def watch(self, path: str, **params: str) -> AsyncIterator[tuple[str, Obj]]:
        """List, then stream changes: yields (type, object) for ever. Every (re-)list
        yields ADDED per object, then ("SYNCED", {"uids": [...]}) naming everything
        that exists, so a consumer can drop what was deleted while it was not watching."""
        while True:
            listing = await self.get(path, **params)
            for item in listing.get("items", []):
                yield "ADDED", item
            uids = [item["metadata"].get("uid") for item in listing.get("items", [])]
            yield "SYNCED", {"uids": uids}
            version = listing["metadata"]["resourceVersion"]
            try:
                async for kind, obj in self._stream(path, version, params):
                    if kind == "BOOKMARK":
                        version = obj["metadata"]["resourceVersion"]
                        continue
                    version = obj.get("metadata", {}).get("resourceVersion", version)
                    yield kind, obj
            except (ApiError, httpx2.TransportError):
                await asyncio.sleep(1.0)

    async def _stream(
        self, path: str, version: str, params: Mapping[str, str]
    ) -> AsyncIterator[tuple[str, Obj]]:
        query = {
            **params,
            "watch": "1",
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "300",
        }
        timeout = httpx2.Timeout(None, connect=5.0)
        async with self._http.stream("GET", path, params=query, timeout=timeout) as resp:
            if resp.status_code >= 400:
                raise ApiError(resp.status_code, (await resp.aread()).decode())
            async for line in resp.aiter_lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                if event["type"] == "ERROR":
                    return  # usually 410 Gone: re-list
                yield event["type"], event["object"]


def pod_path(namespace: str, name: str, sub: str = "") -> str:
    return f"/api/v1/namespaces/{namespace}/pods/{name}" + (f"/{sub}" if sub else "")
