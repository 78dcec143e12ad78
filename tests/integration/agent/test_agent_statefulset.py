"""The issue's acceptance scenario: a 3-replica StatefulSet with volumes, probes and preStop."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from agent_helpers import Agents, eventually, exec_in, http

from navigator.local.agent.testimage import PYTHON, REF

pytestmark = pytest.mark.integration

GRACE = 4


def statefulset(replicas: int) -> list[dict[str, Any]]:
    labels = {"app": "web"}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"clusterIP": "None", "selector": labels, "ports": [{"port": 8080}]},
    }
    container = {
        "name": "web",
        "image": REF,
        # The server ignores SIGTERM for a minute: termination must end with
        # SIGKILL once the grace period is over.
        "env": [{"name": "TERM_DELAY", "value": "60"}],
        "ports": [{"name": "http", "containerPort": 8080}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1},
        "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "date +%s > /data/prestop"]}}},
    }
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": {
            "serviceName": "web",
            "replicas": replicas,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": GRACE,
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "topology.kubernetes.io/zone",
                            "whenUnsatisfiable": "DoNotSchedule",
                            "labelSelector": {"matchLabels": labels},
                        }
                    ],
                    "containers": [container],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "64Mi"}},
                    },
                }
            ],
        },
    }
    return [service, sts]


def resolve_from(agents: Agents, pod: dict[str, Any], host: str) -> str:
    code = f"import socket; print(socket.gethostbyname({host!r}))"
    out = exec_in(agents.cluster, pod, PYTHON, "-c", code)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def fetch_from(agents: Agents, pod: dict[str, Any], url: str) -> str:
    code = f"import urllib.request as u; print(u.urlopen({url!r}, timeout=3).read().decode())"
    out = exec_in(agents.cluster, pod, PYTHON, "-c", code)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def pv_path(agents: Agents, namespace: str, claim: str) -> Path:
    pvc = agents.get(namespace, "pvc", claim)
    pv = agents.get("default", "pv", pvc["spec"]["volumeName"])
    return Path(pv["spec"]["local"]["path"])


@pytest.mark.timeout(300)
def test_statefulset_runs_across_nodes_keeps_data_and_terminates_gracefully(
    agents: Agents, namespace: str
) -> None:
    agents.apply(namespace, *statefulset(3))
    pods = {n: eventually(lambda n=n: agents.ready(namespace, n), timeout=90)
            for n in ("web-0", "web-1", "web-2")}  # fmt: skip
    assert len({p["spec"]["nodeName"] for p in pods.values()}) == 3
    sts = eventually(
        lambda: (
            (s := agents.get(namespace, "statefulset", "web"))
            and s["status"].get("readyReplicas") == 3
            and s
        )
    )
    assert sts["status"]["readyReplicas"] == 3

    # Pod to pod, by address and by the headless Service's DNS names.
    ip1 = pods["web-1"]["status"]["podIP"]
    assert fetch_from(agents, pods["web-0"], f"http://{ip1}:8080/") == "web-1"
    name = f"web-1.web.{namespace}.svc.cluster.local"
    assert resolve_from(agents, pods["web-0"], name) == ip1
    assert fetch_from(agents, pods["web-2"], f"http://{name}:8080/") == "web-1"
    assert fetch_from(agents, pods["web-2"], "http://web-0.web:8080/") == "web-0"

    # Data on the claim survives deleting the pod; the new pod comes back on
    # the node that holds its volume.
    ip0 = pods["web-0"]["status"]["podIP"]
    assert http(f"http://{ip0}:8080/data", method="PUT", data=b"kept") == "stored"
    agents.cluster.kubectl("delete", "pod", "web-0", "-n", namespace, "--wait=false")

    def replaced() -> Any:
        pod = agents.ready(namespace, "web-0")
        return pod if pod and pod["metadata"]["uid"] != pods["web-0"]["metadata"]["uid"] else None

    new0 = eventually(replaced, timeout=90)
    assert new0["spec"]["nodeName"] == pods["web-0"]["spec"]["nodeName"]
    assert http(f"http://{new0['status']['podIP']}:8080/data") == "kept"

    # Scale-down: preStop runs, SIGTERM is ignored, SIGKILL after the grace period.
    wall, started = int(time.time()), time.monotonic()
    agents.cluster.kubectl("scale", "statefulset", "web", "-n", namespace, "--replicas=2")
    eventually(lambda: agents.pod(namespace, "web-2") is None, timeout=60, interval=0.1)
    took = time.monotonic() - started
    assert GRACE <= took < GRACE + 5, took
    data2 = pv_path(agents, namespace, "data-web-2")
    assert int((data2 / "prestop").read_text()) >= wall  # the hook ran for this deletion

    # Deleting the claim (reclaim policy Delete) removes the volume and its data.
    agents.cluster.kubectl("delete", "pvc", "data-web-2", "-n", namespace)
    eventually(lambda: not data2.exists(), timeout=60)
