"""The pilot's main loop, database-agnostic.

One task supervises the database child; one loop observes facts, reads the
Pilot object, takes the next step of each intent, and writes status when it
changed, or once a heartbeat (`Settings.heartbeat`) to renew `observedAt`, the
time of the observation it reports: a pilot that stops writing (hung, its
node gone) leaves facts the operator can tell are old. SIGTERM drains the
database before stopping it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from navigator.pilot.core import supervisor
from navigator.pilot.core.intents import (
    Begin,
    Intent,
    Outcome,
    Phase,
    Progress,
    Record,
    Wait,
    completed_while_unwatched,
    kept_outcomes,
    next_step,
)
from navigator.pilot.core.probes import Checks, serve
from navigator.pilot.metrics import metric

log = logging.getLogger("navigator.pilot")

F = TypeVar("F")

STATUS_WRITES = metric(
    "navigator_pilot_status_writes_total", "Pilot status writes to the API", "counter"
)
OBSERVE_ERRORS = metric(
    "navigator_pilot_observe_errors_total", "Failed fact observations", "counter"
)
INTENTS_STARTED = metric(
    "navigator_pilot_intents_started_total", "Operations started", "counter", ("action",)
)
DB_UP = metric("navigator_pilot_database_running", "1 while the database process runs", "gauge")
DB_READY = metric(
    "navigator_pilot_database_ready", "1 while the node is ready for clients", "gauge"
)


@dataclass(frozen=True)
class Boot:
    """The adapter's answer before its database starts: start now, or hold
    (`hold` says why). `report` goes to `Pilot.status.start`; `runs` is the id
    of an intent this start carries out (e.g. a Replace), recorded Running;
    `config_hash` says what the database is started with."""

    hold: str = ""
    report: dict[str, Any] = field(default_factory=dict)
    runs: str = ""
    config_hash: str = ""


class Adapter(Protocol[F]):
    """What the core needs from a database."""

    def command(self) -> Sequence[str]: ...
    async def prepare(self) -> None: ...
    async def observe(self) -> F: ...
    def progress(self, action: str, facts: F | None) -> Progress: ...
    def refusal(self, action: str, facts: F) -> str | None: ...
    async def begin(self, action: str) -> None: ...
    async def drain(self) -> None: ...
    def ready(self, facts: F | None) -> tuple[bool, str]: ...
    def report(self, facts: F | None) -> dict[str, Any]: ...
    async def alive(self) -> tuple[bool, str]: ...
    def left_for_good(self, last_words: Sequence[str]) -> str | None: ...
    async def boot(self, intents: Sequence[Intent], outcomes: Mapping[str, Outcome]) -> Boot: ...


@dataclass(frozen=True)
class PilotState:
    """What the Pilot object says right now."""

    intents: tuple[Intent, ...]
    outcomes: tuple[Outcome, ...]
    status: dict[str, Any]


class Store(Protocol):
    async def read(self) -> PilotState: ...
    async def write_status(self, status: dict[str, Any]) -> None: ...


def may_run_database(outcomes: Sequence[Outcome]) -> bool:
    """Never run a node whose decommission has completed: it left the ring for good."""
    return not any(o.action == "Decommission" and o.phase is Phase.SUCCEEDED for o in outcomes)


@dataclass
class Settings:
    probe_host: str = "0.0.0.0"
    probe_port: int = 8080
    interval: float = 2.0
    # Unchanged status is written again this often, to renew its observedAt.
    heartbeat: float = 30.0
    drain_timeout: float = 60.0
    stop_grace: float = 30.0


@dataclass
class Pilot(Generic[F]):
    adapter: Adapter[F]
    store: Store
    settings: Settings = field(default_factory=Settings)
    facts: F | None = None
    last_error: str = ""
    child: supervisor.Child | None = None
    in_flight: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    written: dict[str, Any] | None = None
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    intents: tuple[Intent, ...] = ()
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    # Which incarnation of the member writes (revision, podUID, configHash):
    # the operator trusts a status only from the pod that runs now.
    incarnation: dict[str, str] = field(default_factory=dict)
    started_at: float = 0.0  # monotonic time the database process started
    was_ready: bool = False
    observed_at: str = ""  # wall-clock time (RFC 3339, UTC) of the last observation
    written_at: float = float("-inf")  # monotonic time of the last status write
    start: dict[str, Any] = field(default_factory=dict)  # the last Boot's report

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        server = await serve(
            Checks(live=self._live, ready=self._ready),
            self.settings.probe_host,
            self.settings.probe_port,
        )
        try:
            state = await self.store.read()
            self.outcomes = {o.id: o for o in state.outcomes}
            self.intents = state.intents
            self.written = state.status or None
            if may_run_database(state.outcomes):
                if not await self._boot():
                    return 0
                await self.adapter.prepare()
                self.child = await supervisor.start(self.adapter.command())
                self.started_at = time.monotonic()
                DB_UP.set(1)
                log.info("database started", extra={"pid": self.child.pid})
            else:
                log.info("decommission completed earlier: not starting the database")
            return await self._loop()
        finally:
            server.close()
            for task in self.in_flight.values():
                task.cancel()

    async def _boot(self) -> bool:
        """Ask the adapter how to start until it says go; meanwhile report why
        the database is held back (a member that must not start yet is alive,
        not ready). False when termination was requested while holding."""
        while not self.stopping.is_set():
            try:
                boot = await self.adapter.boot(self.intents, self.outcomes)
            except Exception as err:  # the API may be briefly unreachable
                boot = Boot(hold=f"cannot decide how to start: {err}")
            self.start = boot.report
            if not boot.hold:
                if boot.config_hash:
                    self.incarnation["configHash"] = boot.config_hash
                intent = next((i for i in self.intents if i.id == boot.runs), None)
                if intent is not None:
                    before = self.outcomes.get(intent.id)
                    attempts = (before.attempts if before else 0) + 1
                    self.outcomes[intent.id] = Outcome(
                        intent.id, intent.action, Phase.RUNNING, "started", attempts, utc_now()
                    )
                    INTENTS_STARTED.inc(intent.action)
                return True
            log.info("database held back: %s", boot.hold)
            self.last_error = ""
            status = {**self._status(), "readyReason": boot.hold}
            with contextlib.suppress(Exception):
                await self._write(status)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.settings.interval * 2.5)
            with contextlib.suppress(Exception):
                state = await self.store.read()
                self.intents = state.intents
                for o in state.outcomes:
                    self.outcomes.setdefault(o.id, o)
        return False

    async def _loop(self) -> int:
        next_tick = 0.0
        while True:
            if self.stopping.is_set():
                return await self._shutdown()
            if self.child is not None and not self.child.running:
                code = supervisor.exit_code(self.child.process.returncode or 0)
                DB_UP.set(0)
                if self._decommissioned():
                    log.info("database stopped after its decommission")
                    self.child = None
                else:
                    words = [w for w in await self.child.last_words() if w.strip()]
                    evidence = self.adapter.left_for_good(words)
                    if evidence is not None and await self._settled_by_exit(evidence):
                        self.child = None
                    else:
                        log.error("database exited unexpectedly", extra={"code": code})
                        # Not self.last_error: that may be a stale observation error.
                        why = evidence or (words[-1][-300:] if words else "no output")
                        await self._report_exit(f"database exited with code {code}: {why}")
                        return code
            if time.monotonic() >= next_tick:
                await self.tick()
                next_tick = time.monotonic() + self.settings.interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 0.2)

    async def tick(self) -> None:
        """Observe, advance intents, report. Never raises for a transient failure."""
        await self._observe()
        try:
            state = await self.store.read()
        except Exception as err:  # the API may be briefly unreachable
            self.last_error = f"reading Pilot: {err}"
            log.warning("cannot read Pilot", extra={"error": str(err)})
            return
        for o in state.outcomes:
            self.outcomes.setdefault(o.id, o)
        self.intents = state.intents
        self.outcomes = kept_outcomes(self.outcomes, {i.id for i in state.intents})
        for intent in state.intents:
            await self._advance(intent)
        await self._write(self._status())
        if self._decommissioned() and self.child is not None and self.child.running:
            log.info("decommission complete: stopping the database for good")
            await self.child.stop(self.settings.stop_grace)
            self.child = None
            DB_UP.set(0)

    async def _observe(self) -> None:
        try:
            await self._observe_facts()
        finally:
            self.observed_at = utc_now()

    async def _observe_facts(self) -> None:
        if self.child is None or not self.child.running:
            self.facts = None
            return
        try:
            self.facts = await self.adapter.observe()
            self.last_error = ""
        except Exception as err:
            OBSERVE_ERRORS.inc()
            self.facts = None
            self.last_error = str(err)
        ready, why = self.adapter.ready(self.facts)
        DB_READY.set(1 if ready else 0)
        if ready != self.was_ready:
            # The database's own start (or loss of readiness), timed from its
            # process start: what a rollout's per-member time is compared with.
            since = time.monotonic() - self.started_at if self.started_at else 0.0
            log.info(
                "database %s: %s",
                "ready" if ready else "not ready",
                why,
                extra={"since_start_s": round(since, 1)},
            )
            self.was_ready = ready

    async def _advance(self, intent: Intent) -> None:
        facts = self.facts
        progress = self.adapter.progress(intent.action, facts)
        refusal = self.adapter.refusal(intent.action, facts) if facts is not None else None
        task = self.in_flight.get(intent.id)
        in_flight = task is not None and not task.done()
        step = next_step(
            intent, self.outcomes.get(intent.id), progress, refusal=refusal, in_flight=in_flight
        )
        if isinstance(step, Record):
            self.outcomes[intent.id] = _timed(step.outcome)
            log.info("intent %s: %s", intent.id, step.outcome.phase)
        elif isinstance(step, Begin):
            self.outcomes[intent.id] = _timed(step.outcome)
            # Record Running before starting, so a crash right after is seen as in progress.
            await self._write(self._status())
            INTENTS_STARTED.inc(intent.action)
            log.info("intent %s: starting %s", intent.id, intent.action)
            self.in_flight[intent.id] = asyncio.create_task(self._execute(intent))
        elif isinstance(step, Wait):
            log.debug("intent %s waits: %s", intent.id, step.reason)

    async def _execute(self, intent: Intent) -> None:
        try:
            await self.adapter.begin(intent.action)
        except Exception as err:
            # The database reports the real outcome through its state; keep the reason.
            self.last_error = f"{intent.action}: {err}"
            log.warning("operation returned an error", extra={"error": str(err)})

    async def _settled_by_exit(self, evidence: str) -> bool:
        """The database would not start because it left the ring for good
        (`evidence`); if a Decommission was pending, that is its outcome."""
        outcome = completed_while_unwatched(self.intents, self.outcomes, evidence)
        if outcome is None:
            log.error("the database left its cluster, but no Decommission was asked for")
            return False
        self.outcomes[outcome.id] = outcome
        log.info("intent %s: %s (%s)", outcome.id, outcome.phase, evidence)
        with contextlib.suppress(Exception):  # the next tick writes it otherwise
            await self._write(self._status())
        return True

    async def _report_exit(self, why: str) -> None:
        """Say in the Pilot's status why the pilot is about to exit (best effort)."""
        self.last_error = why
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._write(self._status()), 5)

    def _decommissioned(self) -> bool:
        return not may_run_database(list(self.outcomes.values()))

    def _status(self) -> dict[str, Any]:
        facts = self.adapter.report(self.facts)
        ready, reason = self.adapter.ready(self.facts)
        if self._decommissioned():
            ready, reason = False, "decommissioned"
        return {
            "facts": facts,
            "ready": ready,
            "readyReason": reason,
            "databaseRunning": self.child is not None and self.child.running,
            "intents": [
                {
                    "id": o.id,
                    "action": o.action,
                    "phase": str(o.phase),
                    "message": o.message,
                    "attempts": o.attempts,
                    **({"startedAt": o.started_at} if o.started_at else {}),
                }
                for o in sorted(self.outcomes.values(), key=lambda o: o.id)
            ],
            "lastError": self.last_error,
            **({"start": self.start} if self.start else {}),
            **self.incarnation,
        }

    async def _write(self, status: dict[str, Any]) -> None:
        """Write `status` if it changed, or as a heartbeat once `Settings.heartbeat`
        has passed since the last write; either carries the observation's time."""
        now = time.monotonic()
        if status == self.written and now - self.written_at < self.settings.heartbeat:
            return
        await self.store.write_status({**status, "observedAt": self.observed_at or utc_now()})
        STATUS_WRITES.inc()
        self.written = status
        self.written_at = now

    async def _live(self) -> tuple[bool, str]:
        if self.child is None or self._decommissioned():
            return True, "database intentionally stopped"
        if not self.child.running:
            return False, "database process exited"
        return await self.adapter.alive()

    async def _ready(self) -> tuple[bool, str]:
        if self._decommissioned():
            return False, "decommissioned"
        return self.adapter.ready(self.facts)

    async def _shutdown(self) -> int:
        log.info("termination requested: draining the database")
        for task in self.in_flight.values():
            task.cancel()
        if self.child is None or not self.child.running:
            return 0
        try:
            await asyncio.wait_for(self.adapter.drain(), self.settings.drain_timeout)
            log.info("drained")
        except Exception as err:
            log.warning("drain failed; stopping anyway", extra={"error": str(err)})
        code = await self.child.stop(self.settings.stop_grace)
        DB_UP.set(0)
        log.info("database stopped", extra={"code": code})
        return 0


def _timed(outcome: Outcome) -> Outcome:
    """A Running outcome stamped with when its attempt began (the operator
    reports an operation running for too long as stuck)."""
    if outcome.phase is Phase.RUNNING and not outcome.started_at:
        return replace(outcome, started_at=utc_now())
    return outcome


def utc_now() -> str:
    """Now, as RFC 3339 in UTC to the second (what `observedAt` carries)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
