"""The actions `decide` returns: small frozen values the reconcile carries out."""

from __future__ import annotations

from dataclasses import dataclass

from navigator.operator.cassandra import predicates as p
from navigator.operator.core import actions as core
from navigator.operator.core.actions import RestartMember

__all__ = [
    "Action",
    "CreatePool",
    "DeletePool",
    "Paused",
    "ReleaseLostVolume",
    "ReplicateSystemKeyspaces",
    "RequestDecommission",
    "RequestReplace",
    "RestartMember",
    "ScaleIn",
    "ScaleOut",
    "SetUpSuperuser",
    "Wait",
]


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
    # True: the pool is no longer in the spec (a `RemovePool` operation).
    pool_removal: bool = False


@dataclass(frozen=True)
class ScaleIn:
    pool: str
    to: int
    member: str
    # False: the member never joined the ring (`NeverJoined`), so it was not
    # decommissioned; it is removed as it is.
    joined: bool = True
    # True: the pool is no longer in the spec (a `RemovePool` operation).
    pool_removal: bool = False


@dataclass(frozen=True)
class DeletePool:
    """A pool removed from the spec has no member left: delete its StatefulSet."""

    pool: str


@dataclass(frozen=True)
class RequestReplace:
    """Ask the pilot of a member whose volume is new and empty to start as the
    replacement of its old self (the dead node `address`, host `host_id`)."""

    pool: str
    member: str
    intent_id: str
    address: str
    host_id: str


@dataclass(frozen=True)
class ReleaseLostVolume:
    """Delete the claim and pod of a member whose data is to be given up (its
    volume's node is gone for good, or a user asked to replace it): it comes
    back on a new volume and replaces its old self."""

    pool: str
    member: str
    cause: str  # why, in words: "its node n3 is gone", "replacement requested"


@dataclass(frozen=True)
class ReplicateSystemKeyspaces:
    """ALTER the replication of `keyspaces` to NetworkTopologyStrategy `factors`."""

    keyspaces: tuple[str, ...]
    factors: tuple[tuple[str, int], ...]  # (datacenter, replication factor)

    @property
    def replication(self) -> str:
        return ", ".join(f"{dc}: {rf}" for dc, rf in self.factors)


@dataclass(frozen=True)
class SetUpSuperuser:
    """Make the Secret's superuser log in, and drop the default account."""

    secret: str
    marker: str


class Wait(core.Wait):
    """Nothing to do now: `rule` blocks `operation` (on `target`); Cassandra's
    rules that are an operation's normal course are `PROGRESS_RULES`."""

    PROGRESS_RULES = p.PROGRESS_RULES


@dataclass(frozen=True)
class Paused:
    reason: str


Action = (
    CreatePool
    | ScaleOut
    | RequestDecommission
    | ScaleIn
    | DeletePool
    | RestartMember
    | RequestReplace
    | ReleaseLostVolume
    | ReplicateSystemKeyspaces
    | SetUpSuperuser
    | Wait
    | Paused
)
