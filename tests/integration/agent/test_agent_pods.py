"""Pods on the node agent: network, files, environment, probes, restarts, logs, bad input."""

from __future__ import annotations

import ipaddress
import json
import re
import time

import pytest
from agent_helpers import (
    Agents,
    eventually,
    exec_in,
    http,
    http_when_up,
    pod_manifest,
    web_container,
)

from navigator.local.agent.testimage import PYTHON

pytestmark = pytest.mark.integration

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def field_env(name: str, path: str) -> dict[str, object]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def test_pod_gets_address_files_environment_and_a_real_token(
    agents: Agents, namespace: str
) -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
              "data": {"greeting": "hello"}}  # fmt: skip
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec"},
              "stringData": {"password": "s3cret"}}  # fmt: skip
    container = web_container(
        env=[
            field_env("POD_IP", "status.podIP"),
            field_env("POD_NAME", "metadata.name"),
            field_env("POD_NAMESPACE", "metadata.namespace"),
            field_env("NODE_NAME", "spec.nodeName"),
            {
                "name": "GREETING",
                "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}},
            },
            {"name": "COMBINED", "value": "$(POD_NAME)-x"},
        ],
        volumeMounts=[
            {"name": "cfg", "mountPath": "/etc/cfg"},
            {"name": "sec", "mountPath": "/etc/sec", "readOnly": True},
            {"name": "info", "mountPath": "/etc/info"},
            {"name": "scratch", "mountPath": "/scratch"},
        ],
        readinessProbe={"exec": {"command": ["test", "-s", f"{SA_DIR}/token"]}, "periodSeconds": 1},
    )
    pod = pod_manifest(
        "files",
        container,
        volumes=[
            {"name": "cfg", "configMap": {"name": "cfg"}},
            {"name": "sec", "secret": {"secretName": "sec"}},
            {"name": "info", "downwardAPI": {"items": [
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
            {"name": "scratch", "emptyDir": {}},
        ],
    )  # fmt: skip
    pod["metadata"]["labels"] = {"app": "files"}
    agents.apply(namespace, config, secret, pod)
    ready = eventually(lambda: agents.ready(namespace, "files"))
    status, node_name = ready["status"], ready["spec"]["nodeName"]
    node = agents.get("default", "node", node_name)
    assert ipaddress.ip_address(status["podIP"]) in ipaddress.ip_network(node["spec"]["podCIDR"])
    assert status["hostIP"] == node["status"]["addresses"][0]["address"]
    env = json.loads(http_when_up(f"http://{status['podIP']}:8080/env"))
    assert env["POD_IP"] == status["podIP"]
    assert (env["POD_NAME"], env["POD_NAMESPACE"], env["NODE_NAME"]) == (
        "files", namespace, node_name,
    )  # fmt: skip
    assert env["GREETING"] == "hello"
    assert env["COMBINED"] == "files-x"
    assert env["KUBERNETES_SERVICE_HOST"] == agents.cluster.config.host_ip
    assert env["KUBERNETES_SERVICE_PORT"] == str(agents.cluster.config.apiserver_port)
    assert env["HOSTNAME"] == "files"
    check = (
        "import os, socket, ssl, urllib.request as u;"
        "print(open('/etc/cfg/greeting').read(), open('/etc/sec/password').read(),"
        " 'app=' in open('/etc/info/labels').read(), socket.gethostname(), os.getpid());"
        f"t=open('{SA_DIR}/token').read();"
        f"c=ssl.create_default_context(cafile='{SA_DIR}/ca.crt');"
        "h=os.environ.get('API', '');"
        "r=u.Request(h + '/api/v1/namespaces/' + open("
        f"'{SA_DIR}/namespace').read() + '/pods', headers={{'Authorization': 'Bearer ' + t}});"
        "\ntry:\n u.urlopen(r, context=c)\nexcept Exception as e:\n print(getattr(e, 'code', e))"
    )
    api = f"https://{agents.cluster.config.host_ip}:{agents.cluster.config.apiserver_port}"
    out = exec_in(agents.cluster, ready, "env", f"API={api}", PYTHON, "-c", check)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    # Files from the volumes, the pod's hostname, its own PID namespace, and a
    # token the API server accepts (RBAC forbids the default service account: 403).
    assert lines[:4] == ["hello", "s3cret", "True", "files"]
    assert lines[5] == "403"


def test_kubectl_logs_shows_the_container_output(agents: Agents, namespace: str) -> None:
    hook = {"postStart": {"exec": {"command": ["sh", "-c", "echo started > /tmp/hooked"]}}}
    agents.apply(namespace, pod_manifest("logs", web_container(lifecycle=hook)))
    pod = eventually(lambda: agents.ready(namespace, "logs"))
    out = eventually(lambda: agents.cluster.kubectl("logs", "-n", namespace, "logs").stdout)
    assert "serving on 8080 as logs" in out
    hooked = eventually(lambda: exec_in(agents.cluster, pod, "cat", "/tmp/hooked").stdout)
    assert hooked.strip() == "started"


def test_failing_liveness_probe_restarts_the_container(agents: Agents, namespace: str) -> None:
    live = {"exec": {"command": ["test", "-e", "/tmp/never"]}, "periodSeconds": 1,
            "failureThreshold": 2}  # fmt: skip
    agents.apply(namespace, pod_manifest("sick", web_container(livenessProbe=live)))

    def restarted() -> object:
        statuses = agents.pod(namespace, "sick").get("status", {}).get("containerStatuses", [])
        return statuses and statuses[0]["restartCount"] >= 2 and statuses[0]

    status = eventually(restarted, timeout=90)
    assert status["lastState"]["terminated"]["finishedAt"]
    reasons = {e["reason"] for e in agents.events(namespace, "sick")}
    assert {"Unhealthy", "Killing"} <= reasons


def exits_allowed(elapsed: float) -> int:
    """Most exits a crash-looping container can have had after `elapsed` seconds
    with the kubelet's back-off: restarted at once after the first, then after
    10, 20, 40 ... s. (restartCount counts the restarts made, one less than
    the exits, as the kubelet's does.)"""
    count, waited, delay = 2, 0.0, 10.0
    while waited + delay <= elapsed:
        count, waited, delay = count + 1, waited + delay, delay * 2
    return count


def test_bad_input_is_explained_and_other_pods_keep_running(agents: Agents, namespace: str) -> None:
    # Everything on one node: its agent must keep serving the good pod.
    on_node = {"nodeSelector": {"kubernetes.io/hostname": "local-node-1"}}
    started = time.monotonic()
    agents.apply(
        namespace,
        pod_manifest("healthy", **on_node),
        pod_manifest("noimage", web_container(image="navigator-test/missing:1"), **on_node),
        pod_manifest("crash", web_container(command=["sh", "-c", "echo bye; exit 3"]), **on_node),
        pod_manifest(
            "closed",
            web_container(readinessProbe={"tcpSocket": {"port": 9999}, "periodSeconds": 1}),
            **on_node,
        ),
    )
    healthy = eventually(lambda: agents.ready(namespace, "healthy"))

    def waiting(name: str, *reasons: str) -> object:
        statuses = agents.pod(namespace, name).get("status", {}).get("containerStatuses", [])
        state = statuses[0]["state"] if statuses else {}
        return state.get("waiting", {}).get("reason") in reasons and statuses[0]

    noimage = eventually(lambda: waiting("noimage", "ErrImagePull", "ImagePullBackOff"))
    assert "navigator-test/missing:1" in noimage["state"]["waiting"]["message"]
    crash = eventually(lambda: waiting("crash", "CrashLoopBackOff"), timeout=90)
    assert crash["lastState"]["terminated"]["exitCode"] == 3
    assert crash["lastState"]["terminated"]["reason"] == "Error"
    assert crash["restartCount"] >= 1
    backoff = re.search(
        r"back-off (\d+)s restarting failed container=web", crash["state"]["waiting"]["message"]
    )
    assert backoff, crash["state"]["waiting"]
    assert int(backoff.group(1)) >= 10

    def unhealthy() -> object:
        events = agents.events(namespace, "closed")
        return [e for e in events if e["reason"] == "Unhealthy"]

    message = eventually(unhealthy)[0]["message"]
    # Repeats are counted on one event, as the kubelet's correlator does.
    eventually(lambda: len(unhealthy()) == 1 and unhealthy()[0].get("count", 1) > 1)
    assert "Readiness probe failed" in message
    assert "connection refused" in message
    closed = agents.pod(namespace, "closed")
    assert closed["status"]["phase"] == "Running"
    ready = next(c for c in closed["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ContainersNotReady")
    assert ready["message"] == "containers with unready status: [web]"
    for pod, reasons in (("noimage", {"Failed", "BackOff"}), ("crash", {"BackOff"})):
        eventually(lambda p=pod, r=reasons: r <= {e["reason"] for e in agents.events(namespace, p)})
    failed = [e["message"] for e in agents.events(namespace, "noimage") if e["reason"] == "Failed"]
    assert any("Failed to pull image" in m for m in failed), failed

    # The crash loop is slowed down by the back-off (without it: dozens of restarts).
    restarts = agents.pod(namespace, "crash")["status"]["containerStatuses"][0]["restartCount"]
    assert restarts <= exits_allowed(time.monotonic() - started), restarts
    # The agent went on serving the good pod on the same node all along.
    now = agents.ready(namespace, "healthy")
    assert now
    assert now["status"]["containerStatuses"][0]["restartCount"] == 0
    assert now["metadata"]["uid"] == healthy["metadata"]["uid"]
    assert http(f"http://{now['status']['podIP']}:8080/") == "healthy"


def test_init_containers_run_in_order_and_security_context_applies(
    agents: Agents, namespace: str
) -> None:
    def step(name: str, word: str) -> dict[str, object]:
        return web_container(
            name=name,
            command=["sh", "-c", f"echo {word} >> /work/order"],
            volumeMounts=[{"name": "work", "mountPath": "/work"}],
        )

    app = web_container(
        command=["sh", "-c", "id -u; id -g; id -G; cat /work/order; exec sleep 3600"],
        volumeMounts=[{"name": "work", "mountPath": "/work"}],
    )
    pod = pod_manifest(
        "init",
        app,
        initContainers=[step("first", "one"), step("second", "two")],
        securityContext={"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000},
        volumes=[{"name": "work", "emptyDir": {}}],
    )
    agents.apply(namespace, pod)
    ready = eventually(lambda: agents.ready(namespace, "init"))
    inits = ready["status"]["initContainerStatuses"]
    assert [s["name"] for s in inits] == ["first", "second"]
    assert all(s["state"]["terminated"]["reason"] == "Completed" for s in inits)
    logs = eventually(lambda: agents.cluster.kubectl("logs", "-n", namespace, "init").stdout)
    uid, gid, groups, *order = logs.split("\n")
    assert (uid, gid) == ("1000", "3000")
    assert "2000" in groups.split()
    assert order[:2] == ["one", "two"]


def test_memory_limit_is_enforced_and_reported_as_oom_killed(
    agents: Agents, namespace: str
) -> None:
    hog = web_container(
        command=[PYTHON, "-c", "x = bytearray(256 * 1024 * 1024); print(len(x))"],
        resources={"limits": {"memory": "64Mi", "cpu": "500m"}},
    )
    agents.apply(namespace, pod_manifest("hog", hog, restartPolicy="Never"))

    def terminated() -> object:
        statuses = agents.pod(namespace, "hog").get("status", {}).get("containerStatuses", [])
        return statuses and statuses[0]["state"].get("terminated")

    state = eventually(terminated)
    assert state["reason"] == "OOMKilled"
    assert state["exitCode"] == 137
    assert agents.pod(namespace, "hog")["status"]["phase"] == "Failed"


def test_restart_count_and_logs_follow_the_kubelet(agents: Agents, namespace: str) -> None:
    """restartCount is the number of restarts made (runs - 1), also while the
    container waits in CrashLoopBackOff; `kubectl logs` shows the last run and
    `--previous` the one before."""
    script = (
        "n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; echo run $n; exit 3"
    )
    container = web_container(
        command=["sh", "-c", script], volumeMounts=[{"name": "data", "mountPath": "/data"}]
    )
    agents.apply(
        namespace, pod_manifest("counted", container, volumes=[{"name": "data", "emptyDir": {}}])
    )

    def backing_off() -> object:
        statuses = agents.pod(namespace, "counted").get("status", {}).get("containerStatuses", [])
        waiting = statuses[0]["state"].get("waiting", {}) if statuses else {}
        return waiting.get("reason") == "CrashLoopBackOff" and statuses[0]

    status = eventually(backing_off, timeout=90)
    kubectl = agents.cluster.kubectl
    runs = int(kubectl("logs", "-n", namespace, "counted").stdout.split()[-1])
    assert status["restartCount"] == runs - 1
    previous = kubectl("logs", "-n", namespace, "counted", "--previous").stdout
    assert previous.strip() == f"run {runs - 1}"
