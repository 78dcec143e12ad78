"""Authentication's pure parts: the system keyspaces' replication for the
spec's size, the superuser step, the Secret and status.auth."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest
from opsim import map_member, observed

from navigator.api.cassandra import CassandraCluster
from navigator.api.pilot import Keyspace
from navigator.operator.cassandra.actions import (
    ReplicateSystemKeyspaces,
    RequestDecommission,
    ScaleOut,
    SetUpSuperuser,
    Wait,
)
from navigator.operator.cassandra.auth import (
    GENERATED_USERNAME,
    OPERATOR_ROLE,
    SUPERUSER_SECRET_VALID,
    AuthOutcome,
    AuthView,
    SecretView,
    auth_status,
    build_superuser_secret,
    desired_factors,
    generates_secret,
    operator_password,
    secret_name,
    secret_problem,
    secret_view,
)
from navigator.operator.cassandra.cql import Credentials, _mask, quote_identifier
from navigator.operator.cassandra.decide import next_action
from navigator.operator.cassandra.observed import Observed
from navigator.operator.cassandra.reconcile import credentials

pytestmark = pytest.mark.unit

SECRET = SecretView(name="c-superuser", marker="uid-1/7")
SIMPLE_AUTH = Keyspace(name="system_auth", strategy="SimpleStrategy", replication={"*": 1})


def system(rf: int, strategy: str = "NetworkTopologyStrategy") -> list[Keyspace]:
    return [
        Keyspace(name=n, strategy=strategy, replication={"dc1": rf})
        for n in ("system_auth", "system_distributed", "system_traces")
    ]


def with_keyspaces(obs: Observed, keyspaces: list[Keyspace], auth: AuthView | None) -> Observed:
    out = replace(obs, auth=auth)
    for m in obs.members():
        assert m.pilot is not None
        assert m.pilot.facts is not None
        facts = m.pilot.facts.model_copy(update={"keyspaces": keyspaces})
        out = map_member(out, m.name, pilot=m.pilot.model_copy(update={"facts": facts}))
    return out


ON = AuthView(enabled=True, secret=SECRET)


def test_desired_factors_are_three_at_most_per_datacenter() -> None:
    assert desired_factors(observed([("r1", 1, 1)]).spec) == (("dc1", 1),)
    assert desired_factors(observed([("r1", 2, 1), ("r2", 1, 1)]).spec) == (("dc1", 3),)
    assert desired_factors(observed([("r1", 5, 5)]).spec) == (("dc1", 3),)


def test_system_keyspaces_are_raised_before_the_pool_grows() -> None:
    """One member up, three wanted: the ALTER comes before the scale-out, so
    the members that join stream their share (no repair needed)."""
    obs = with_keyspaces(observed([("r1", 3, 1)]), [SIMPLE_AUTH, *system(1)], ON)
    action = next_action(obs)
    assert action == ReplicateSystemKeyspaces(
        ("system_auth", "system_distributed", "system_traces"), (("dc1", 3),)
    )
    assert isinstance(next_action(with_keyspaces(obs, system(3), ON)), ScaleOut)


def test_system_keyspaces_are_lowered_before_a_member_leaves() -> None:
    """Three members, two wanted: RF 3 would make Cassandra refuse the
    decommission; lowered first, then the member leaves."""
    obs = with_keyspaces(observed([("r1", 2, 3)], rf=1), system(3), ON)
    assert next_action(obs) == ReplicateSystemKeyspaces(
        ("system_auth", "system_distributed", "system_traces"), (("dc1", 2),)
    )
    assert isinstance(next_action(with_keyspaces(obs, system(2), ON)), RequestDecommission)


def test_system_keyspaces_wait_for_every_member_up() -> None:
    obs = with_keyspaces(observed([("r1", 3, 2)]), system(1), ON)
    down = map_member(obs, "c-r1-1", pilot=None)
    action = next_action(down)
    assert isinstance(action, Wait)
    assert action.operation == "ReplicateSystemKeyspaces"


def test_keyspaces_nobody_reported_are_not_judged() -> None:
    obs = with_keyspaces(observed([("r1", 3, 1)]), [], ON)
    assert isinstance(next_action(obs), ScaleOut)
    assert isinstance(next_action(replace(observed([("r1", 3, 1)]), auth=None)), ScaleOut)


def test_system_keyspaces_follow_the_size_with_auth_off_too() -> None:
    """Turning auth on later must not need a repair: the replication is right already."""
    off = AuthView(enabled=False)
    obs = with_keyspaces(observed([("r1", 3, 1)]), system(1), off)
    assert isinstance(next_action(obs), ReplicateSystemKeyspaces)


def test_superuser_is_set_up_last_and_once_per_secret_version() -> None:
    obs = with_keyspaces(observed([("r1", 3, 3)]), system(3), ON)
    assert next_action(obs) == SetUpSuperuser("c-superuser", "uid-1/7")
    verified = replace(ON, verified="uid-1/7")
    assert next_action(with_keyspaces(obs, system(3), verified)) is None
    changed = replace(verified, secret=replace(SECRET, marker="uid-1/8"))
    assert next_action(with_keyspaces(obs, system(3), changed)) == SetUpSuperuser(
        "c-superuser", "uid-1/8"
    )


def test_superuser_waits_for_the_pool_and_every_member() -> None:
    growing = with_keyspaces(observed([("r1", 3, 2)]), system(3), ON)
    assert isinstance(next_action(growing), ScaleOut)
    full = with_keyspaces(observed([("r1", 3, 3)]), system(3), ON)
    assert next_action(map_member(full, "c-r1-2", pilot=None)) is None


def test_an_unusable_secret_is_a_blocked_operation() -> None:
    bad = replace(ON, secret=SecretView(name="mine", problem="Secret mine does not exist"))
    action = next_action(with_keyspaces(observed([("r1", 3, 3)]), system(3), bad))
    assert isinstance(action, Wait)
    assert action.rule == SUPERUSER_SECRET_VALID
    assert "Secret mine does not exist" in action.reason


def test_auth_off_sets_up_no_superuser() -> None:
    off = AuthView(enabled=False)
    assert next_action(with_keyspaces(observed([("r1", 3, 3)]), system(3), off)) is None


def cluster(**auth: object) -> CassandraCluster:
    return CassandraCluster.model_validate(
        {
            "metadata": {"name": "c", "namespace": "db", "uid": "u"},
            "spec": {
                "version": "5.0.6",
                "nodePools": [{"name": "r1", "replicas": 3}],
                "auth": auth,
            },
        }
    )


def test_secret_name_and_who_makes_it() -> None:
    assert secret_name(cluster()) == "c-superuser"
    assert generates_secret(cluster())
    assert secret_name(cluster(superuserSecretName="mine")) == "mine"
    assert not generates_secret(cluster(superuserSecretName="mine"))
    assert not generates_secret(cluster(enabled=False))


def test_generated_secret() -> None:
    owner = {"apiVersion": "navigator.dev/v1alpha1", "kind": "CassandraCluster", "name": "c"}
    secret = build_superuser_secret(cluster(), "pw", owner)
    assert secret["metadata"]["name"] == "c-superuser"
    assert secret["metadata"]["ownerReferences"] == [owner]
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert secret["stringData"] == {"username": GENERATED_USERNAME, "password": "pw"}


def encoded(**data: str) -> dict[str, object]:
    return {
        "metadata": {"uid": "u1", "resourceVersion": "9"},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def test_secret_problems_and_view_never_hold_values() -> None:
    assert secret_problem(None, "s") == "Secret s does not exist"
    assert secret_problem(encoded(username="u"), "s") == "Secret s has no password"
    assert secret_problem(encoded(username="u", password="p"), "s") == ""
    view = secret_view(encoded(username="u", password="hunter2"), "s")
    assert view == SecretView(name="s", marker="u1/9", problem="")
    assert "hunter2" not in repr(view)


def test_credentials_from_the_secret() -> None:
    creds = credentials(encoded(username="admin", password="hunter2"))  # type: ignore[arg-type]
    assert creds == Credentials("admin", "hunter2")
    assert "hunter2" not in repr(creds)
    assert credentials(encoded(username="admin")) is None  # type: ignore[arg-type]
    assert credentials(None) is None


def test_status_auth() -> None:
    off = auth_status(AuthView(enabled=False), AuthOutcome(), None)
    assert not off.enabled
    assert "without credentials" in off.message
    pending = auth_status(ON, AuthOutcome(), None)
    assert (pending.ready, pending.superuser_secret) == (False, "c-superuser")
    assert "every member" in pending.message
    ready = auth_status(ON, AuthOutcome(verified="uid-1/7"), None)
    assert ready.ready
    assert ready.verified_secret == "uid-1/7"
    assert not ready.message
    # Recorded: it stays ready on later passes, until the Secret changes.
    again = auth_status(replace(ON, verified="uid-1/7"), AuthOutcome(), ready)
    assert again == ready
    moved = replace(ON, verified="uid-1/7", secret=replace(SECRET, marker="uid-1/8"))
    assert not auth_status(moved, AuthOutcome(), ready).ready
    failed = auth_status(ON, AuthOutcome(message="AuthSetupFailed: x"), None)
    assert failed.message == "AuthSetupFailed: x"
    # The failure is remembered while nothing new is said.
    assert auth_status(ON, AuthOutcome(), failed).message == "AuthSetupFailed: x"


def test_cql_identifiers_and_masking() -> None:
    assert quote_identifier("navigator_superuser") == '"navigator_superuser"'
    assert quote_identifier('a"b') == '"a""b"'
    assert _mask("bad password hunter2 here", ["hunter2"]) == "bad password *** here"


def test_a_scale_in_refused_for_a_user_keyspace_lowers_nothing() -> None:
    """RF 3 for the user's keyspace: three members cannot become two, and the
    system keyspaces keep their replication (nothing was going to leave)."""
    obs = with_keyspaces(
        observed([("r1", 2, 3)]),
        [
            *system(3),
            Keyspace(name="ks", strategy="NetworkTopologyStrategy", replication={"dc1": 3}),
        ],
        ON,
    )
    action = next_action(obs)
    assert isinstance(action, Wait)
    assert action.rule == "DecommissionKeepsReplicationFactor"
    assert "system_auth" not in action.reason


def test_raising_never_lowers_another_datacenter() -> None:
    obs = observed([("r1", 3, 1)])
    auth = [
        Keyspace(
            name="system_auth", strategy="NetworkTopologyStrategy", replication={"dc1": 1, "dc2": 3}
        )
    ]
    action = next_action(with_keyspaces(obs, auth, ON))
    assert action == ReplicateSystemKeyspaces(("system_auth",), (("dc1", 3), ("dc2", 3)))


def test_no_member_no_superuser() -> None:
    assert next_action(with_keyspaces(observed([("r1", 0, 0)]), [], ON)) is None


def test_the_operator_role_password_is_derived_and_reveals_nothing() -> None:
    first = operator_password("s3cret-superuser-password")
    assert first == operator_password("s3cret-superuser-password")  # stable
    assert first != operator_password("another-password")  # follows the superuser's
    assert "s3cret" not in first
    assert len(first) >= 40  # 256 bits, URL-safe
    assert OPERATOR_ROLE == "navigator_operator"
