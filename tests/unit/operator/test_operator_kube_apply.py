"""`Kube.apply`: "nothing changed" compares the whole manifest (by its hash),
so a removed field costs one apply; writes are refused when not leading; a
guarded apply carries the resourceVersion it was decided on."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from navigator.operator.core.kube import APPLIED_ANNOTATION, Kube, applied_hash, stamped
from navigator.operator.core.leader import NotLeader
from navigator.operator.core.revision import REVISION_ANNOTATION

pytestmark = pytest.mark.unit

TOLERATION = {"key": "dedicated", "operator": "Equal", "value": "cassandra", "effect": "NoSchedule"}


class FakeClient:
    """Records every write `Kube` sends (verb, body); every call succeeds."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    async def patch(self, _res: Any, _name: str, body: Any, **_: Any) -> None:
        self.sent.append(("patch", copy.deepcopy(body)))

    async def delete(self, *_: Any, **__: Any) -> None:
        self.sent.append(("delete", None))

    async def create(self, body: Any, **_: Any) -> None:
        self.sent.append(("create", body))


def sts(*, tolerations: bool = True, replicas: int = 1) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [{"name": "cassandra", "image": "c:5"}]}
    if tolerations:
        pod["tolerations"] = [TOLERATION]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "c-a", "namespace": "ns", "labels": {"app": "c"}},
        "spec": {
            "replicas": replicas,
            "template": {
                "metadata": {"annotations": {REVISION_ANNOTATION: "r1"}},
                "spec": pod,
            },
        },
    }


def stored(manifest: dict[str, Any], *, stamp: bool = True) -> dict[str, Any]:
    """`manifest` as the API server would return it after an apply: with what
    it adds, and with the fields another manager or an old apply left."""
    live = copy.deepcopy(stamped(manifest) if stamp else manifest)
    live["metadata"].update(uid="u", resourceVersion="41", generation=2)
    live["status"] = {"replicas": 1}
    return live


def kube(client: FakeClient, leading: bool = True) -> Kube:
    return Kube(client, is_leader=lambda: leading)  # type: ignore[arg-type]


# The hash.


def test_hash_ignores_key_order_and_its_own_annotation() -> None:
    manifest = sts()
    reordered = dict(reversed(list(manifest.items())))
    assert applied_hash(reordered) == applied_hash(manifest)
    assert applied_hash(stamped(manifest)) == applied_hash(manifest)
    assert len(applied_hash(manifest)) == 16


def test_hash_sees_a_removed_field() -> None:
    assert applied_hash(sts(tolerations=False)) != applied_hash(sts())


def test_hash_sees_the_pod_template_revision() -> None:
    other = sts()
    other["spec"]["template"]["metadata"]["annotations"][REVISION_ANNOTATION] = "r2"
    assert applied_hash(other) != applied_hash(sts())


def test_stamping_keeps_other_annotations_and_does_not_touch_the_input() -> None:
    manifest = sts()
    manifest["metadata"]["annotations"] = {"a": "1"}
    before = copy.deepcopy(manifest)
    notes = stamped(manifest)["metadata"]["annotations"]
    assert notes == {"a": "1", APPLIED_ANNOTATION: applied_hash(manifest)}
    assert manifest == before
    # The pod template's revision stays where the builders put it.
    assert stamped(manifest)["spec"]["template"] == manifest["spec"]["template"]


# apply.


async def test_a_removed_field_is_applied_once_then_settles() -> None:
    """The live object still holds the toleration (a subset match would call
    that "nothing changed" forever); the manifest without it is applied, and
    server-side apply drops the field this manager no longer sends."""
    client = FakeClient()
    k = kube(client)
    live = stored(sts())
    assert not await k.apply(sts(), live)
    assert await k.apply(sts(tolerations=False), live)
    ((verb, body),) = client.sent
    assert verb == "patch"
    assert "tolerations" not in body["spec"]["template"]["spec"]
    assert body["metadata"]["annotations"][APPLIED_ANNOTATION] == applied_hash(
        sts(tolerations=False)
    )
    assert not await k.apply(sts(tolerations=False), stored(sts(tolerations=False)))
    assert len(client.sent) == 1


async def test_an_object_an_older_operator_applied_gets_one_apply() -> None:
    client = FakeClient()
    k = kube(client)
    assert await k.apply(sts(), stored(sts(), stamp=False))
    assert not await k.apply(sts(), stored(sts()))
    assert len(client.sent) == 1


async def test_a_value_someone_else_changed_is_applied_again() -> None:
    client = FakeClient()
    live = stored(sts())
    live["spec"]["replicas"] = 5
    assert await kube(client).apply(sts(), live)


async def test_quantities_the_api_server_canonicalized_are_still_no_change() -> None:
    client = FakeClient()
    manifest = sts()
    manifest["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "limits": {"memory": "2048Mi"}
    }
    live = stored(manifest)
    live["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "2Gi"
    assert not await kube(client).apply(manifest, live)
    assert client.sent == []


async def test_the_status_write_is_sent_as_given() -> None:
    client = FakeClient()
    body = {"status": {"phase": "Ready"}}
    await kube(client).apply_status("CassandraCluster", "c", "ns", body)
    assert client.sent == [("patch", {"status": {"phase": "Ready"}})]


async def test_a_guarded_apply_carries_the_resource_version_it_was_decided_on() -> None:
    client = FakeClient()
    k = kube(client)
    live = stored(sts())
    await k.apply(sts(replicas=2), live, guard=True)
    await k.apply(sts(replicas=3), live)
    await k.apply(sts(), None, guard=True)  # a create has nothing to be guarded by
    versions = [body["metadata"].get("resourceVersion") for _, body in client.sent]
    assert versions == ["41", None, None]
    # The precondition is not part of what was applied.
    guarded = client.sent[0][1]
    assert guarded["metadata"]["annotations"][APPLIED_ANNOTATION] == applied_hash(sts(replicas=2))


# Leadership.


async def test_a_kube_that_does_not_lead_refuses_every_write() -> None:
    client = FakeClient()
    k = kube(client, leading=False)
    cluster = {
        "apiVersion": "navigator.dev/v1alpha1",
        "kind": "CassandraCluster",
        "metadata": {"name": "c", "namespace": "ns", "uid": "u"},
    }
    with pytest.raises(NotLeader):
        await k.apply(sts(), None)
    with pytest.raises(NotLeader):
        await k.apply_status("CassandraCluster", "c", "ns", {"status": {}})
    with pytest.raises(NotLeader):
        await k.delete("Pilot", "c-a-0", "ns")
    with pytest.raises(NotLeader):
        await k.event(cluster, reason="ScalingOut", message="m")
    assert client.sent == []
    assert k.total_writes == 0


async def test_leadership_is_asked_at_each_write() -> None:
    client = FakeClient()
    leading = [True]
    k = Kube(client, is_leader=lambda: leading[0])  # type: ignore[arg-type]
    await k.delete("Pilot", "p", "ns")
    leading[0] = False
    with pytest.raises(NotLeader):
        await k.delete("Pilot", "q", "ns")
    # An apply that changes nothing is no write: it needs no leadership.
    assert not await k.apply(sts(), stored(sts()))
    assert len(client.sent) == 1
