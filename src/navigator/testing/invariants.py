"""The operator's safety invariants, checked continuously from what the API
server says while a suite changes the spec and injects faults.

`Invariants` is pure: it is fed one object version at a time (with the
object's resourceVersion, an etcd revision, and the monotonic time it was
seen) and says what broke. `Monitor` feeds it from watches on the test
namespace. A check that relates two kinds of object (a StatefulSet lowered,
its member's Pilot) is deferred by `delay` seconds, because two watch
streams deliver independently: the Pilot's event may arrive after the
StatefulSet's although it was written first. Revisions order them.

The rules (each names the invariant it guards):

- `ReplicasLoweredBeforeDecommission`: a StatefulSet's `replicas` goes down
  only past members whose Pilot reported their Decommission `Succeeded`
  (at a revision before the lowering), or that never joined the ring.
- `DecommissionNotChosen`: a Decommission intent is written only for the
  pool's last member (ordinal `replicas - 1` of its StatefulSet) and only
  while the spec asks for fewer members than that (or no longer has the
  pool).
- `DisruptionWhileAnotherDown`: the operator takes a member down (deletes
  its pod, asks for its decommission) only while every other member is
  Ready, or went unready less than `grace` seconds before (the operator may
  not have seen it yet). Deleting a pod that a fault (the test) deleted is
  not the operator's: `excused` says which.

Convergence and data (0 acknowledged writes lost on any replica) are
checked by the suites themselves (`is_settled`, the data checker).
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

REPLICAS_LOWERED = "ReplicasLoweredBeforeDecommission"
DECOMMISSION_NOT_CHOSEN = "DecommissionNotChosen"
DISRUPTION_WHILE_DOWN = "DisruptionWhileAnotherDown"
RULES = (REPLICAS_LOWERED, DECOMMISSION_NOT_CHOSEN, DISRUPTION_WHILE_DOWN)

JOINED_MODES = frozenset({"NORMAL", "LEAVING", "DECOMMISSIONED", "MOVING", "DRAINING", "DRAINED"})


@dataclass(frozen=True)
class Violation:
    rule: str
    at: float  # monotonic seconds
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


def split_member(member: str) -> tuple[str, int] | None:
    """`<statefulset>-<ordinal>` → (statefulset, ordinal); None for other names."""
    sts, _, ordinal = member.rpartition("-")
    return (sts, int(ordinal)) if sts and ordinal.isdigit() else None


class _History:
    """A value over revisions: what it was as of revision r."""

    def __init__(self) -> None:
        self.revs: list[int] = []
        self.values: list[Any] = []

    def set(self, rev: int, value: Any) -> None:
        at = bisect.bisect_right(self.revs, rev)
        self.revs.insert(at, rev)
        self.values.insert(at, value)

    def at(self, rev: int, default: Any = None) -> Any:
        i = bisect.bisect_right(self.revs, rev)
        return self.values[i - 1] if i else default

    def latest(self, default: Any = None) -> Any:
        return self.values[-1] if self.values else default


@dataclass
class _Deferred:
    due: float
    check: Callable[[], Violation | None]


@dataclass
class Invariants:
    """The checks' state; not thread-safe (the `Monitor` holds a lock)."""

    cluster: str
    grace: float = 5.0
    delay: float = 3.0
    excused: Callable[[str, float], bool] = lambda _member, _at: False
    violations: list[Violation] = field(default_factory=list)
    # statefulset name → replicas over revisions
    _replicas: dict[str, _History] = field(default_factory=dict)
    # pool name → desired replicas over revisions (absent: 0)
    _desired: _History = field(default_factory=_History)
    # member → the revisions its Decommission was seen Succeeded, it was seen
    # joined, and it was added again (a new incarnation after a scale-in)
    _decommissioned: dict[str, list[int]] = field(default_factory=dict)
    _joined: dict[str, list[int]] = field(default_factory=dict)
    _added: dict[str, list[int]] = field(default_factory=dict)
    _intents_seen: set[tuple[str, str]] = field(default_factory=set)
    # member → since when (monotonic) its pod is not Ready; absent: Ready
    _unready_since: dict[str, float] = field(default_factory=dict)
    _deleting: set[str] = field(default_factory=set)
    _deferred: list[_Deferred] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULES, 0))

    # -- inputs --------------------------------------------------------------

    def cluster_spec(self, rev: int, pools: Mapping[str, int]) -> None:
        """The CassandraCluster's spec: desired replicas per pool."""
        self._desired.set(rev, dict(pools))

    def statefulset(self, rev: int, name: str, replicas: int | None, at: float) -> None:
        """A StatefulSet version (`replicas` None: deleted)."""
        history = self._replicas.setdefault(name, _History())
        before = history.latest()
        if replicas is None:
            return  # deleted: the last size stays for a re-creation to compare with
        history.set(rev, replicas)
        if before is None or replicas == before:
            return
        if replicas > before:
            for ordinal in range(before, replicas):
                # A new incarnation of this member: its old decommission is history.
                self._added.setdefault(f"{name}-{ordinal}", []).append(rev)
            return
        self.counts[REPLICAS_LOWERED] += 1
        dropped = [f"{name}-{k}" for k in range(replicas, before)]
        self._defer(at, lambda: self._check_lowered(name, rev, before, replicas, dropped, at))

    def pilot(
        self,
        rev: int,
        member: str,
        intents: Iterable[tuple[str, str]],
        outcomes: Iterable[tuple[str, str, str]],
        mode: str,
        at: float,
    ) -> None:
        """A Pilot version: its spec's intents (id, action), its status's
        outcomes (id, action, phase) and the operation mode it reports."""
        if mode.upper() in JOINED_MODES:
            self._joined.setdefault(member, []).append(rev)
        for _id, action, phase in outcomes:
            if action == "Decommission" and phase == "Succeeded":
                self._decommissioned.setdefault(member, []).append(rev)
        for intent_id, action in intents:
            if action != "Decommission" or (member, intent_id) in self._intents_seen:
                continue
            self._intents_seen.add((member, intent_id))
            self.counts[DECOMMISSION_NOT_CHOSEN] += 1
            self._disruption(member, at, f"Decommission {intent_id}")
            self._defer(at, functools.partial(self._check_chosen, member, intent_id, rev))

    def pod(self, member: str, ready: bool | None, deleting: bool, at: float) -> None:
        """A pod version (`ready` None: the pod is gone)."""
        if ready:
            self._unready_since.pop(member, None)
        else:
            self._unready_since.setdefault(member, at)
        if deleting and member not in self._deleting:
            self._deleting.add(member)
            if self._is_member(member) and not self.excused(member, at):
                self.counts[DISRUPTION_WHILE_DOWN] += 1
                self._disruption(member, at, "pod deleted")
        elif not deleting:
            self._deleting.discard(member)

    def flush(self, now: float, *, all: bool = False) -> list[Violation]:
        """Run the deferred checks that are due (every one with `all`); return
        the violations found so far."""
        due = [d for d in self._deferred if all or d.due <= now]
        self._deferred = [d for d in self._deferred if not (all or d.due <= now)]
        for deferred in due:
            found = deferred.check()
            if found is not None:
                self._violate(found)
        return list(self.violations)

    # -- checks ---------------------------------------------------------------

    def _is_member(self, member: str) -> bool:
        """A pod of an ordinal its StatefulSet still has (not one being
        removed after its decommission)."""
        parts = split_member(member)
        if parts is None:
            return False
        sts, ordinal = parts
        history = self._replicas.get(sts)
        return history is not None and ordinal < int(history.latest(0))

    def _disruption(self, member: str, at: float, what: str) -> None:
        down = sorted(
            f"{other} (unready {at - since:.1f} s)"
            for other, since in self._unready_since.items()
            if other != member and self._is_member(other) and at - since > self.grace
        )
        if down:
            detail = f"{member}: {what} while {', '.join(down)}"
            self._violate(Violation(DISRUPTION_WHILE_DOWN, at, detail))

    def _check_lowered(
        self, sts: str, rev: int, before: int, after: int, dropped: Sequence[str], at: float
    ) -> Violation | None:
        unverified = [
            m
            for m in dropped
            if self._seen(self._joined, m, rev) and not self._seen(self._decommissioned, m, rev)
        ]
        if not unverified:
            return None
        detail = (
            f"{sts} lowered {before}→{after} at revision {rev} while"
            f" {', '.join(unverified)} had no Succeeded Decommission"
        )
        return Violation(REPLICAS_LOWERED, at, detail)

    def _seen(self, revisions: Mapping[str, list[int]], member: str, rev: int) -> bool:
        """Whether `member`'s incarnation current at revision `rev` was seen
        so (in `revisions`) before `rev`."""
        since = max((r for r in self._added.get(member, []) if r < rev), default=0)
        return any(since < r < rev for r in revisions.get(member, []))

    def _check_chosen(self, member: str, intent_id: str, rev: int) -> Violation | None:
        parts = split_member(member)
        if parts is None:
            return Violation(DECOMMISSION_NOT_CHOSEN, 0, f"{member} is not a member name")
        sts, ordinal = parts
        history = self._replicas.get(sts)
        replicas = int(history.at(rev, 0)) if history else 0
        pool = sts.removeprefix(f"{self.cluster}-")
        desired = int((self._desired.at(rev) or {}).get(pool, 0))
        if ordinal == replicas - 1 and desired <= ordinal:
            return None
        detail = (
            f"{intent_id} for {member} at revision {rev}: {sts} had {replicas} replicas"
            f" and the spec asked for {desired}"
        )
        return Violation(DECOMMISSION_NOT_CHOSEN, time.monotonic(), detail)

    def _defer(self, at: float, check: Callable[[], Violation | None]) -> None:
        self._deferred.append(_Deferred(at + self.delay, check))

    def _violate(self, violation: Violation) -> None:
        log.error("invariant violated: %s", violation)
        self.violations.append(violation)


