"""What is wrong with a member's Pod, in words, when its database cannot even
start: the Pod is unschedulable, its image cannot be pulled, or its container
crash-loops. A member in that state is failing, not starting, and says why.

Pure: a Pod as the API returns it (a dict) in, a sentence or None out.
"""

from __future__ import annotations

from typing import Any

# Container waiting reasons after which nothing improves without a change
# (kubelet's: image pulls, config errors, back-off after repeated exits).
STUCK_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
MESSAGE_CHARS = 200


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def pod_problem(pod: dict[str, Any]) -> str | None:
    """Why this Pod's database cannot start, or None if nothing says so."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return None  # going away on purpose
    status = pod.get("status") or {}
    for cond in status.get("conditions") or []:
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "Unschedulable"
        ):
            return _short(f"unschedulable: {cond.get('message') or 'no node fits'}")
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason") or ""
        if reason not in STUCK_WAITING:
            continue
        detail = []
        last = (container.get("lastState") or {}).get("terminated") or {}
        if "exitCode" in last:
            detail.append(f"exit code {last['exitCode']}")
        if restarts := int(container.get("restartCount") or 0):
            detail.append(f"{restarts} restarts")
        said = f" ({', '.join(detail)})" if detail else ""
        message = waiting.get("message")
        return _short(
            f"{container.get('name', 'container')} {reason}{said}"
            + (f": {message}" if message else "")
        )
    return None
