"""Authentication: the superuser Secret, the replicated system keyspaces and
the steps `decide` takes for them. Pure; the CQL and the Secret's creation
are the reconcile's (`navigator.operator.cassandra.cql`, `reconcile`).

Two steps, in `decide`'s order:

- `system_keyspaces_step` (before any scale-out or scale-in): `system_auth`,
  `system_distributed` and `system_traces` replicate with
  NetworkTopologyStrategy to min(3, members the spec gives the datacenter)
  in every datacenter of the spec. Raised before the pool grows (members
  that bootstrap afterwards stream their share, so no repair is needed) and
  lowered before a member leaves (Cassandra refuses a decommission that
  would leave fewer nodes than a keyspace's replication factor). So one
  member down never takes logins down (Cassandra reads roles at
  LOCAL_QUORUM) once a datacenter has three members.
- `superuser_step` (once every pool has its spec's members, all Up/Normal):
  the superuser of the Secret logs in, the operator's own role
  (`OPERATOR_ROLE`, ALTER on the system keyspaces and nothing else) is
  created, and the well-known `cassandra` account is dropped. Verified again
  whenever the Secret changes (`SecretView.marker`), and recorded in
  `status.auth`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from navigator.api.cassandra import AuthStatus, CassandraCluster, CassandraClusterSpec
from navigator.operator.cassandra import predicates as p
from navigator.operator.cassandra.actions import (
    Action,
    ReplicateSystemKeyspaces,
    SetUpSuperuser,
    Wait,
)
from navigator.operator.cassandra.observed import Member, Observed
from navigator.pilot.cassandra.facts import Replication

# Replicated keyspaces Cassandra creates itself, with too small or
# rack-unaware defaults (SimpleStrategy 1 for system_auth).
SYSTEM_KEYSPACES = p.MANAGED_SYSTEM_KEYSPACES
MAX_SYSTEM_RF = 3
NETWORK_TOPOLOGY = "NetworkTopologyStrategy"
USERNAME_KEY, PASSWORD_KEY = "username", "password"
GENERATED_USERNAME = "navigator_superuser"
GENERATED_LABEL = "navigator.dev/generated"
DEFAULT_ROLE = "cassandra"
# The operator's own login for its routine CQL (raising or lowering the
# system keyspaces' replication): no superuser, only ALTER on those
# keyspaces. Its password is derived from the superuser's (`operator_password`),
# so it needs no Secret of its own and changes when the superuser's does.
OPERATOR_ROLE = "navigator_operator"

# Rule names (shown in status.operation.blockedBy and events).
SUPERUSER_SECRET_VALID = "SuperuserSecretValid"


@dataclass(frozen=True)
class SecretView:
    """What decisions need of the superuser Secret: never its values."""

    name: str
    marker: str = ""  # uid/resourceVersion: changes whenever the Secret does
    problem: str = ""  # why it cannot be used ('' when it can)


@dataclass(frozen=True)
class AuthOutcome:
    """What the reconcile's CQL did this pass, for the status (no credentials)."""

    verified: str = ""  # the marker the superuser was verified against
    message: str = ""


def operator_password(superuser_password: str) -> str:
    """The operator role's password: an HMAC of the role's name keyed by the
    superuser's password. Knowing it reveals nothing of the superuser's."""
    digest = hmac.new(superuser_password.encode(), OPERATOR_ROLE.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


def secret_name(cluster: CassandraCluster) -> str:
    """The Secret holding the superuser's credentials."""
    named = cluster.spec.auth.superuser_secret_name
    return named or f"{cluster.metadata['name']}-superuser"


def generates_secret(cluster: CassandraCluster) -> bool:
    """The operator makes the Secret (the user did not name one)."""
    return cluster.spec.auth.enabled and not cluster.spec.auth.superuser_secret_name


def desired_factors(spec: CassandraClusterSpec) -> tuple[tuple[str, int], ...]:
    """min(3, the spec's members) in each datacenter of the spec."""
    sizes: dict[str, int] = {}
    for pool in spec.node_pools:
        sizes[pool.datacenter] = sizes.get(pool.datacenter, 0) + pool.replicas
    return tuple((dc, min(MAX_SYSTEM_RF, n)) for dc, n in sorted(sizes.items()) if n > 0)


def _nts_factors(ks: Replication) -> dict[str, int]:
    """A keyspace's factors per datacenter; none unless NetworkTopologyStrategy."""
    return dict(ks.factors) if ks.strategy == NETWORK_TOPOLOGY else {}


def raised(
    keyspaces: Mapping[str, Replication], factors: tuple[tuple[str, int], ...]
) -> dict[str, tuple[tuple[str, int], ...]]:
    """The system keyspaces to raise to `factors` (not NetworkTopologyStrategy
    yet, or below `factors` in a datacenter), each with its new factors: the
    higher of its own and `factors` in each datacenter (lowering is
    `lowered`'s, right before a decommission). Only keyspaces the members
    reported are judged."""
    out = {}
    for name in SYSTEM_KEYSPACES:
        ks = keyspaces.get(name)
        if ks is None:
            continue
        now = _nts_factors(ks)
        new = {**now, **{dc: max(rf, now.get(dc, 0)) for dc, rf in factors}}
        if ks.strategy != NETWORK_TOPOLOGY or new != now:
            out[name] = tuple(sorted(new.items()))
    return out


def secret_problem(secret: Mapping[str, Any] | None, name: str) -> str:
    """Why the Secret cannot be used ('' when it can). Looks at keys only."""
    if secret is None:
        return f"Secret {name} does not exist"
    data = secret.get("data") or {}
    missing = [k for k in (USERNAME_KEY, PASSWORD_KEY) if not data.get(k)]
    if missing:
        return f"Secret {name} has no {' or '.join(missing)}"
    return ""


def secret_view(secret: Mapping[str, Any] | None, name: str) -> SecretView:
    meta = (secret or {}).get("metadata") or {}
    marker = f"{meta.get('uid', '')}/{meta.get('resourceVersion', '')}" if secret else ""
    return SecretView(name=name, marker=marker, problem=secret_problem(secret, name))


def build_superuser_secret(
    cluster: CassandraCluster, password: str, owner: Mapping[str, Any]
) -> dict[str, Any]:
    """The generated Secret (`stringData`: the API server encodes it)."""
    meta = cluster.metadata
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(cluster),
            "namespace": meta["namespace"],
            "labels": {"navigator.dev/cluster": meta["name"], GENERATED_LABEL: "superuser"},
            "ownerReferences": [dict(owner)],
        },
        "type": "kubernetes.io/basic-auth",
        "stringData": {USERNAME_KEY: GENERATED_USERNAME, PASSWORD_KEY: password},
    }


