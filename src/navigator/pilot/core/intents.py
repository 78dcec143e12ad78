"""Durable intents: the operator writes them into `Pilot.spec`, the pilot
executes them and records each outcome in `Pilot.status`.

`next_step` is the pure decision: given one intent, its recorded outcome, what
the database says about its progress, whether a safety rule refuses it, and
whether this process already has it in flight, it returns the one thing to do.
Everything it needs is observed or recorded durably, so a pilot that restarts
mid-operation resumes watching instead of starting the operation again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

MAX_ATTEMPTS = 3


class Phase(StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    REFUSED = "Refused"

    @property
    def final(self) -> bool:
        return self is not Phase.RUNNING


class Progress(StrEnum):
    """Where the database is with respect to one intent."""

    UNKNOWN = "Unknown"  # the database cannot be asked right now
    NOT_STARTED = "NotStarted"
    IN_PROGRESS = "InProgress"
    DONE = "Done"
    FAILED = "Failed"  # the database reports that its last attempt failed


@dataclass(frozen=True)
class Intent:
    id: str
    action: str
    # Replace: the address and host ID of the node this member takes over.
    address: str = ""
    host_id: str = ""


@dataclass(frozen=True)
class Outcome:
    id: str
    action: str
    phase: Phase
    message: str = ""
    attempts: int = 0
    started_at: str = ""  # when this attempt began (RFC 3339, UTC; '' if unknown)


@dataclass(frozen=True)
class Begin:
    """Start (or restart) the operation; record it as Running first."""

    outcome: Outcome


@dataclass(frozen=True)
class Record:
    """Write this outcome; nothing to start."""

    outcome: Outcome


@dataclass(frozen=True)
class Wait:
    reason: str


Step = Begin | Record | Wait | None


def next_step(
    intent: Intent,
    outcome: Outcome | None,
    progress: Progress,
    *,
    refusal: str | None,
    in_flight: bool,
) -> Step:
    """The one thing to do next for `intent` (None: it is settled)."""
    if outcome is not None and outcome.phase.final:
        return None
    attempts = outcome.attempts if outcome else 0
    if progress is Progress.DONE:
        return Record(Outcome(intent.id, intent.action, Phase.SUCCEEDED, "completed", attempts))
    if progress is Progress.UNKNOWN:
        return Wait("the database cannot be asked right now")
    if progress is Progress.IN_PROGRESS or in_flight:
        if outcome is None:
            # Started before our record was written (e.g. we crashed in between).
            return Record(Outcome(intent.id, intent.action, Phase.RUNNING, "in progress", 1))
        return Wait("in progress")
    # NOT_STARTED or FAILED, and nothing in flight: (re)start it, unless refused.
    if refusal is not None:
        return Record(Outcome(intent.id, intent.action, Phase.REFUSED, refusal, attempts))
    if progress is Progress.FAILED and attempts >= MAX_ATTEMPTS:
        return Record(
            Outcome(
                intent.id,
                intent.action,
                Phase.FAILED,
                f"failed {attempts} times; request a new {intent.action} to try again",
                attempts,
            )
        )
    message = "started" if attempts == 0 else f"restarted (attempt {attempts + 1})"
    return Begin(Outcome(intent.id, intent.action, Phase.RUNNING, message, attempts + 1))


def completed_while_unwatched(
    intents: Sequence[Intent], outcomes: Mapping[str, Outcome], evidence: str
) -> Outcome | None:
    """The outcome to record when the database, refusing to start, says it
    left its cluster for good (`evidence`): the Decommission that was asked
    for and not yet settled finished while no pilot watched (the pilot was
    killed between the database finishing and the pilot recording it). The
    one recorded Running is that one; else the first requested.
    None when no such intent is pending: then nobody here asked for it, and
    a human must look."""
    pending = [
        (intent, outcomes.get(intent.id))
        for intent in intents
        if intent.action == "Decommission"
        and not ((o := outcomes.get(intent.id)) is not None and o.phase.final)
    ]
    if not pending:
        return None
    intent, outcome = next(((i, o) for i, o in pending if o is not None), pending[0])
    return Outcome(
        intent.id,
        intent.action,
        Phase.SUCCEEDED,
        f"completed while the pilot was down: {evidence}",
        outcome.attempts if outcome else 0,
    )


def kept_outcomes(outcomes: dict[str, Outcome], asked: set[str]) -> dict[str, Outcome]:
    """Outcomes worth keeping: every one the operator still asks about, and
    any other that is running or succeeded (a succeeded decommission keeps the
    database from ever starting again). A refused or failed intent that the
    operator withdrew is finished for good: its outcome goes."""
    finished = (Phase.REFUSED, Phase.FAILED)
    return {i: o for i, o in outcomes.items() if i in asked or o.phase not in finished}
