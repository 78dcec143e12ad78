"""A tiny JMX-over-HTTP client for the Jolokia agent running inside Cassandra.

Why Jolokia instead of nodetool: nodetool starts a JVM per call (seconds of
CPU and ~100 MB each), while one Jolokia bulk request reads every fact the
pilot needs in a few milliseconds over plain HTTP on localhost. Operations
(decommission, drain) are JMX operations on the same endpoint; they run in
Cassandra's JVM and continue even if the pilot that asked dies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx

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
    def __init__(self, url: str = DEFAULT_URL, *, timeout: float | None = 5.0) -> None:
        """`timeout=None` for long operations (decommission) that block until done."""
        self._url = url
        self._client = httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def bulk(self, requests: Sequence[Request]) -> list[Any]:
        """Send requests in one round trip; return each value (errors raise)."""
        if not requests:
            return []
        try:
            resp = await self._client.post(self._url, json=[r.body() for r in requests])
            resp.raise_for_status()
            answers = resp.json()
        except (httpx.HTTPError, ValueError) as err:
            raise JolokiaError(
                f"JMX over HTTP at {self._url}: {type(err).__name__}: {err}"
            ) from err
        return [_value(req, ans) for req, ans in zip(requests, answers, strict=True)]

    async def call(self, request: Request) -> Any:
        return (await self.bulk([request]))[0]


def _value(request: Request, answer: Mapping[str, Any]) -> Any:
    if answer.get("status") != 200:
        what = request.operation if isinstance(request, Exec) else request.mbean
        raise JolokiaError(f"{what}: {answer.get('error_type', '')} {answer.get('error', '')}")
    return answer.get("value")
