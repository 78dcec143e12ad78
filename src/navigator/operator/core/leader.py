"""Leader election with a coordination.k8s.io/v1 Lease: several replicas may
run, only the holder of the Lease reconciles. kopf's peering is not leader
election, so this is done here.

The holder renews every `renew` seconds; another replica takes the Lease over
once `duration` seconds passed without a renewal. Writes are optimistic
(resourceVersion), so two replicas cannot both win the same round.

The holder believes it leads for `duration` seconds from the moment it *sent*
its last successful acquire or renew (on its monotonic clock), never from when
the answer came back: a slow answer must not stretch the belief past the
moment another replica may take over. The operator's writes ask `is_leader`
each time (see `Kube`), not once per pass.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.resources.coordination_v1 import Lease

log = logging.getLogger(__name__)

LEASE_NAME = "navigator-operator"


class NotLeader(Exception):
    """A write was attempted while this replica does not hold the Lease: the
    pass ends without it (another replica, or our next term, carries on)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _micro(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def expired(spec: dict[str, Any], now: datetime) -> bool:
    """Whether the holder stopped renewing for longer than the lease lasts."""
    renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
    duration = int(spec.get("leaseDurationSeconds") or 15)
    return renewed is None or now > renewed + timedelta(seconds=duration)


class LeaseElector:
    """Keeps trying to hold the Lease; `is_leader` says whether we do now."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        namespace: str,
        identity: str,
        name: str = LEASE_NAME,
        duration: int = 15,
        renew: float = 5.0,
        on_elected: Callable[[], None] = lambda: None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = _now,
    ) -> None:
        """`monotonic` measures our own term; `wall` stamps the Lease (what
        the other replicas compare with their clocks)."""
        self.client, self.namespace, self.identity, self.name = client, namespace, identity, name
        self.duration, self.renew = duration, renew
        self.on_elected = on_elected
        self._monotonic, self._wall = monotonic, wall
        self._leader_until: float | None = None

    @property
    def is_leader(self) -> bool:
        return self._leader_until is not None and self._monotonic() < self._leader_until

    async def run(self) -> None:
        while True:
            await self.step()
            await asyncio.sleep(self.renew)

    async def step(self) -> None:
        """One round: acquire or renew the Lease. A won round makes us leader
        until `duration` after the request was sent; a lost one ends our term
        at once; an error leaves the term to run out."""
        was = self.is_leader
        sent = self._monotonic()
        try:
            won = await self.try_acquire()
            self._leader_until = sent + self.duration if won else None
        except (ApiError, OSError) as err:
            log.warning("lease %s: %s", self.name, err)
        if self.is_leader and not was:
            log.info("elected leader", extra={"identity": self.identity})
            self.on_elected()

    async def try_acquire(self) -> bool:
        now = self._wall()
        try:
            lease = await self.client.get(Lease, self.name, namespace=self.namespace)
        except ApiError as err:
            if err.status.code != 404:
                raise
            return await self._create(now)
        spec = lease.spec.to_dict() if lease.spec else {}
        holder = spec.get("holderIdentity")
        if holder != self.identity and not expired(spec, now):
            return False
        spec.update(holderIdentity=self.identity, renewTime=_micro(now))
        spec["leaseDurationSeconds"] = self.duration
        if holder != self.identity:
            spec["acquireTime"] = _micro(now)
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        body: Any = Lease.from_dict({**lease.to_dict(), "spec": spec})
        try:
            await self.client.replace(body)
        except ApiError as err:
            if err.status.code == 409:  # someone else wrote first
                return False
            raise
        return True

    async def _create(self, now: datetime) -> bool:
        body: Any = Lease.from_dict(
            {
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": {
                    "holderIdentity": self.identity,
                    "leaseDurationSeconds": self.duration,
                    "acquireTime": _micro(now),
                    "renewTime": _micro(now),
                    "leaseTransitions": 0,
                },
            }
        )
        try:
            await self.client.create(body)
        except ApiError as err:
            if err.status.code == 409:
                return False
            raise
        return True

    async def release(self) -> None:
        """Give the Lease up on a clean shutdown so a standby takes over at once."""
        if not self.is_leader:
            return
        self._leader_until = None
        try:
            lease = await self.client.get(Lease, self.name, namespace=self.namespace)
            spec = lease.spec.to_dict() if lease.spec else {}
            if spec.get("holderIdentity") == self.identity:
                spec["renewTime"] = _micro(self._wall() - timedelta(days=1))
                body: Any = Lease.from_dict({**lease.to_dict(), "spec": spec})
                await self.client.replace(body)
        except (ApiError, OSError) as err:
            log.warning("releasing lease %s: %s", self.name, err)
