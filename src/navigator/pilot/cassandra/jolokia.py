"""A tiny JMX-over-HTTP client for the Jolokia agent running inside Cassandra.

Why Jolokia instead of nodetool: nodetool starts a JVM per call (seconds of
CPU and ~100 MB each), while one Jolokia bulk request reads every fact the
pilot needs in a few milliseconds over plain HTTP on localhost. Operations
(decommission, drain) are JMX operations on the same endpoint; they run in
Cassandra's JVM and continue even if the pilot that asked dies.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_URL = "http://127.0.0.1:8778/jolokia/"


class JolokiaError(RuntimeError):
    """Cassandra's management interface did not answer, or answered an error."""


@dataclass(frozen=True)
class Read:
    mbean: str
    attributes: tuple[str, ...] | None = None

    def body(self) -> dict[str, Any]:
        req: dict[str, Any] = {"type": "read", "mbean": self.mbean}
        if self.attributes is not None:
            req["attribute"] = list(self.attributes)
        return req


@dataclass(frozen=True)
class Exec:
    mbean: str
    operation: str
    arguments: tuple[Any, ...] = ()

    def body(self) -> dict[str, Any]:
        return {
            "type": "exec",
            "mbean": self.mbean,
            "operation": self.operation,
            "arguments": list(self.arguments),
        }


Request = Read | Exec


class Jolokia:
    """Speaks HTTP/1.0 over asyncio streams: cancellable at any point (a
    decommission request blocks until Cassandra finishes it), no thread, no
    HTTP library."""

    def __init__(self, url: str = DEFAULT_URL, *, timeout: float | None = 5.0) -> None:
        """`timeout=None` for long operations (decommission) that block until done."""
        parts = urlsplit(url)
        self._url, self._timeout = url, timeout
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._path = parts.path or "/"

    async def aclose(self) -> None:
        """Nothing to release: every request has its own connection."""

    async def bulk(self, requests: Sequence[Request]) -> list[Any]:
        """Send requests in one round trip; return each value (errors raise)."""
        if not requests:
            return []
        body = json.dumps([r.body() for r in requests]).encode()
        try:
            async with asyncio.timeout(self._timeout):
                status, payload = await self._post(body)
            answers = json.loads(payload)
        except (OSError, TimeoutError, ValueError) as err:
            raise JolokiaError(
                f"JMX over HTTP at {self._url}: {type(err).__name__}: {err}"
            ) from err
        if status != 200:
            raise JolokiaError(f"JMX over HTTP at {self._url}: HTTP {status}")
        return [_value(req, ans) for req, ans in zip(requests, answers, strict=True)]

    async def call(self, request: Request) -> Any:
        return (await self.bulk([request]))[0]

    async def _post(self, body: bytes) -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(self._host, self._port)
        try:
            head = (
                f"POST {self._path} HTTP/1.0\r\nHost: {self._host}:{self._port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
            response = await reader.read()
        finally:
            writer.close()
        header, _, payload = response.partition(b"\r\n\r\n")
        status_line = header.split(b"\r\n", 1)[0].split()
        return int(status_line[1]) if len(status_line) > 1 else 0, payload


def _value(request: Request, answer: Mapping[str, Any]) -> Any:
    if answer.get("status") != 200:
        what = request.operation if isinstance(request, Exec) else request.mbean
        raise JolokiaError(f"{what}: {answer.get('error_type', '')} {answer.get('error', '')}")
    return answer.get("value")
