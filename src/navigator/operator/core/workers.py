"""One serialized reconcile loop per cluster, woken by watch events and a
periodic resync. Wakes that arrive during a reconcile coalesce into one more
pass; two passes of the same cluster never overlap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Key = tuple[str, str]  # namespace, name
Reconcile = Callable[[str, str], Awaitable[float | None]]

ERROR_BACKOFF = 5.0
# What a reconcile returns when its cluster no longer exists: the loop ends
# (a child's event can wake a loop for a cluster that was just deleted).
GONE = -1.0


class Workers:
    def __init__(
        self, reconcile: Reconcile, *, resync: float, is_leader: Callable[[], bool]
    ) -> None:
        self._reconcile, self._resync, self._is_leader = reconcile, resync, is_leader
        self._wakes: dict[Key, asyncio.Event] = {}
        self._tasks: dict[Key, asyncio.Task[None]] = {}

    def __len__(self) -> int:
        """How many clusters have a loop."""
        return len(self._tasks)

    def wake(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        if key not in self._tasks:
            self._wakes[key] = asyncio.Event()
            self._tasks[key] = asyncio.create_task(self._loop(key), name=f"reconcile {key}")
        self._wakes[key].set()

    def wake_all(self) -> None:
        for event in self._wakes.values():
            event.set()

    def forget(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        if task := self._tasks.pop(key, None):
            task.cancel()
        self._wakes.pop(key, None)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def _loop(self, key: Key) -> None:
        wake, delay = self._wakes[key], 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=delay)
            wake.clear()
            if not self._is_leader():
                delay = self._resync
                continue
            try:
                after = await self._reconcile(*key)
                if after == GONE and not wake.is_set():
                    self._tasks.pop(key, None)
                    self._wakes.pop(key, None)
                    return
                delay = self._resync if after is None else max(after, 0.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile of %s/%s failed", *key)
                delay = ERROR_BACKOFF
