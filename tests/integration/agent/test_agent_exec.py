"""`kubectl exec`, `cp`, `attach` and `port-forward` against the node agent, with the real kubectl.

kubectl speaks WebSocket to the API server, which speaks SPDY/3.1 to the
agent's kubelet endpoint (see `navigator.local.agent.remotecommand` and
`portforward`).
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client as http_client
import os
import re
import select
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_helpers import Agents, eventually, http, pod_manifest, web_container

from navigator.local.agent.testimage import REF
from navigator.testing.kubectl import port_forward as kubectl_port_forward

pytestmark = pytest.mark.integration


def running_pod(agents: Agents, namespace: str, *more: dict[str, Any]) -> Any:
    """Pod `web`: the test image's server (and `more` containers), Ready."""
    name = "web"
    env = [{"name": "GREETING", "value": "hello"}, {"name": "DATA_DIR", "value": "/tmp"}]
    container = web_container(env=env)
    pod = pod_manifest(name, container, *more)
    pod["metadata"]["labels"] = {"app": name}
    agents.apply(namespace, pod)
    return eventually(lambda: agents.ready(namespace, name))


def kubectl(agents: Agents, namespace: str, *args: str, **kw: Any) -> Any:
    return agents.cluster.kubectl("-n", namespace, *args, check=False, **kw)


def kubectl_argv(agents: Agents, namespace: str, *args: str) -> list[str]:
    return agents.cluster.kubectl_argv("-n", namespace, *args)


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
def in_terminal(
    argv: list[str], rows: int, columns: int
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
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
    script = "tty; stty size; test -t 0 && echo TTY; exit 4"
    argv = kubectl_argv(agents, namespace, "exec", "-it", "web", "--", "sh", "-c", script)
    with in_terminal(argv, 33, 111) as (proc, control):
        out = read_all(control, 30).decode(errors="replace")
        assert proc.wait(30) == 4, out
    assert re.search(r"/dev/pts/\d+", out), out
    assert "33 111" in out
    assert "TTY" in out
    # An interactive shell: what is typed reaches it, its answers come back.
    argv = kubectl_argv(agents, namespace, "exec", "-it", "web", "--", "sh")
    with in_terminal(argv, 24, 80) as (proc, control):
        os.write(control, b"echo $((6 * 7))\n")
        os.write(control, b"exit 5\n")
        out = read_all(control, 30).decode(errors="replace")
        assert proc.wait(30) == 5, out
    assert "42" in out


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


def port_forward(
    agents: Agents, namespace: str, *args: str
) -> contextlib.AbstractContextManager[tuple[int, subprocess.Popen[str]]]:
    """`kubectl port-forward ... :REMOTE`: the local port it chose, while it runs."""
    return kubectl_port_forward(kubectl_argv(agents, namespace, "port-forward", *args))


def test_port_forward_to_a_pod_and_a_service(agents: Agents, namespace: str) -> None:
    running_pod(agents, namespace)
    with port_forward(agents, namespace, "pod/web", ":8080") as (port, _):
        assert http(f"http://127.0.0.1:{port}/") == "web"
        assert http(f"http://127.0.0.1:{port}/healthz") == "ok"  # a second connection
        body = os.urandom(1 << 20).hex()  # 2 MiB each way
        got = http(f"http://127.0.0.1:{port}/data", method="PUT", data=body.encode(), timeout=30)
        assert got == "stored"
        assert http(f"http://127.0.0.1:{port}/data", timeout=30) == body
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-svc"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }  # fmt: skip
    agents.apply(namespace, service)
    with port_forward(agents, namespace, "svc/web-svc", ":80") as (port, _):
        assert http(f"http://127.0.0.1:{port}/") == "web"


def test_port_forward_to_a_closed_port_reports_why(agents: Agents, namespace: str) -> None:
    running_pod(agents, namespace)
    with port_forward(agents, namespace, "pod/web", ":9999") as (port, proc):
        with pytest.raises(http_client.RemoteDisconnected):
            http(f"http://127.0.0.1:{port}/")
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "error forwarding port 9999" in err, err
    assert "connection refused" in err.lower(), err


def test_attach_streams_the_containers_output(agents: Agents, namespace: str) -> None:
    pod = running_pod(agents, namespace)
    # Logs come from the same endpoint: still there (the same bytes attach follows).
    logs = eventually(lambda: kubectl(agents, namespace, "logs", "web", "--tail=1").stdout)
    assert logs == "serving on 8080 as web\n"
    argv = kubectl_argv(agents, namespace, "attach", "web")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stopper = threading.Timer(30, proc.kill)
    stopper.start()
    try:
        time.sleep(2)
        http(f"http://{pod['status']['podIP']}:8080/attached")
        assert proc.stdout is not None
        lines = iter(proc.stdout.readline, "")
        assert any("GET /attached" in line for line in lines)
    finally:
        stopper.cancel()
        proc.terminate()
        proc.wait(10)


def test_exec_refused_for_a_container_that_does_not_run(agents: Agents, namespace: str) -> None:
    running_pod(agents, namespace)
    got = kubectl(agents, namespace, "exec", "web", "-c", "nope", "--", "true")
    assert got.returncode != 0
    assert "nope" in got.stderr
