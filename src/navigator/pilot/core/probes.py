"""The pilot's HTTP endpoint: liveness, readiness and Prometheus metrics.

A deliberately small asyncio HTTP/1.0 server (no extra dependency): the
kubelet's probes and Prometheus only ever send simple GETs.

| path | 200 when | used by |
|---|---|---|
| /healthz/live | the database process runs and its management interface answers | livenessProbe |
| /healthz/ready | the node is Up/Normal and accepts client connections | readinessProbe |
| /healthz/started | the database process runs and its management interface answers | startupProbe |
| /metrics | always | Prometheus |
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from navigator.pilot.metrics import CONTENT_TYPE, exposition

Check = Callable[[], Awaitable[tuple[bool, str]]]

DEFAULT_PORT = 8080


@dataclass(frozen=True)
class Checks:
    live: Check
    ready: Check


async def serve(checks: Checks, host: str, port: int) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            parts = request.decode(errors="replace").split()
            path = parts[1] if len(parts) >= 2 else "/"
            status, ctype, body = await respond(checks, path)
            head = (
                f"HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)


async def respond(checks: Checks, path: str) -> tuple[str, str, bytes]:
    path = path.split("?", 1)[0]
    if path == "/metrics":
        return "200 OK", CONTENT_TYPE, exposition()
    check = {
        "/healthz/live": checks.live,
        "/healthz/started": checks.live,
        "/healthz/ready": checks.ready,
    }.get(path)
    if check is None:
        return "404 Not Found", "text/plain", b"not found\n"
    ok, reason = await check()
    status = "200 OK" if ok else "503 Service Unavailable"
    return status, "text/plain", (reason + "\n").encode()
