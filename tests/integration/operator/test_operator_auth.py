"""Authentication against the real API server (pilots simulated, so no
Cassandra to log in to): the generated Secret, created once and never
overwritten; a named Secret that is missing blocks the superuser set-up
with a reason; the CQL failure is reported without the password; auth off
is shown in status."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event, Secret
from test_operator_reconcile import NAME, create, grow, status

from navigator.operator.cassandra.auth import GENERATED_USERNAME, SUPERUSER_SECRET_VALID
from navigator.operator.cassandra.reconcile import Reconciler

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

ON = {"enabled": True}


async def events(client: AsyncClient, namespace: str) -> list[Any]:
    return [e async for e in client.list(Event, namespace=namespace)]


async def test_the_generated_secret_is_created_once_and_never_overwritten(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    created = await create(aclient, namespace, replicas=1, auth=ON)
    await grow(aclient, reconciler, namespace, 1)
    secret = (await aclient.get(Secret, f"{NAME}-superuser", namespace=namespace)).to_dict()
    assert secret["type"] == "kubernetes.io/basic-auth"
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["username"] == GENERATED_USERNAME
    assert len(data["password"]) >= 32
    (owner,) = secret["metadata"]["ownerReferences"]
    assert owner["uid"] == created["metadata"]["uid"]

    for _ in range(3):
        await reconciler.reconcile(namespace, NAME)
    again = (await aclient.get(Secret, f"{NAME}-superuser", namespace=namespace)).to_dict()
    assert again["metadata"]["resourceVersion"] == secret["metadata"]["resourceVersion"]

    auth = (await status(aclient, namespace))["auth"]
    assert auth["enabled"] is True
    assert auth["superuserSecret"] == f"{NAME}-superuser"
    assert auth["ready"] is False  # no Cassandra here to set it up in
    said = [e.reason for e in await events(aclient, namespace)]
    assert said.count("SecretCreated") == 1
    # Nothing the operator wrote carries the password.
    written = str(await status(aclient, namespace)) + str(
        [(e.reason, e.message) for e in await events(aclient, namespace)]
    )
    assert data["password"] not in written
    assert "AuthSetupFailed" in said  # it tried, and said why it could not


async def test_a_named_secret_that_is_missing_blocks_with_a_reason(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    await create(aclient, namespace, replicas=1, auth={"superuserSecretName": "mine"})
    await grow(aclient, reconciler, namespace, 1)
    await reconciler.reconcile(namespace, NAME)
    st = await status(aclient, namespace)
    assert st["operation"]["blockedBy"]["rule"] == SUPERUSER_SECRET_VALID
    assert "Secret mine does not exist" in st["operation"]["blockedBy"]["reason"]
    assert "Secret mine does not exist" in st["auth"]["message"]
    names = [s.metadata.name async for s in aclient.list(Secret, namespace=namespace)]
    assert f"{NAME}-superuser" not in names  # a named Secret is never generated

    password = "a-password-nobody-may-see"
    secret = Secret(
        metadata=ObjectMeta(name="mine", namespace=namespace),
        stringData={"username": "admin", "password": password},
    )
    await aclient.create(secret)
    await reconciler.reconcile(namespace, NAME)
    st = await status(aclient, namespace)
    assert "blockedBy" not in st.get("operation", {})  # the Secret is usable now
    assert st["auth"]["message"].startswith("AuthSetupFailed")
    warnings = [e for e in await events(aclient, namespace) if e.reason == "AuthSetupFailed"]
    assert warnings
    assert warnings[0].type == "Warning"
    assert password not in str(st) + str([e.message for e in await events(aclient, namespace)])


async def test_auth_off_is_shown_in_status(
    aclient: AsyncClient, reconciler: Reconciler, namespace: str
) -> None:
    await create(aclient, namespace, replicas=1, auth={"enabled": False})
    await grow(aclient, reconciler, namespace, 1)
    auth = (await status(aclient, namespace))["auth"]
    assert auth["enabled"] is False
    assert "without credentials" in auth["message"]
    names = [s.metadata.name async for s in aclient.list(Secret, namespace=namespace)]
    assert f"{NAME}-superuser" not in names