@dataclass(frozen=True)
class AuthView:
    """The authentication inputs of one decision."""

    enabled: bool
    secret: SecretView | None = None
    verified: str = ""  # status.auth.verifiedSecret as last recorded


def auth_status(view: AuthView, outcome: AuthOutcome, previous: AuthStatus | None) -> AuthStatus:
    """status.auth: what was verified stays verified until the Secret changes."""
    if not view.enabled:
        return AuthStatus(
            enabled=False,
            message="spec.auth.enabled is false: clients connect without credentials",
        )
    secret = view.secret or SecretView(name="")
    verified = outcome.verified or view.verified
    ready = bool(secret.marker) and verified == secret.marker and not secret.problem
    message = outcome.message or secret.problem
    if not message and not ready:
        message = (
            previous.message
            if previous and previous.message and not previous.ready
            else "the superuser is set up once every member is Up/Normal"
        )
    return AuthStatus(
        enabled=True,
        superuser_secret=secret.name,
        ready=ready,
        verified_secret=verified if ready else view.verified,
        message="" if ready else message,
    )


def system_keyspaces_step(observed: Observed) -> Action | None:
    """Raise the system keyspaces' replication for the spec's size, before
    members join. Needs every member Up/Normal (an ALTER reaches them by
    schema). Keyspaces needing the same factors go in one action."""
    if observed.auth is None:
        return None
    factors = desired_factors(observed.spec)
    todo = raised(p.keyspaces(observed), factors) if factors else {}
    if not todo:
        return None
    if block := p.all_members_up_normal(observed):
        return Wait(block.rule, block.reason, "ReplicateSystemKeyspaces", ", ".join(todo))
    first = next(iter(todo.values()))
    return ReplicateSystemKeyspaces(tuple(k for k, f in todo.items() if f == first), first)


def lowered(observed: Observed, leaving: Member) -> Action | None:
    """Before a decommission every other rule allows: the system keyspaces
    whose replication in the leaving member's datacenter exceeds the members
    that stay there are lowered to the spec's size (Cassandra refuses the
    decommission otherwise). Only then, so a scale-in refused for another
    reason lowers nothing."""
    if observed.auth is None:
        return None
    dc = leaving.datacenter
    remaining = sum(1 for m in observed.members() if m.datacenter == dc) - 1
    target = min(dict(desired_factors(observed.spec)).get(dc, 0), remaining)
    found = p.keyspaces(observed)
    short = {}
    for name in SYSTEM_KEYSPACES:
        ks = found.get(name)
        if ks is None or ks.in_datacenter(dc) <= remaining:
            continue
        now = _nts_factors(ks)
        # A datacenter left with no member replicates nothing any more.
        new = {k: v for k, v in {**now, dc: target}.items() if v > 0}
        if new:
            short[name] = tuple(sorted(new.items()))
    if not short:
        return None
    first = next(iter(short.values()))
    return ReplicateSystemKeyspaces(tuple(k for k, f in short.items() if f == first), first)


def superuser_step(observed: Observed) -> Action | None:
    """Once every pool has its spec's members, all Up/Normal: the Secret's
    superuser, verified for the Secret as it is now."""
    view = observed.auth
    if view is None or not view.enabled or view.secret is None:
        return None
    if any(s.replicas != s.pool.replicas for s in observed.pools if not s.removed):
        return None
    if next(observed.members(), None) is None:
        return None  # no member to log in to
    secret = view.secret
    if secret.problem:
        reason = f"{secret.problem}: spec.auth.superuserSecretName must name a Secret"
        reason += f" with keys {USERNAME_KEY} and {PASSWORD_KEY}"
        return Wait(SUPERUSER_SECRET_VALID, reason, "SetUpAuth", secret.name)
    if secret.marker == view.verified:
        return None
    if p.all_members_up_normal(observed):
        return None
    return SetUpSuperuser(secret.name, secret.marker)
