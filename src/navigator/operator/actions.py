"""The actions `decide` returns: small frozen values the reconcile carries out."""

from __future__ import annotations

from dataclasses import dataclass

from navigator.operator import predicates as p


@dataclass(frozen=True)
class CreatePool:
    pool: str


@dataclass(frozen=True)
class ScaleOut:
    pool: str
    to: int


@dataclass(frozen=True)
class RequestDecommission:
    pool: str
    member: str
    intent_id: str


@dataclass(frozen=True)
class ScaleIn:
    pool: str
    to: int
    member: str
    # False: the member never joined the ring (`NeverJoined`), so it was not
    # decommissioned; it is removed as it is.
    joined: bool = True


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
    rule: str
    reason: str
    operation: str = ""  # ScaleOut, ScaleIn... the operation that waits
    target: str = ""

    @property
    def progress(self) -> bool:
        """The normal course of an operation, not something stuck or refused."""
        return self.rule in p.PROGRESS_RULES


@dataclass(frozen=True)
class Paused:
    reason: str


Action = CreatePool | ScaleOut | RequestDecommission | ScaleIn | RestartMember | Wait | Paused
