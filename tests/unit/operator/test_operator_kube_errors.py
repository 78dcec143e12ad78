"""Which API errors mean "the namespace is going away" (not a reconcile error)."""

from __future__ import annotations

from typing import Any

import pytest
from lightkube import ApiError
from lightkube.models.meta_v1 import Status

from navigator.operator.core.kube import is_namespace_terminating

pytestmark = pytest.mark.unit


def error(code: int, causes: list[dict[str, Any]] | None = None) -> ApiError:
    body: dict[str, Any] = {"code": code, "message": "m", "status": "Failure"}
    if causes is not None:
        body["details"] = {"causes": causes}
    return ApiError(status=Status.from_dict(body))


def test_namespace_terminating_is_recognised() -> None:
    cause = {"reason": "NamespaceTerminating", "field": "metadata.namespace", "message": "x"}
    assert is_namespace_terminating(error(403, [cause]))


@pytest.mark.parametrize(
    "err",
    [
        error(403),  # RBAC refusal: a real error
        error(403, [{"reason": "FieldValueInvalid", "field": "spec"}]),
        error(409, [{"reason": "NamespaceTerminating"}]),
    ],
)
def test_other_errors_are_not(err: ApiError) -> None:
    assert not is_namespace_terminating(err)
