"""One reconcile of one cluster, of any database, as a fixed list of phases:

1. gather: read the cluster and its children and parse them (consistent
   reads from the API server, no cache, so no stale view can repeat an
   action); a cluster that is gone has its Pilots released;
2. observe: the frozen snapshot (`core.observed`), pure;
3. decide: the one next action, pure;
4. converge (unless paused): the engine's preparing steps (e.g. volumes grown,
   credentials, certificates), then the steady objects (`build_objects`,
   pure) and the engine's pools and members at their current sizes;
5. act (unless paused): carry out the one action (the engine's side effects:
   Kubernetes writes, and what only the database can do, e.g. Cassandra's CQL);
6. record: Events and the status, written only when it differs.

The phases, the handling of what the API server answers (a conflict: decide
again at once; leadership lost or namespace going: the pass ends) and the
release of a gone cluster's Pilots are the core's; an engine is a subclass
that gives the phases' contents (the abstract methods: the engine protocol).
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from lightkube import ApiError
from pydantic import ValidationError

from navigator.operator.core.intents import PENDING_INTENTS_FINALIZER
from navigator.operator.core.kube import Kube, is_conflict, is_namespace_terminating
from navigator.operator.core.leader import NotLeader
from navigator.operator.core.objects import CLUSTER_LABEL, Manifest
from navigator.operator.core.workers import GONE

log = logging.getLogger(__name__)

# How soon to come back after an action, and after a wait or a failed step.
AFTER_ACTION, AFTER_WAIT = 1.0, 10.0

World = TypeVar("World")  # what one pass read
Snapshot = TypeVar("Snapshot")  # what one decision is taken from
Action = TypeVar("Action")  # what the engine's `decide` returns
Outcome = TypeVar("Outcome")  # what the engine's `act` says it did, for the status


@dataclass(frozen=True)
class Prepared(Generic[World, Action]):
    """What the engine's steps before converging left: the world as they
    changed it, a wait to show when nothing else is decided, or a request
    to end the pass and decide again from fresh reads."""

    world: World
    wait: Action | None = None
    decide_again: bool = False


class Reconciler(ABC, Generic[World, Snapshot, Action, Outcome]):
    """Reconciles clusters of one engine through one `Kube`; `clock` is
    injectable for tests."""

    def __init__(self, kube: Kube, *, clock: Callable[[], datetime] | None = None) -> None:
        self.kube = kube
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- the engine protocol ---------------------------------------------------

    @abstractmethod
    async def gather(self, namespace: str, name: str) -> World | None:
        """Read and parse the cluster and its children (None: it is gone or
        going); a cluster that does not parse raises `ValidationError`."""

    @abstractmethod
    def observe(self, world: World, now: datetime) -> Snapshot:
        """The frozen snapshot the decision and the status work from (pure)."""

    @abstractmethod
    def decide(self, observed: Snapshot) -> Action | None:
        """The one next action (pure)."""

    @abstractmethod
    def paused(self, world: World) -> bool:
        """The user asked the operator to change nothing."""

    @abstractmethod
    async def prepare(self, world: World) -> Prepared[World, Action]:
        """The engine's steps before the steady objects are applied."""

    @abstractmethod
    def build_objects(self, world: World) -> list[Manifest]:
        """The cluster-wide steady objects, in apply order (pure)."""

    @abstractmethod
    async def converge_members(self, world: World, observed: Snapshot) -> None:
        """The pools and members at their current sizes (no action taken)."""

    @abstractmethod
    async def act(self, world: World, observed: Snapshot, action: Action | None) -> Outcome | None:
        """Carry out `action`."""

    @abstractmethod
    async def record(
        self, world: World, observed: Snapshot, action: Action | None, outcome: Outcome | None
    ) -> None:
        """Events for finished and blocked operations, then the status."""

    @abstractmethod
    def again(self, world: World, action: Action | None, outcome: Outcome | None) -> float | None:
        """How soon to come back after a pass that ran to its end."""

    # -- the skeleton ----------------------------------------------------------

    async def reconcile(self, namespace: str, name: str) -> float | None:
        """One pass; returns how soon to come back (None: at the next resync;
        `GONE`: the cluster no longer exists)."""
        try:
            world = await self.gather(namespace, name)
        except ValidationError as err:
            log.warning("cluster %s/%s does not parse: %s", namespace, name, err)
            return None
        if world is None:
            await self.release_pilots(namespace, name)
            return GONE
        observed = self.observe(world, self.clock())
        action = self.decide(observed)
        outcome: Outcome | None = None
        try:
            if not self.paused(world):
                prepared = await self.prepare(world)
                if prepared.decide_again:
                    return AFTER_ACTION
                world = prepared.world
                await self.converge(world, observed)
                outcome = await self.act(world, observed, action)
                action = action or prepared.wait
            await self.record(world, observed, action, outcome)
        except NotLeader:
            log.info("no longer leading: the pass of %s/%s ends here", namespace, name)
            return None
        except ApiError as err:
            if is_conflict(err):
                # Someone (another replica on a stale read, or the controller)
                # changed an object after our read: read again and decide again.
                log.info("%s/%s changed during the pass (%s): again", namespace, name, err)
                return AFTER_ACTION
            if not is_namespace_terminating(err):
                raise
            log.info("namespace %s is being deleted: %s/%s left alone", namespace, namespace, name)
            return None
        return self.again(world, action, outcome)

    async def converge(self, world: World, observed: Snapshot) -> None:
        """Steady objects, then the engine's pools and members."""
        manifests = self.build_objects(world)
        lives = await asyncio.gather(*(self.kube.live_of(m) for m in manifests))
        for manifest, live in zip(manifests, lives, strict=True):
            await self.kube.apply(manifest, live)
        await self.converge_members(world, observed)

    async def release_pilots(self, namespace: str, name: str) -> None:
        """The cluster is gone or going: nothing will act on its Pilots'
        intents any more, so the pending-intents finalizer comes off them (the
        garbage collector then deletes them with the cluster)."""
        for pilot in await self.kube.list("Pilot", namespace, {CLUSTER_LABEL: name}):
            await self._release(pilot, namespace)

    async def _release(self, pilot: dict[str, Any] | None, namespace: str) -> None:
        """Take the finalizer off one Pilot, conditional on its resourceVersion;
        a Pilot that changed meanwhile (its pilot wrote status) is read again."""
        for _ in range(5):
            meta = (pilot or {}).get("metadata") or {}
            held = meta.get("finalizers") or []
            if PENDING_INTENTS_FINALIZER not in held:
                return
            rest = [f for f in held if f != PENDING_INTENTS_FINALIZER]
            patch = {"metadata": {"finalizers": rest, "resourceVersion": meta["resourceVersion"]}}
            try:
                await self.kube.merge_patch("Pilot", meta["name"], namespace, patch)
                return
            except ApiError as err:
                if not is_conflict(err):
                    raise
            pilot = await self.kube.get("Pilot", meta["name"], namespace)

    async def write_status(self, raw: dict[str, Any], status: dict[str, Any]) -> None:
        """Write the cluster's status subresource (its wire form `status`)."""
        meta = raw["metadata"]
        body = {
            "apiVersion": raw["apiVersion"],
            "kind": raw["kind"],
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            "status": status,
        }
        await self.kube.apply_status(raw["kind"], meta["name"], meta["namespace"], body)
