"""The pilot loop with a fake database adapter and an in-memory Pilot object.

The real database and API server are exercised by the e2e tests; here the
sequencing is checked: record before start, one start per intent, restart
safety, no write without change, drain before stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from navigator.pilot.core.intents import Intent, Outcome, Phase, Progress, kept_outcomes
from navigator.pilot.core.loop import (
    Boot,
    Pilot,
    PilotState,
    Settings,
    may_run_database,
)

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]


GONE = "this node left its cluster for good"


@dataclass
class FakeDB:
    mode: str = "NORMAL"
    calls: list[str] = field(default_factory=list)
    argv: tuple[str, ...] = ("sleep", "60")
    holds: list[str] = field(default_factory=list)  # reasons `boot` holds for, in turn

    def command(self) -> Sequence[str]:
        return self.argv

    async def prepare(self) -> None:
        self.calls.append("prepare")

    async def observe(self) -> str:
        if self.mode == "DOWN":  # not answering yet, like a starting JVM
            raise ConnectionError("connection refused")
        return self.mode

    def progress(self, action: str, facts: str | None) -> Progress:
        if facts is None:
            return Progress.UNKNOWN
        if action == "Replace":  # started as the replacement: done once it serves
            return {"NORMAL": Progress.DONE}.get(facts, Progress.IN_PROGRESS)
        return {"LEAVING": Progress.IN_PROGRESS, "DECOMMISSIONED": Progress.DONE}.get(
            facts, Progress.NOT_STARTED
        )

    def refusal(self, action: str, facts: str) -> str | None:
        return None

    async def begin(self, action: str) -> None:
        self.calls.append(f"begin {action}")
        self.mode = "LEAVING"

    async def drain(self) -> None:
        self.calls.append("drain")

    def ready(self, facts: str | None) -> tuple[bool, str]:
        return facts == "NORMAL", facts or "down"

    def report(self, facts: str | None) -> dict[str, Any]:
        return {"operationMode": facts}

    async def alive(self) -> tuple[bool, str]:
        return True, "ok"

    def left_for_good(self, last_words: Sequence[str]) -> str | None:
        return "refused to start" if any(GONE in w for w in last_words) else None

    async def boot(self, intents: Sequence[Intent], outcomes: Any) -> Boot:
        self.calls.append("boot")
        if self.holds:
            return Boot(hold=self.holds.pop(0), report={"plan": "Hold"})
        runs = next((i.id for i in intents if i.action == "Replace"), "")
        return Boot(report={"plan": "Replace" if runs else "Join"}, runs=runs, config_hash="h")


def refusing_to_start(code: int = 3) -> tuple[str, ...]:
    """A database that says it left its cluster and exits."""
    return ("sh", "-c", f"echo starting; echo 'FATAL: {GONE}'; exit {code}")


@dataclass
class FakeStore:
    intents: tuple[Intent, ...] = ()
    status: dict[str, Any] = field(default_factory=dict)
    writes: list[dict[str, Any]] = field(default_factory=list)

    async def read(self) -> PilotState:
        outcomes = tuple(
            Outcome(i["id"], i["action"], Phase(i["phase"]), i["message"], i["attempts"])
            for i in self.status.get("intents", [])
        )
        return PilotState(self.intents, outcomes, self.status)

    async def write_status(self, status: dict[str, Any]) -> None:
        self.writes.append(status)
        self.status = status


DECOM = Intent("d-1", "Decommission")


def pilot(db: FakeDB, store: FakeStore) -> Pilot[str]:
    return Pilot(db, store, Settings(probe_host="127.0.0.1", probe_port=0, interval=0.05))


async def until(predicate: Any, seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 (fakes have no event to wait on)
            await asyncio.sleep(0.02)


async def run_until(p: Pilot[str], predicate: Any) -> asyncio.Task[int]:
    task = asyncio.create_task(p.run())
    await until(predicate)
    return task


async def stop(p: Pilot[str], task: asyncio.Task[int]) -> int:
    p.stopping.set()
    return await asyncio.wait_for(task, 10)


def phases(store: FakeStore) -> list[str]:
    return [i["phase"] for i in store.status.get("intents", [])]


async def test_decommission_runs_once_and_stops_the_database() -> None:
    db, store = FakeDB(), FakeStore(intents=(DECOM,))
    p = pilot(db, store)
    task = await run_until(p, lambda: db.mode == "LEAVING")
    # Running was written before the operation began.
    assert any(i["phase"] == "Running" for w in store.writes for i in w.get("intents", []))
    await asyncio.sleep(0.3)
    db.mode = "DECOMMISSIONED"
    await until(lambda: phases(store) == ["Succeeded"] and not (p.child and p.child.running))
    assert db.calls.count("begin Decommission") == 1
    assert store.status["ready"] is False
    assert await stop(p, task) == 0


async def test_a_restarted_pilot_resumes_watching_instead_of_starting_again() -> None:
    db = FakeDB(mode="LEAVING")
    running = {
        "id": "d-1",
        "action": "Decommission",
        "phase": "Running",
        "message": "",
        "attempts": 1,
    }
    store = FakeStore(intents=(DECOM,), status={"intents": [running]})
    p = pilot(db, store)
    task = await run_until(p, lambda: bool(store.writes))
    await asyncio.sleep(0.3)
    assert "begin Decommission" not in db.calls
    db.mode = "DECOMMISSIONED"
    await until(lambda: phases(store) == ["Succeeded"])
    assert "begin Decommission" not in db.calls
    await stop(p, task)


async def test_a_decommissioned_member_never_starts_its_database_again() -> None:
    done = {
        "id": "d-1",
        "action": "Decommission",
        "phase": "Succeeded",
        "message": "",
        "attempts": 1,
    }
    db, store = FakeDB(), FakeStore(intents=(DECOM,), status={"intents": [done]})
    p = pilot(db, store)
    task = asyncio.create_task(p.run())
    await asyncio.sleep(0.3)
    assert p.child is None
    assert "prepare" not in db.calls
    await stop(p, task)


async def test_unchanged_facts_cause_no_write() -> None:
    db, store = FakeDB(), FakeStore()
    p = pilot(db, store)
    task = await run_until(p, lambda: bool(store.writes))
    await asyncio.sleep(0.5)  # about ten more ticks
    assert len(store.writes) == 1
    db.mode = "DRAINED"
    await until(lambda: len(store.writes) >= 2)
    await stop(p, task)


async def test_unchanged_status_is_written_again_as_a_heartbeat() -> None:
    """Every write carries observedAt, the time of the observation it reports;
    an unchanged status is written again once a heartbeat has passed, so a
    pilot that goes quiet leaves facts the operator can tell are old."""
    db, store = FakeDB(), FakeStore()
    p = Pilot(
        db, store, Settings(probe_host="127.0.0.1", probe_port=0, interval=0.05, heartbeat=0.3)
    )
    task = await run_until(p, lambda: bool(store.writes))
    first = store.writes[0]["observedAt"]
    assert first.endswith("Z")
    await asyncio.sleep(0.15)
    assert len(store.writes) == 1  # unchanged, heartbeat not due
    await until(lambda: len(store.writes) >= 2)
    await until(lambda: len(store.writes) >= 3)
    await stop(p, task)
    a, b = ({k: v for k, v in w.items() if k != "observedAt"} for w in store.writes[:2])
    assert a == b  # the same status, renewed
    assert all("observedAt" in w for w in store.writes)


async def test_termination_drains_before_stopping() -> None:
    db, store = FakeDB(), FakeStore()
    p = pilot(db, store)
    task = await run_until(p, lambda: p.child is not None)
    child = p.child
    assert child is not None
    assert await stop(p, task) == 0
    assert db.calls[-1] == "drain"
    assert not child.running


def test_withdrawn_refused_or_failed_outcomes_are_pruned_and_successes_kept() -> None:
    outcomes = {
        "refused": Outcome("refused", "Decommission", Phase.REFUSED),
        "failed": Outcome("failed", "Decommission", Phase.FAILED),
        "done": Outcome("done", "Decommission", Phase.SUCCEEDED),
        "running": Outcome("running", "Decommission", Phase.RUNNING),
        "asked": Outcome("asked", "Decommission", Phase.REFUSED),
    }
    kept = kept_outcomes(outcomes, {"asked"})
    assert set(kept) == {"done", "running", "asked"}


def test_may_run_database() -> None:
    ok = Outcome("a", "Drain", Phase.SUCCEEDED)
    gone = Outcome("b", "Decommission", Phase.SUCCEEDED)
    refused = Outcome("c", "Decommission", Phase.REFUSED)
    assert may_run_database([ok, refused])
    assert not may_run_database([ok, gone])


RUNNING = {"id": "d-1", "action": "Decommission", "phase": "Running", "message": "", "attempts": 2}


async def test_a_decommission_finished_while_no_pilot_watched_is_recorded_from_the_refusal() -> (
    None
):
    """Killed after the database finished its decommission but before the
    record: on restart the database refuses to start and says why; that is
    the outcome, and the pilot stays up without a database."""
    db = FakeDB(mode="DOWN", argv=refusing_to_start())
    store = FakeStore(intents=(DECOM,), status={"intents": [RUNNING]})
    p = pilot(db, store)
    task = await run_until(p, lambda: phases(store) == ["Succeeded"])
    outcome = store.status["intents"][0]
    assert outcome["attempts"] == 2
    assert "completed while the pilot was down: refused to start" in outcome["message"]
    await asyncio.sleep(0.3)
    assert not task.done(), "the pilot must stay up (its probes answer) without a database"
    assert p.child is None
    assert store.status["ready"] is False
    assert store.status["readyReason"] == "decommissioned"
    assert "begin Decommission" not in db.calls
    assert await stop(p, task) == 0


async def test_a_database_gone_for_good_without_a_decommission_request_is_an_error() -> None:
    """Nobody here asked for it (e.g. decommissioned by hand): the pilot exits
    with the database's status and says why in the Pilot's status."""
    db = FakeDB(argv=refusing_to_start(code=3))
    store = FakeStore()
    p = pilot(db, store)
    assert await asyncio.wait_for(p.run(), 10) == 3
    assert store.status["lastError"] == "database exited with code 3: refused to start"
    assert store.status["databaseRunning"] is False


async def test_an_unexpected_exit_is_reported_with_the_last_line() -> None:
    db = FakeDB(argv=("sh", "-c", "echo 'java.lang.OutOfMemoryError: Java heap space'; exit 1"))
    store = FakeStore()
    p = pilot(db, store)
    p.last_error = "connection refused"  # a stale observation error is not the reason
    assert await asyncio.wait_for(p.run(), 10) == 1
    assert store.status["lastError"] == (
        "database exited with code 1: java.lang.OutOfMemoryError: Java heap space"
    )


async def test_a_held_database_is_not_started_and_says_why() -> None:
    db, store = FakeDB(holds=["no seed yet", "no seed yet"]), FakeStore()
    p = Pilot(db, store, Settings(probe_host="127.0.0.1", probe_port=0, interval=0.02))
    task = await run_until(p, lambda: p.child is not None)
    held = [w for w in store.writes if w.get("readyReason") == "no seed yet"]
    assert held
    assert all(w["databaseRunning"] is False for w in held)
    assert held[0]["start"] == {"plan": "Hold"}
    assert db.calls[:3] == ["boot", "boot", "boot"]
    assert "prepare" in db.calls
    assert p.incarnation["configHash"] == "h"
    assert await stop(p, task) == 0


async def test_a_start_that_carries_out_a_replace_records_it_running() -> None:
    db = FakeDB(mode="JOINING")
    store = FakeStore(intents=(Intent("r-1", "Replace", "10.0.0.9", "h-old"),))
    p = pilot(db, store)
    task = await run_until(p, lambda: p.child is not None and store.writes)
    assert (p.outcomes["r-1"].phase, p.outcomes["r-1"].attempts) == (Phase.RUNNING, 1)
    db.mode = "NORMAL"
    await until(lambda: phases(store) == ["Succeeded"])
    assert "begin Replace" not in db.calls  # the start itself was the replacement
    assert await stop(p, task) == 0


async def test_termination_while_held_never_starts_the_database() -> None:
    db, store = FakeDB(holds=["waiting"] * 1000), FakeStore()
    p = pilot(db, store)
    task = asyncio.create_task(p.run())
    await until(lambda: db.calls.count("boot") >= 2)
    assert await stop(p, task) == 0
    assert "prepare" not in db.calls
    assert p.child is None


async def test_a_running_attempt_says_when_it_began() -> None:
    db, store = FakeDB(), FakeStore(intents=(DECOM,))
    p = pilot(db, store)
    task = await run_until(p, lambda: db.mode == "LEAVING")
    running = [i for w in store.writes for i in w.get("intents", []) if i["phase"] == "Running"]
    assert running
    assert all(i["startedAt"].endswith("Z") for i in running)
    db.mode = "DECOMMISSIONED"
    await until(lambda: phases(store) == ["Succeeded"])
    assert "startedAt" not in store.status["intents"][0]
    assert await stop(p, task) == 0
