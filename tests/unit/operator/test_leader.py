"""The Lease elector's term: measured from before the request was sent, so a
slow API server never makes us believe we lead longer than the Lease that
the other replicas see."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lightkube import ApiError
from lightkube.models.meta_v1 import Status
from lightkube.resources.coordination_v1 import Lease

from navigator.operator.core.leader import LeaseElector, expired

pytestmark = pytest.mark.unit

EPOCH = datetime(2030, 1, 1, tzinfo=UTC)
DURATION = 15


class Clock:
    """One fake time for both clocks the elector reads."""

    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t

    def wall(self) -> datetime:
        return EPOCH + timedelta(seconds=self.t)


def api_error(code: int) -> ApiError:
    return ApiError(status=Status.from_dict({"code": code, "message": "m", "status": "Failure"}))


class SlowLeases:
    """An API server holding one Lease, each request taking `delay` seconds
    of the fake clock (before it takes effect), with optimistic concurrency."""

    def __init__(self, clock: Clock, delay: float = 0.0) -> None:
        self.clock, self.delay = clock, delay
        self.stored: dict[str, Any] | None = None
        self.fail: Exception | None = None

    def _request(self) -> None:
        self.clock.t += self.delay
        if self.fail is not None:
            raise self.fail

    async def get(self, _res: Any, _name: str, **_: Any) -> Any:
        self._request()
        if self.stored is None:
            raise api_error(404)
        return Lease.from_dict(copy.deepcopy(self.stored))

    async def create(self, body: Any) -> Any:
        self._request()
        if self.stored is not None:
            raise api_error(409)
        self.stored = {**body.to_dict(), "metadata": {**body.to_dict()["metadata"]}}
        self.stored["metadata"]["resourceVersion"] = "1"
        return body

    async def replace(self, body: Any) -> Any:
        self._request()
        got = body.to_dict()
        assert self.stored is not None
        if got["metadata"].get("resourceVersion") != self.stored["metadata"]["resourceVersion"]:
            raise api_error(409)
        self.write(got["spec"])
        return body

    def write(self, spec: dict[str, Any]) -> None:
        """Store `spec` as a new version (what another replica's write does)."""
        assert self.stored is not None
        version = int(self.stored["metadata"]["resourceVersion"]) + 1
        self.stored = {
            **self.stored,
            "metadata": {**self.stored["metadata"], "resourceVersion": str(version)},
            "spec": spec,
        }

    def spec(self) -> dict[str, Any]:
        assert self.stored is not None
        return dict(self.stored["spec"])


def elector(clock: Clock, client: SlowLeases, **kw: Any) -> LeaseElector:
    return LeaseElector(
        client,  # type: ignore[arg-type]
        namespace="ns",
        identity="me",
        duration=DURATION,
        monotonic=clock.monotonic,
        wall=clock.wall,
        **kw,
    )


async def test_a_slow_acquire_does_not_stretch_the_term() -> None:
    clock = Clock()
    client = SlowLeases(clock, delay=5)  # get (404) + create: answered at t=10
    me = elector(clock, client)
    await me.step()
    assert clock.t == 10
    assert me.is_leader
    clock.t = DURATION - 0.1
    assert me.is_leader
    clock.t = DURATION + 0.1  # 15 s after the request was sent, not after the answer
    assert not me.is_leader


async def test_the_term_never_outlasts_the_lease_the_others_see() -> None:
    """Whenever we believe we lead, no other replica may take over: the
    Lease, as stored, has not expired by the (same) wall clock."""
    clock = Clock()
    client = SlowLeases(clock, delay=0)
    me = elector(clock, client)
    await me.step()
    clock.t, client.delay = 5, 4  # a slow renewal: answered 8 s after it was sent
    await me.step()
    assert clock.t == 13
    assert me.is_leader
    for tenth in range(130, 400):
        clock.t = tenth / 10
        if me.is_leader:
            assert not expired(client.spec(), clock.wall()), clock.t
    assert not me.is_leader


async def test_a_lost_round_ends_the_term_at_once() -> None:
    clock = Clock()
    client = SlowLeases(clock)
    me = elector(clock, client)
    await me.step()
    # Another replica holds it now (e.g. we were cut off and it expired).
    client.write({**client.spec(), "holderIdentity": "other", "renewTime": "2030-01-01T00:00:01Z"})
    clock.t = 1
    await me.step()
    assert not me.is_leader


async def test_a_failed_renewal_lets_the_term_run_out_from_the_last_send() -> None:
    clock = Clock()
    client = SlowLeases(clock, delay=1)
    me = elector(clock, client)
    await me.step()  # sent at 0
    clock.t, client.fail = 5, OSError("connection refused")
    await me.step()
    assert me.is_leader
    clock.t = DURATION - 0.1
    assert me.is_leader
    clock.t = DURATION
    assert not me.is_leader


async def test_being_elected_is_announced_once() -> None:
    clock = Clock()
    client = SlowLeases(clock, delay=1)
    elected: list[float] = []
    me = elector(clock, client, on_elected=lambda: elected.append(clock.t))
    await me.step()
    clock.t = 5
    await me.step()
    assert elected == [2]
