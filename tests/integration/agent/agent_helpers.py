"""Helpers for node-agent tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from dataclasses import dataclass
from typing import Any

import yaml

from navigator.local import cluster
from navigator.local.agent.fleet import NodeSet
from navigator.local.agent.testimage import REF
from navigator.testing.members import eventually
from navigator.testing.pytest_plugin import LocalCluster

NODES = NodeSet(count=3)


@dataclass(frozen=True)
class Agents:
    """The cluster with its node agents, plus helpers speaking kubectl."""

    cluster: LocalCluster

    def apply(self, namespace: str, *objects: dict[str, Any]) -> None:
        text = yaml.safe_dump_all(objects)
        self.cluster.kubectl("apply", "-n", namespace, "-f", "-", input=text)

    def get(self, namespace: str, kind: str, name: str = "") -> Any:
        args = ["get", kind, *([name] if name else []), "-n", namespace, "-o", "json"]
        proc = self.cluster.kubectl(*args, check=False)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def pod(self, namespace: str, name: str) -> Any:
        return self.get(namespace, "pod", name)

    def events(self, namespace: str, pod: str) -> list[dict[str, Any]]:
        items = self.get(namespace, "events")["items"]
        return [e for e in items if e["involvedObject"].get("name") == pod]

    def ready(self, namespace: str, name: str) -> Any:
        pod = self.pod(namespace, name)
        conds = (pod or {}).get("status", {}).get("conditions", [])
        ok = any(c["type"] == "Ready" and c["status"] == "True" for c in conds)
        return pod if ok else None

    def restart(self) -> None:
        cluster.ensure_nodes(
            self.cluster.config, NODES, bins=self.cluster.binaries, say=lambda _: None
        )


def http(url: str, *, method: str = "GET", data: bytes | None = None, timeout: float = 3) -> str:
    req = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return str(resp.read().decode())


def http_when_up(url: str, timeout: float = 30) -> str:
    """`http(url)` once the server answers (a pod can be Ready before it listens,
    when its readiness probe checks something else)."""

    def fetch() -> str | None:
        try:
            return http(url)
        except OSError:
            return None

    return eventually(fetch, timeout=timeout)


def web_container(**extra: Any) -> dict[str, Any]:
    """The test image's HTTP server as a container spec."""
    return {
        "name": "web",
        "image": REF,
        "ports": [{"name": "http", "containerPort": 8080}],
        **extra,
    }


def pod_manifest(name: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 5,
            "containers": list(containers) or [web_container()],
            **spec,
        },
    }


def container_pid(cluster: LocalCluster, pod: dict[str, Any], container: str = "web") -> int:
    """The host PID of a container's PID 1 (from the agent's state; 0 until it is known)."""
    node, uid = pod["spec"]["nodeName"], pod["metadata"]["uid"]
    path = cluster.config.state_dir / "nodes" / node / "pods" / uid / "containers" / container
    try:
        return int((path / "init.pid").read_text())
    except (OSError, ValueError):
        return 0


def exec_in(
    cluster: LocalCluster, pod: dict[str, Any], *argv: str, container: str = "web"
) -> subprocess.CompletedProcess[str]:
    """Run a command inside a container's namespaces (what `kubectl exec` would do)."""
    pid = eventually(lambda: container_pid(cluster, pod, container), timeout=10)
    args = ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--", *argv]
    return subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
