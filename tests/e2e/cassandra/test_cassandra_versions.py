"""Every Cassandra version `make cassandra` builds runs from its image under the pilot.

For each pinned version (``CASSANDRA_VERSION`` and ``CASSANDRA_UPGRADE_VERSION``)
one node runs as a container of ``navigator-cassandra:<version>``, assembled
the way the node agent does it (the agent's shim: image layer over the host
root, fresh mount/UTS/IPC/PID namespaces) in a network namespace of its own.
The container's command is the pilot's start path without Kubernetes: the
pilot's `render` (cassandra.yaml keys, ``jvm17-server.options``, Jolokia agent)
and the adapter's `prepare`, then the rendered command. The test then asks the
node, from the host over CQL and from inside the container through the
pilot's own Jolokia observation, which release it runs.

One node at a time (2 shared cores); netns and addresses are per
``$NAVIGATOR_TEST_SLOT`` so concurrent sessions do not collide.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cassandra.cluster import Cluster

from navigator.cassandra import pilot_image
from navigator.cassandra.distribution import DistributionMissing
from navigator.local.agent.runtime import SHIM, security_for
from navigator.local.images import Image, load_image
from navigator.operator.cassandra.builders.statefulset import (
    container_security_context,
    pod_security_context,
)
from navigator.testing.cassandra import port_open
from navigator.testing.pytest_plugin import session_slot
from navigator.versions import pinned

# The security contexts the operator gives a database pod.
POD = {
    "metadata": {"name": "versions-0", "namespace": "e2e", "uid": "versions"},
    "spec": {
        "securityContext": pod_security_context(),
        "containers": [{"name": "cassandra", "securityContext": container_security_context()}],
    },
}

pytestmark = pytest.mark.e2e

HEAP = "512M"
CQL_PORT = 9042
START_TIMEOUT = 300.0
IMAGE_PYTHON = "/opt/navigator/bin/python"

# The pilot's start path (navigator.pilot.cli) minus the API server: no seeds
# to resolve (a lone node seeds itself), no user overrides.
LAUNCH = """
import asyncio, os
from navigator.cassandra.profile import profile_from_env
from navigator.pilot.cassandra.adapter import CassandraAdapter
from navigator.pilot.cassandra.render import Layout, Overrides, render
from navigator.pilot.core.identity import Identity

layout = Layout()
jars = sorted((layout.cassandra_home / "lib").glob("jamm-*.jar"))
launch = render(
    # A lone node that founds its own cluster: its own seed.
    Identity.from_env(), [os.environ["POD_IP"]], Overrides(heap=os.environ["NAVIGATOR_HEAP"]),
    layout,
    jvm_options_text=(layout.conf_dir / "jvm17-server.options").read_text(),
    jamm_agent=jars[-1] if jars else None,
    profile=profile_from_env(os.environ),
)
asyncio.run(CassandraAdapter(launch, jolokia_url="http://127.0.0.1:1/").prepare())
os.execvp(launch.argv[0], list(launch.argv))
"""

# What the pilot reports into Pilot.status, read inside the container.
OBSERVE = """
import asyncio, json
from navigator.pilot.cassandra.adapter import CassandraAdapter, Launch, facts_to_status
from navigator.pilot.cassandra.render import JOLOKIA_PORT

