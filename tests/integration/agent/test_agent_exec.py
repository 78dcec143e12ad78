"""`kubectl exec`, `cp`, `attach` and `port-forward` against the node agent, with the real kubectl.

kubectl speaks WebSocket to the API server, which speaks SPDY/3.1 to the
agent's kubelet endpoint (see `navigator.local.agent.remotecommand` and
`portforward`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_helpers import Agents, eventually, http, pod_manifest, web_container

from navigator.local.agent.testimage import REF

pytestmark = pytest.mark.integration


def running_pod(agents: Agents, namespace: str, *more: dict[str, Any]) -> Any:
    """Pod `web`: the test image's server (and `more` containers), Ready."""
    name = "web"
    container = web_container(env=[{"name": "GREETING", "value": "hello"}])
    pod = pod_manifest(name, container, *more)
    pod["metadata"]["labels"] = {"app": name}
    agents.apply(namespace, pod)
    return eventually(lambda: agents.ready(namespace, name))


def kubectl(agents: Agents, namespace: str, *args: str, **kw: Any) -> Any:
    return agents.cluster.kubectl("-n", namespace, *args, check=False, **kw)


def test_exec_runs_in_the_container_and_passes_the_exit_code(
    agents: Agents, namespace: str
) -> None:
    idle = {
        "name": "idle", "image": REF, "command": ["sleep", "3600"], "workingDir": "/tmp",
        "securityContext": {"runAsUser": 1234},
    }  # fmt: skip
    pod = running_pod(agents, namespace, idle)
    got = kubectl(agents, namespace, "exec", "web", "--", "echo", "hi")
    assert (got.returncode, got.stdout) == (0, "hi\n"), got.stderr
    script = "echo out; echo err >&2; exit 3"
    got = kubectl(agents, namespace, "exec", "web", "--", "sh", "-c", script)
    assert (got.returncode, got.stdout) == (3, "out\n")
    assert "err\n" in got.stderr
    # The container's environment, working directory, user, hostname and network.
    probe = "echo $GREETING; pwd; id -u; hostname; cat /proc/net/fib_trie"
    got = kubectl(agents, namespace, "exec", "web", "-c", "web", "--", "sh", "-c", probe)
    assert got.stdout.splitlines()[:4] == ["hello", "/app", "0", "web"], got.stderr
    assert pod["status"]["podIP"] in got.stdout
    got = kubectl(agents, namespace, "exec", "web", "-c", "idle", "--", "sh", "-c", probe)
    assert got.stdout.splitlines()[:4] == ["", "/tmp", "1234", "web"], got.stderr
    got = kubectl(agents, namespace, "exec", "web", "--", "no-such-command")
    assert got.returncode != 0
    assert "no-such-command" in got.stderr


def test_exec_relays_stdin(agents: Agents, namespace: str) -> None:
    running_pod(agents, namespace)
    got = kubectl(agents, namespace, "exec", "-i", "web", "--", "cat", input="line 1\nline 2\n")
    assert (got.returncode, got.stdout) == (0, "line 1\nline 2\n"), got.stderr
    big = "x" * (3 << 20)
    got = kubectl(agents, namespace, "exec", "-i", "web", "--", "wc", "-c", input=big)
    assert got.stdout.strip() == str(len(big)), got.stderr


@contextlib.contextmanager
def in_terminal(argv: list[str], rows: int, columns: int) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Run `argv` with a pseudo-terminal of the given size as its stdin/stdout/stderr."""
    control, term = os.openpty()
    fcntl.ioctl(term, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    proc = subprocess.Popen(argv, stdin=term, stdout=term, stderr=term, start_new_session=True)
    os.close(term)
    try:
        yield proc, control
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
        os.close(control)


def read_all(fd: int, within: float) -> bytes:
    out, deadline = b"", time.monotonic() + within
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            out += data
    return out


def test_exec_with_a_terminal(agents: Agents, namespace: str) -> None:
    running_pod(agents, namespace)
    cluster = agents.cluster
    argv = [str(cluster.binaries.kubectl), f"--kubeconfig={cluster.kubeconfig}", "-n", namespace,
            "exec", "-it", "web", "--", "sh", "-c", "tty; stty size; test -t 0 && echo TTY; exit 4"]  # fmt: skip
    with in_terminal(argv, 33, 111) as (proc, control):
        out = read_all(control, 30).decode(errors="replace")
        assert proc.wait(30) == 4, out
    assert re.search(r"/dev/pts/\d+", out), out
    assert "33 111" in out
    assert "TTY" in out


def test_cp_copies_files_out_and_in(agents: Agents, namespace: str, tmp_path: Path) -> None:
    running_pod(agents, namespace)
    out = tmp_path / "hostname"
    got = kubectl(agents, namespace, "cp", f"{namespace}/web:/etc/hostname", str(out))
    assert got.returncode == 0, got.stderr
    assert out.read_text() == "web\n"
    payload = tmp_path / "payload"
    payload.write_bytes(os.urandom(1 << 20))
    got = kubectl(agents, namespace, "cp", str(payload), f"{namespace}/web:/tmp/payload")
    assert got.returncode == 0, got.stderr
    back = tmp_path / "back"
    got = kubectl(agents, namespace, "cp", f"{namespace}/web:/tmp/payload", str(back))
    assert back.read_bytes() == payload.read_bytes(), got.stderr


@contextlib.contextmanager
def port_forward(agents: Agents, namespace: str, *args: str) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """`kubectl port-forward ... :REMOTE`: the local port it chose, while it runs."""
    cluster = agents.cluster
    argv = [str(cluster.binaries.kubectl), f"--kubeconfig={cluster.kubeconfig}", "-n", namespace,
            "port-forward", *args]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line)
        assert found, f"{line}{proc.stderr.read() if proc.poll() is not None else ''}"
        yield int(found.group(1)), proc
    finally:
        proc.terminate()
        proc.wait(10)


def test_port_forward_to_a_pod_and_a_service(agents: Agents, namespace: str) -> None:
    running_pod(agents, namespace)
    with port_forward(agents, namespace, "pod/web", ":8080") as (port, _):
        assert http(f"http://127.0.0.1:{port}/") == "web"
        assert http(f"http://127.0.0.1:{port}/healthz") == "ok"  # a second connection
        body = "y" * (2 << 20)
        got = http(f"http://127.0.0.1:{port}/data", method="PUT", data=body.encode(), timeout=30)
        assert got in ("stored", "")
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-svc"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }  # fmt: skip
    agents.apply(namespace, service)
    with port_forward(agents, namespace, "svc/web-svc", ":80") as (port, _):
        assert http(f"http://127.0.0.1:{port}/") == "web"


def test_attach_streams_the_containers_output(agents: Agents, namespace: str) -> None:
    pod = running_pod(agents, namespace)
    cluster = agents.cluster
    argv = [str(cluster.binaries.kubectl), f"--kubeconfig={cluster.kubeconfig}", "-n", namespace,
            "attach", "web"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2)
        http(f"http://{pod['status']['podIP']}:8080/attached")
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "GET /attached" in line
    finally:
        proc.terminate()
        proc.wait(10)


def test_exec_refused_for_a_container_that_does_not_run(agents: Agents, namespace: str) -> None:
    running_pod(agents, namespace)
    got = kubectl(agents, namespace, "exec", "web", "-c", "nope", "--", "true")
    assert got.returncode != 0
    assert "nope" in got.stderr
