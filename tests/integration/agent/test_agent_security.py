"""securityContext on the node agent, seen from the host: the container's PID 1
runs as the user asked for, with the capabilities, no_new_privs and seccomp
filter asked for (its /proc/<pid>/status says so), runAsNonRoot refuses root
as the kubelet does, and fsGroup makes volumes writable by a non-root user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from agent_helpers import Agents, container_pid, eventually, pod_manifest, web_container

from navigator.local.agent.security import CAP, DEFAULT_CAPABILITIES, cap_mask

pytestmark = pytest.mark.integration

RESTRICTED = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def status_of(agents: Agents, pod: dict[str, Any], container: str = "web") -> dict[str, str]:
    """The container PID 1's /proc/<pid>/status, read on the host."""
    pid = eventually(lambda: container_pid(agents.cluster, pod, container), timeout=10)
    text = Path(f"/proc/{pid}/status").read_text()
    return {k: v.strip() for k, v in (line.split(":", 1) for line in text.splitlines())}


def sleeper(script: str = "", **extra: Any) -> dict[str, Any]:
    """A container that runs `script` then sleeps as PID 1 (so PID 1 is the process)."""
    return web_container(command=["sh", "-c", f"{script}exec sleep 3600"], **extra)


def logs(agents: Agents, namespace: str, pod: str, container: str = "web") -> str:
    return str(agents.cluster.kubectl("logs", "-n", namespace, pod, "-c", container).stdout)


def test_restricted_pod_runs_as_its_user_without_capabilities(
    agents: Agents, namespace: str
) -> None:
    probe = {"exec": {"command": ["sh", "-c", 'test "$(id -u):$(id -g)" = 1000:3000']}}
    restricted = sleeper(
        "id -u; unshare -U true 2>&1 || echo unshare refused; ",
        securityContext=RESTRICTED,
        readinessProbe={**probe, "periodSeconds": 1},
    )
    pod = pod_manifest(
        "restricted",
        restricted,
        securityContext={
            "runAsUser": 1000,
            "runAsGroup": 3000,
            "fsGroup": 2000,
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    )
    agents.apply(namespace, pod)
    # Ready: the exec probe, too, ran as the container's user and group.
    ready = eventually(lambda: agents.ready(namespace, "restricted"), timeout=60)
    status = status_of(agents, ready)
    assert status["Uid"].split() == ["1000"] * 4
    assert status["Gid"].split() == ["3000"] * 4
    assert status["Groups"].split() == ["2000"]
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[key], 16) == 0, (key, status[key])
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"  # a filter
    out = eventually(lambda: "unshare refused" in logs(agents, namespace, "restricted") or None)
    assert out
    assert "Operation not permitted" in logs(agents, namespace, "restricted")