def _rev(obj: Mapping[str, Any]) -> int:
    return int((obj.get("metadata") or {}).get("resourceVersion") or 0)


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def feed(inv: Invariants, kind: str, kind_of_event: str, obj: Mapping[str, Any], at: float) -> None:
    """One watch event of `kind` (StatefulSet, Pod, Pilot, CassandraCluster)
    into `inv`, for the objects of `inv.cluster`."""
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    labels = meta.get("labels") or {}
    deleted = kind_of_event == "DELETED"
    if kind == "CassandraCluster":
        if name == inv.cluster and not deleted:
            pools = (obj.get("spec") or {}).get("nodePools") or []
            inv.cluster_spec(_rev(obj), {p["name"]: int(p.get("replicas") or 0) for p in pools})
        return
    if labels.get("navigator.dev/cluster") != inv.cluster:
        return
    if kind == "StatefulSet":
        replicas = None if deleted else int((obj.get("spec") or {}).get("replicas") or 0)
        inv.statefulset(_rev(obj), name, replicas, at)
    elif kind == "Pod":
        ready = None if deleted else _pod_ready(obj)
        inv.pod(name, ready, bool(meta.get("deletionTimestamp")) and not deleted, at)
    elif kind == "Pilot" and not deleted:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        intents = [(str(i.get("id")), str(i.get("action"))) for i in spec.get("intents") or []]
        outcomes = [
            (str(o.get("id")), str(o.get("action")), str(o.get("phase")))
            for o in status.get("intents") or []
        ]
        mode = str(((status.get("facts") or {}).get("operationMode")) or "")
        inv.pilot(_rev(obj), name, intents, outcomes, mode, at)


