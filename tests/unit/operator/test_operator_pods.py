"""pod_problem: why a member's Pod cannot run its database, from the Pod alone."""

from __future__ import annotations

from typing import Any

import pytest

from navigator.operator.core.pods import pod_problem

pytestmark = pytest.mark.unit


def pod(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "c-a-0"}, "status": status}


def waiting(reason: str, message: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "name": "cassandra",
        "state": {"waiting": {"reason": reason, "message": message}},
        **extra,
    }


def test_a_running_or_starting_pod_has_no_problem() -> None:
    assert pod_problem(pod(phase="Running", containerStatuses=[{"state": {"running": {}}}])) is None
    assert (
        pod_problem(pod(phase="Pending", containerStatuses=[waiting("ContainerCreating")])) is None
    )
    assert pod_problem(pod(phase="Pending")) is None


def test_a_crash_loop_names_the_container_exit_code_and_restarts() -> None:
    status = waiting(
        "CrashLoopBackOff",
        "back-off 40s restarting failed container",
        restartCount=4,
        lastState={"terminated": {"exitCode": 1}},
    )
    got = pod_problem(pod(containerStatuses=[status]))
    assert got == (
        "cassandra CrashLoopBackOff (exit code 1, 4 restarts):"
        " back-off 40s restarting failed container"
    )


def test_an_image_that_cannot_be_pulled() -> None:
    got = pod_problem(pod(containerStatuses=[waiting("ImagePullBackOff")]))
    assert got == "cassandra ImagePullBackOff"


def test_an_unschedulable_pod_says_what_the_scheduler_said() -> None:
    cond = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 Insufficient memory.",
    }
    got = pod_problem(pod(phase="Pending", conditions=[cond]))
    assert got == "unschedulable: 0/3 nodes are available: 3 Insufficient memory."


def test_a_pod_being_deleted_is_not_a_problem_and_long_messages_are_cut() -> None:
    gone = pod(containerStatuses=[waiting("CrashLoopBackOff")])
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert pod_problem(gone) is None
    got = pod_problem(pod(containerStatuses=[waiting("ErrImagePull", "x" * 1000)]))
    assert got is not None
    assert len(got) == 200
    assert got.endswith("…")