adapter = CassandraAdapter(
    Launch(files={}, argv=(), cql_host=""),
    jolokia_url=f"http://127.0.0.1:{JOLOKIA_PORT}/jolokia/",
)
facts = asyncio.run(adapter.observe())
print(json.dumps({"ready": adapter.ready(facts), "status": facts_to_status(facts)}))
"""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


@dataclass
class Node:
    """One container of the image in its own network namespace."""

    image: Image
    workdir: Path
    netns: str
    host_veth: str
    host_address: str
    address: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.workdir / "container.log"

    @property
    def pidfile(self) -> Path:
        return self.workdir / "init.pid"

    def env(self) -> dict[str, str]:
        return {
            **self.image.config.env_dict(),
            "HOSTNAME": "versions-0",
            "HOME": "/root",
            "POD_NAME": "versions-0",
            "POD_NAMESPACE": "default",
            "POD_IP": self.address,
            "NAVIGATOR_CLUSTER": "versions",
            "NAVIGATOR_POOL": "r1",
            "NAVIGATOR_DATACENTER": "dc1",
            "NAVIGATOR_RACK": "r1",
            "NAVIGATOR_HEAP": HEAP,
            "NAVIGATOR_CASSANDRA_PROFILE": "local-test",
        }

    def create_network(self) -> None:
        self.destroy_network()
        _ip("netns", "add", self.netns)
        _ip("-n", self.netns, "link", "set", "lo", "up")
        peer = ("peer", "name", "eth0", "netns", self.netns)
        _ip("link", "add", self.host_veth, "type", "veth", *peer)
        _ip("addr", "add", f"{self.host_address}/30", "dev", self.host_veth)
        _ip("link", "set", self.host_veth, "up")
        _ip("-n", self.netns, "addr", "add", f"{self.address}/30", "dev", "eth0")
        _ip("-n", self.netns, "link", "set", "eth0", "up")

    def destroy_network(self) -> None:
        for pid in _ip("netns", "pids", self.netns, check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        _ip("netns", "delete", self.netns, check=False)
        _ip("link", "delete", self.host_veth, check=False)

    def start(self) -> None:
        """What the node agent does for a container (see local/agent/runtime.py)."""
        scratch = self.workdir / "scratch"
        scratch.mkdir(parents=True)
        spec = {
            "hostname": "versions-0",
            "rootfs": str(self.workdir / "rootfs"),
            "scratch": str(scratch),
            "layer": str(self.image.layer),
            "mounts": [],
            "argv": [IMAGE_PYTHON, "-c", LAUNCH],
            "env": self.env(),
            "cwd": self.image.config.working_dir,
            # The user, groups, capabilities and seccomp filter of a database
            # pod, resolved as the node agent does.
            "security": security_for(POD, POD["spec"]["containers"][0], self.image),
            "pidfile": str(self.pidfile),
        }
        spec_path = self.workdir / "spec.json"
        spec_path.write_text(json.dumps(spec))
        argv = [
            "nsenter", f"--net=/run/netns/{self.netns}", "--",
            "unshare", "--mount", "--uts", "--ipc", "--pid", "--fork", "--kill-child",
            "--propagation", "private", "--",
            sys.executable, "-I", str(SHIM), str(spec_path),
        ]  # fmt: skip
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_for_cql(self, timeout: float) -> float:
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            if not self.running():
                pytest.fail(f"the container exited; its output:\n{self.log_tail()}")
            if port_open(self.address, CQL_PORT):
                return time.monotonic() - began
            time.sleep(1)
        pytest.fail(f"no CQL within {timeout:.0f}s; container output:\n{self.log_tail()}")

    def exec_in(self, *argv: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the running container (as exec probes do)."""
        pid = self.pidfile.read_text().strip()
        return subprocess.run(
            ["nsenter", "-t", pid, "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--", *argv],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)


@contextlib.contextmanager
def one_node(image: Image, workdir: Path) -> Iterator[Node]:
    slot = session_slot()
    node = Node(
        image=image,
        workdir=workdir,
        netns=f"navv{slot}",
        host_veth=f"navv{slot}h",
        host_address=f"10.249.{slot}.1",
        address=f"10.249.{slot}.2",
    )
    try:
        node.create_network()
        node.start()
        yield node
    finally:
        node.stop()
        node.destroy_network()


def pilot_report(node: Node, timeout: float = 120.0) -> dict[str, object]:
    """The pilot's observation once it calls the node ready (the last one if it never does)."""
    deadline = time.monotonic() + timeout
    report: dict[str, object] = {}
    while time.monotonic() < deadline:
        done = node.exec_in(IMAGE_PYTHON, "-c", OBSERVE)
        if done.returncode == 0:
            report = json.loads(done.stdout)
            if report["ready"][0]:  # type: ignore[index]
                return report
        time.sleep(2)
    pytest.fail(f"the pilot never saw the node ready: {report or done.stderr[-2000:]}")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("version", pinned().cassandra_versions)
def test_image_runs_its_version_under_the_pilot_rendering(version: str, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("namespaces need root")
    try:
        ref = pilot_image.ensure(version)
    except DistributionMissing as err:
        pytest.fail(str(err))
    assert ref == f"navigator-cassandra:{version}"
    with one_node(load_image(ref), tmp_path) as node:
        seconds = node.wait_for_cql(START_TIMEOUT)
        print(f"{ref}: CQL after {seconds:.1f}s")
        cluster = Cluster([node.address], protocol_version=5, connect_timeout=20)
        try:
            row = cluster.connect().execute("SELECT release_version FROM system.local").one()
        finally:
            cluster.shutdown()
        assert row.release_version == version
        report = pilot_report(node)
        status = report["status"]
        assert isinstance(status, dict)
        assert status["releaseVersion"] == version
        assert status["clusterName"] == "versions"
        assert status["nativeTransportRunning"] is True
        # The hints a node holds are readable (the rollout's HintsDelivered gate).
        assert status["hintsPending"] == {}