def test_root_capabilities_are_containerds_default_plus_and_minus(
    agents: Agents, namespace: str
) -> None:
    plain = sleeper()
    only = sleeper(
        name="only",
        securityContext={"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}},
    )
    agents.apply(namespace, pod_manifest("caps", plain, only))
    pod = eventually(lambda: agents.ready(namespace, "caps"))
    web, narrow = status_of(agents, pod), status_of(agents, pod, "only")
    assert web["Uid"].split()[0] == "0"
    assert int(web["CapEff"], 16) == cap_mask(DEFAULT_CAPABILITIES)
    assert int(web["CapBnd"], 16) == cap_mask(DEFAULT_CAPABILITIES)
    assert web["NoNewPrivs"] == "0"
    assert web["Seccomp"] == "0"  # Unconfined is the default, as on a kubelet
    assert int(narrow["CapEff"], 16) == 1 << CAP["NET_BIND_SERVICE"]
    assert int(narrow["CapBnd"], 16) == 1 << CAP["NET_BIND_SERVICE"]


def test_run_as_non_root_refuses_a_root_container_with_the_kubelets_reason(
    agents: Agents, namespace: str
) -> None:
    agents.apply(
        namespace,
        pod_manifest("rooted", sleeper(), securityContext={"runAsNonRoot": True}),
        pod_manifest(
            "explicit",
            sleeper(securityContext={"runAsUser": 0}),
            securityContext={"runAsNonRoot": True},
        ),
    )

    def waiting(name: str) -> dict[str, Any] | None:
        statuses = (
            (agents.pod(namespace, name) or {}).get("status", {}).get("containerStatuses", [])
        )
        state = statuses[0]["state"].get("waiting", {}) if statuses else {}
        return statuses[0] if state.get("reason") == "CreateContainerConfigError" else None

    rooted = eventually(lambda: waiting("rooted"))
    message = rooted["state"]["waiting"]["message"]
    assert message.startswith("container has runAsNonRoot and image will run as root (pod: ")
    assert message.endswith(", container: web)")
    explicit = eventually(lambda: waiting("explicit"))
    assert explicit["state"]["waiting"]["message"].startswith(
        "container's runAsUser breaks non-root policy"
    )
    failed = [e for e in agents.events(namespace, "rooted") if e["reason"] == "Failed"]
    assert any("runAsNonRoot" in e["message"] for e in failed), failed
    # It never ran, and stays refused for the same reason (no crash loop).
    uid = agents.pod(namespace, "rooted")["metadata"]["uid"]
    node = agents.pod(namespace, "rooted")["spec"]["nodeName"]
    pods = agents.cluster.config.state_dir / "nodes" / node / "pods" / uid
    assert not (pods / "containers" / "web" / "init.pid").exists()
    again = eventually(lambda: waiting("rooted"))
    assert again["restartCount"] == 0
    assert agents.pod(namespace, "rooted")["status"]["phase"] == "Pending"


def test_fs_group_makes_volumes_writable_for_a_non_root_user(
    agents: Agents, namespace: str
) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "300Mi"}}},
    }
    script = (
        "echo pv > /data/file && echo pv-ok; "
        "echo ed > /scratch/file && echo emptydir-ok; "
        "mkdir /data/dir && echo mkdir-ok; "
    )
    writer = sleeper(
        script,
        securityContext=RESTRICTED,
        volumeMounts=[
            {"name": "data", "mountPath": "/data"},
            {"name": "scratch", "mountPath": "/scratch"},
        ],
    )
    pod = pod_manifest(
        "writer",
        writer,
        securityContext={"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 2000,
                         "fsGroupChangePolicy": "OnRootMismatch"},
        volumes=[
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
            {"name": "scratch", "emptyDir": {}},
        ],
    )  # fmt: skip
    agents.apply(namespace, claim, pod)
    ready = eventually(lambda: agents.ready(namespace, "writer"), timeout=90)
    out = eventually(lambda: logs(agents, namespace, "writer") or None)
    assert out.split() == ["pv-ok", "emptydir-ok", "mkdir-ok"], out
    pv_name = agents.get(namespace, "pvc", "data")["spec"]["volumeName"]
    volume = Path(agents.get("default", "pv", pv_name)["spec"]["local"]["path"])
    root = volume.stat()
    assert root.st_gid == 2000
    assert root.st_mode & 0o2070 == 0o2070  # group rwx and setgid
    written = (volume / "file").stat()
    assert (written.st_uid, written.st_gid) == (1000, 2000)  # setgid: the group is inherited
    assert (volume / "dir").stat().st_gid == 2000
    assert ready["status"]["containerStatuses"][0]["restartCount"] == 0


def test_a_volume_written_by_root_becomes_writable_for_the_fs_group(
    agents: Agents, namespace: str
) -> None:
    """An upgrade from root pods: what a root container wrote (root's files,
    0644 and 0755) a non-root pod with fsGroup may then change, after one
    walk of the volume (OnRootMismatch sees the root's group is not right)."""
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "old"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "300Mi"}}},
    }
    mounts = [{"name": "data", "mountPath": "/data"}]
    volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": "old"}}]
    as_root = web_container(
        command=["sh", "-c", "umask 022; mkdir -p /data/d && echo root > /data/d/f && echo done"],
        volumeMounts=mounts,
    )
    agents.apply(namespace, claim, pod_manifest("before", as_root, restartPolicy="Never",
                                                 volumes=volumes))  # fmt: skip

    def phase(name: str) -> str:
        return str((agents.pod(namespace, name) or {}).get("status", {}).get("phase"))

    eventually(lambda: phase("before") == "Succeeded", timeout=60)
    agents.cluster.kubectl("delete", "pod", "before", "-n", namespace, "--wait=true")
    non_root = web_container(
        command=["sh", "-c", "echo more >> /data/d/f && touch /data/d/g && cat /data/d/f"],
        securityContext=RESTRICTED,
        volumeMounts=mounts,
    )
    after = pod_manifest(
        "after",
        non_root,
        restartPolicy="Never",
        volumes=volumes,
        securityContext={"runAsUser": 999, "runAsGroup": 999, "fsGroup": 999,
                         "fsGroupChangePolicy": "OnRootMismatch"},
    )  # fmt: skip
    agents.apply(namespace, after)
    eventually(lambda: phase("after") in ("Succeeded", "Failed"), timeout=60)
    assert logs(agents, namespace, "after").split() == ["root", "more"]
    assert phase("after") == "Succeeded"