def warm_decoder(resource: Any) -> None:
    """Build msgspec's decoder for `resource` in this thread. msgspec builds
    a type's decoder on first use and caches it on the type; two threads
    doing that for the same type at once crashed the test process
    (a segmentation fault in `get_class_annotations` while four watches
    decoded their first objects). Built once here, the watch threads only
    read the cache."""
    import msgspec
    from lightkube.core.decoders import decode_object

    body = b'{"apiVersion": "v1", "kind": "Warm", "metadata": {"name": "warm"}}'
    # The decoder exists after the call, whatever this body lacked.
    with contextlib.suppress(msgspec.ValidationError, TypeError, ValueError):
        decode_object(body, resource)


class Monitor:
    """Watches the namespace's StatefulSets, Pods, Pilots and CassandraClusters
    and feeds every version to `Invariants` (one thread per kind, one ticker
    for the deferred checks). `violations()` is safe to call at any time."""

    KINDS = ("CassandraCluster", "StatefulSet", "Pod", "Pilot")

    def __init__(self, client: Callable[[], Any], namespace: str, invariants: Invariants) -> None:
        """`client` makes a lightkube `Client` (one per watching thread)."""
        self.client, self.namespace, self.inv = client, namespace, invariants
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._watch, args=(k,), daemon=True, name=f"watch-{k}")
            for k in self.KINDS
        ]
        self._threads.append(threading.Thread(target=self._tick, daemon=True, name="invariants"))
        self.events = 0

    def start(self) -> Monitor:
        for kind in self.KINDS:
            warm_decoder(self._resource(kind))
        for thread in self._threads:
            thread.start()
        return self

    def violations(self) -> list[Violation]:
        with self._lock:
            return self.inv.flush(time.monotonic())

    def close(self) -> list[Violation]:
        """Stop watching; run every deferred check (after `delay`, so the
        last events arrive); return every violation."""
        time.sleep(self.inv.delay)
        self._stop.set()
        with self._lock:
            return self.inv.flush(time.monotonic(), all=True)

    def _resource(self, kind: str) -> Any:
        from lightkube.resources.apps_v1 import StatefulSet
        from lightkube.resources.core_v1 import Pod

        from navigator.operator.core.kube import CassandraClusterResource, PilotResource

        return {
            "StatefulSet": StatefulSet,
            "Pod": Pod,
            "Pilot": PilotResource,
            "CassandraCluster": CassandraClusterResource,
        }[kind]

    def _watch(self, kind: str) -> None:
        """A watch from the current state (the API server sends every
        existing object as ADDED first); lightkube resumes it after its
        server timeout. Started again from the current state if it fails."""
        resource = self._resource(kind)
        client = self.client()
        while not self._stop.is_set():
            try:
                for event, obj in client.watch(resource, namespace=self.namespace):
                    if self._stop.is_set():
                        return
                    self._feed(kind, event, obj)
            except Exception as err:  # a watch ends: start again
                log.info("watch %s ended (%s); watching again", kind, err)
                self._stop.wait(1.0)

    def _feed(self, kind: str, event: str, obj: Any) -> None:
        raw = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
        with self._lock:
            self.events += 1
            feed(self.inv, kind, event, raw, time.monotonic())

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                self.inv.flush(time.monotonic())
