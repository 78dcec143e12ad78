"""The actions every engine's `decide` may return beside its own: restart a
member (the rollout engine's), and wait behind a named rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class RestartMember:
    """Delete the member's pod (only that incarnation: `uid`); its pilot
    drains it, and the StatefulSet controller recreates it at the pool's
    revision."""

    pool: str
    member: str
    uid: str
    operation: str  # RollingRestart, Upgrade or ConfigRollout
    revision: str


@dataclass(frozen=True)
class Wait:
    """Nothing to do now: `rule` blocks `operation` (on `target`), for `reason`.
    An engine subclasses it with the rules that are its operations' normal
    course (`PROGRESS_RULES`)."""

    PROGRESS_RULES: ClassVar[frozenset[str]] = frozenset()

    rule: str
    reason: str
    operation: str = ""  # ScaleOut, ScaleIn... the operation that waits
    target: str = ""

    @property
    def progress(self) -> bool:
        """The normal course of an operation, not something stuck or refused."""
        return self.rule in self.PROGRESS_RULES
