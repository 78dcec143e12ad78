"""Which intents a member's Pilot keeps when a new one is added (pure).

The operator adds one intent per spec generation that asks for the member to
leave (a user's retry after a refusal is a new generation, so a new id). A
Pilot's spec holds at most `MAX_INTENTS`, so finished intents must go, or a
member refused 16 times could never be asked again. What is kept:

- intents the pilot has not answered yet, or is running: dropping one would
  lose a request that may be in progress;
- a `Succeeded` decommission: it is what keeps the pilot from starting a node
  that left the ring for good (the pilot also keeps the outcome itself);

and what goes: `Refused` and `Failed` intents, which a new generation replaces.

A `Replace` intent is kept until it `Succeeded`: one per incarnation of the
member (its id names the pod), so a pod that restarts mid-replacement finds
it again and carries on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

MAX_INTENTS = 16  # the Pilot CRD's maxItems for spec.intents
FINISHED_FOR_NOTHING = frozenset({"Refused", "Failed"})
# Held while an intent has no final outcome: deleting the Pilot then would
# lose the operator's request and the pilot's record of it.
PENDING_INTENTS_FINALIZER = "navigator.dev/pending-intents"


def with_new_intent(ids: Iterable[str], phases: Mapping[str, str], new: str) -> tuple[str, ...]:
    """`ids` (in order) without the refused or failed ones, then `new`; at most
    `MAX_INTENTS`, the oldest going first. `phases`: intent id → its outcome's
    phase as the pilot reported it (absent: not answered yet)."""
    kept = [i for i in ids if i != new and phases.get(i) not in FINISHED_FOR_NOTHING]
    return (*kept, new)[-MAX_INTENTS:]


def with_replace(
    replaces: Sequence[Mapping[str, str]],
    phases: Mapping[str, str],
    new: Mapping[str, str] | None = None,
) -> list[Mapping[str, str]]:
    """The Replace intents (id, address, hostID) to keep: those not
    `Succeeded`, then `new` unless it is already there."""
    kept = [r for r in replaces if phases.get(r["id"]) != "Succeeded"]
    if new is not None and all(r["id"] != new["id"] for r in kept):
        kept.append(new)
    return kept


def pending_intents(asked: list[str], phases: dict[str, str]) -> bool:
    """Whether any intent asked has no final outcome yet (none, or Running)."""
    return any(phases.get(i, "Running") == "Running" for i in asked)
