"""A minimal Kubernetes REST client for the pilot, on the standard library.

The pilot runs beside every database node, so its footprint matters: a full
client library (and its HTTP stack and models) doubles its resident memory.
The pilot needs five calls (get, JSON/merge patch, create), so it speaks the
REST API directly: blocking `http.client` requests in worker threads, the
service-account token re-read on every request (it is rotated by the kubelet).
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    context: ssl.SSLContext
    token_file: Path | None = None
    token: str | None = None

    def bearer(self) -> str | None:
        if self.token_file is not None:
            return self.token_file.read_text().strip()
        return self.token


def in_cluster() -> Endpoint:
    ctx = ssl.create_default_context(cafile=str(SA_DIR / "ca.crt"))
    return Endpoint(
        host=os.environ["KUBERNETES_SERVICE_HOST"],
        port=int(os.environ.get("KUBERNETES_SERVICE_PORT", "443")),
        context=ctx,
        token_file=SA_DIR / "token",
    )


def from_kubeconfig(path: Path) -> Endpoint:
    """The current context of a kubeconfig (certificate data or token users)."""
    config = yaml.safe_load(path.read_text())
    ctx_name = config["current-context"]
    context = next(c["context"] for c in config["contexts"] if c["name"] == ctx_name)
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    url = urlsplit(cluster["server"])
    ssl_ctx = ssl.create_default_context()
    if "certificate-authority-data" in cluster:
        ssl_ctx.load_verify_locations(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
        )
    elif "certificate-authority" in cluster:
        ssl_ctx.load_verify_locations(cafile=cluster["certificate-authority"])
    if "client-certificate-data" in user:
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = Path(tmp, "c"), Path(tmp, "k")
            cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
            key.write_bytes(base64.b64decode(user["client-key-data"]))
            ssl_ctx.load_cert_chain(str(cert), str(key))
    return Endpoint(
        host=url.hostname or "localhost",
        port=url.port or 443,
        context=ssl_ctx,
        token=user.get("token"),
        token_file=Path(user["tokenFile"]) if "tokenFile" in user else None,
    )


def default_endpoint() -> Endpoint:
    """$KUBECONFIG if set, else the pod's service account."""
    if kubeconfig := os.environ.get("KUBECONFIG"):
        return from_kubeconfig(Path(kubeconfig))
    return in_cluster()


class KubeClient:
    def __init__(self, endpoint: Endpoint, *, timeout: float = 10.0) -> None:
        self.endpoint, self.timeout = endpoint, timeout

    async def get(self, path: str) -> dict[str, Any]:
        return await self.request("GET", path)

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", path, body)

    async def patch(
        self, path: str, body: Any, *, content_type: str = "application/merge-patch+json"
    ) -> dict[str, Any]:
        return await self.request("PATCH", path, body, content_type=content_type)

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        return await asyncio.to_thread(self._request, method, path, body, content_type)

    def _request(self, method: str, path: str, body: Any, content_type: str) -> dict[str, Any]:
        ep = self.endpoint
        conn = http.client.HTTPSConnection(
            ep.host, ep.port, context=ep.context, timeout=self.timeout
        )
        headers = {"Accept": "application/json", "User-Agent": "navigator-pilot"}
        if token := ep.bearer():
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
        except (OSError, http.client.HTTPException) as err:
            raise KubeError(0, f"{method} {path}: {err}") from err
        finally:
            conn.close()
        decoded: dict[str, Any] = json.loads(payload) if payload else {}
        if resp.status >= 400:
            raise KubeError(resp.status, str(decoded.get("message", payload[:200])))
        return decoded
