"""Pod status from what the agent knows about its containers: pure functions.

Follows the kubelet's observable contract: phase, the four conditions,
addresses and one containerStatus per (init) container.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from navigator.local.agent.kube import Obj


@dataclass
class Terminated:
    exit_code: int
    reason: str
    started_at: str
    finished_at: str
    message: str = ""

    def to_json(self) -> Obj:
        out: Obj = {
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "containerID": "",
        }
        if self.message:
            out["message"] = self.message
        return out


@dataclass
class ContainerState:
    """The agent's record of one container."""

    name: str
    image: str
    waiting: bool = True
    waiting_reason: str = "ContainerCreating"
    waiting_message: str = ""
    running_since: str | None = None
    terminated: Terminated | None = None
    last_terminated: Terminated | None = None
    restart_count: int = 0
    ready: bool = False
    started: bool = False
    container_id: str = ""
    image_id: str = ""

    def state_json(self) -> Obj:
        if self.running_since is not None:
            return {"running": {"startedAt": self.running_since}}
        if self.terminated is not None and not self.waiting:
            return {"terminated": {**self.terminated.to_json(), "containerID": self.container_id}}
        waiting: Obj = {"reason": self.waiting_reason}
        if self.waiting_message:
            waiting["message"] = self.waiting_message
        return {"waiting": waiting}

    def to_json(self) -> Obj:
        out: Obj = {
            "name": self.name,
            "image": self.image,
            "imageID": self.image_id,
            "state": self.state_json(),
            "lastState": (
                {"terminated": self.last_terminated.to_json()} if self.last_terminated else {}
            ),
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restart_count,
        }
        if self.container_id:
            out["containerID"] = self.container_id
        return out

    @property
    def done(self) -> bool:
        """Terminated for good (no restart pending)."""
        return self.terminated is not None and self.running_since is None and not self.waiting


@dataclass
class PodRuntime:
    """Everything `pod_status` needs, gathered by the pod worker."""

    pod_ip: str | None
    host_ip: str
    start_time: str | None
    init: list[ContainerState] = field(default_factory=list)
    app: list[ContainerState] = field(default_factory=list)
    sandbox_ready: bool = False
    will_restart: bool = True
    terminating: bool = False


def phase(rt: PodRuntime, restart_policy: str) -> str:
    if not all(c.done and c.terminated and c.terminated.exit_code == 0 for c in rt.init):
        if any(c.done and c.terminated and c.terminated.exit_code != 0 for c in rt.init) and (
            restart_policy == "Never"
        ):
            return "Failed"
        return "Pending"
    if any(c.running_since is not None for c in rt.app):
        return "Running"
    if rt.app and all(c.done for c in rt.app):
        failed = any(c.terminated and c.terminated.exit_code != 0 for c in rt.app)
        if restart_policy == "Never" or (restart_policy == "OnFailure" and not failed):
            return "Failed" if failed else "Succeeded"
        if not rt.will_restart:
            return "Failed" if failed else "Succeeded"
    if any(c.restart_count > 0 or c.terminated for c in rt.app):
        return "Running"
    return "Pending"


def _condition(
    kind: str,
    ok: bool,
    now: str,
    old: dict[str, Obj],
    generation: int,
    reason: str = "",
    message: str = "",
) -> Obj:
    status = "True" if ok else "False"
    prev = old.get(kind)
    since = prev["lastTransitionTime"] if prev and prev.get("status") == status else now
    # A strategic-merge patch keeps fields it does not mention: null clears a stale reason.
    return {
        "type": kind,
        "status": status,
        "observedGeneration": generation,
        "lastProbeTime": None,
        "lastTransitionTime": since,
        "reason": None if ok or not reason else reason,
        "message": None if ok or not message else message,
    }


def pod_status(pod: Obj, rt: PodRuntime, now: str) -> Obj:
    old = {c["type"]: c for c in pod.get("status", {}).get("conditions", [])}
    policy = pod.get("spec", {}).get("restartPolicy", "Always")
    initialized = all(c.done and c.terminated and c.terminated.exit_code == 0 for c in rt.init)
    containers_ready = bool(rt.app) and all(c.ready for c in rt.app)
    current_phase = phase(rt, policy)
    not_ready = "PodCompleted" if current_phase in ("Succeeded", "Failed") else "ContainersNotReady"
    gen = int(pod["metadata"].get("generation", 1))
    # The kubelet's wording, naming the containers that hold the pod back.
    uninit = [c.name for c in rt.init if not (c.terminated and c.terminated.exit_code == 0)]
    init_msg = f"containers with incomplete status: [{' '.join(uninit)}]" if uninit else ""
    unready = [c.name for c in rt.app if not c.ready]
    ready_msg = ""
    if unready and not_ready == "ContainersNotReady":
        ready_msg = f"containers with unready status: [{' '.join(unready)}]"
    conditions = [
        _condition("PodReadyToStartContainers", rt.sandbox_ready, now, old, gen),
        _condition("Initialized", initialized, now, old, gen, "ContainersNotInitialized", init_msg),
        _condition("Ready", containers_ready, now, old, gen, not_ready, ready_msg),
        _condition("ContainersReady", containers_ready, now, old, gen, not_ready, ready_msg),
        _condition("PodScheduled", True, now, old, gen),
    ]
    status: dict[str, Any] = {
        "observedGeneration": gen,
        "phase": current_phase,
        "conditions": conditions,
        "hostIP": rt.host_ip,
        "hostIPs": [{"ip": rt.host_ip}],
        "containerStatuses": [c.to_json() for c in rt.app],
        "qosClass": pod.get("status", {}).get("qosClass", "BestEffort"),
    }
    if rt.init:
        status["initContainerStatuses"] = [c.to_json() for c in rt.init]
    if rt.pod_ip:
        status["podIP"] = rt.pod_ip
        status["podIPs"] = [{"ip": rt.pod_ip}]
    if rt.start_time:
        status["startTime"] = rt.start_time
    return status
