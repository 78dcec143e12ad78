"""A 3-member Cassandra cluster run by real pilots against the real API server.

Each member is a pod-like sandbox (network namespace on the local cluster's
pod network, PID namespace with the pilot as PID 1) authenticated with a
service-account token bound to the pilot's least-privilege Role.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from navigator.cassandra.distribution import Distribution, DistributionMissing
from navigator.local.paths import cache_root
from navigator.pilot.rbac import pilot_role
from navigator.testing.members import (
    PILOT_PROBE_PORT,
    Member,
    Sandbox,
    eventually,
    navigator_command,
    pilot_kubeconfig,
    probe,
    write_kubeconfig,
)
from navigator.testing.pytest_plugin import LocalCluster, install_crds, session_slot
from navigator.versions import pinned

from .helpers import PilotCluster

REPO = Path(__file__).resolve().parents[3]
CLUSTER = "pilots"
POOL = "r1"
DC = "dc1"
SIZE = 3


def _apply(local: LocalCluster, namespace: str, objs: list[dict[str, Any]]) -> None:
    text = yaml.safe_dump_all(objs)
    local.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=text)


def _member_objects(name: str, namespace: str, ip: str) -> list[dict[str, Any]]:
    labels = {"navigator.dev/cluster": CLUSTER, "navigator.dev/pool": POOL}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "serviceAccountName": "pilot",
            "containers": [{"name": "cassandra", "image": "sandbox"}],
        },
    }
    pilot = {
        "apiVersion": "navigator.dev/v1alpha1",
        "kind": "Pilot",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"cluster": CLUSTER, "intents": []},
    }
    return [pod, pilot]


@pytest.fixture(scope="module")
def pilots(
    local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PilotCluster]:
    if os.geteuid() != 0:
        pytest.skip("namespaces need root")
    try:
        dist = Distribution.from_cache()
    except DistributionMissing as err:
        pytest.fail(str(err))
    jolokia = cache_root() / "jolokia" / pinned().jolokia / "jolokia-agent.jar"
    assert jolokia.exists(), "run 'make cassandra' (fetches the Jolokia agent)"
    cfg = local_cluster.config
    slot = session_slot()
    ns = f"pilot-e2e-{slot}"
    local_cluster.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=true")
    local_cluster.kubectl("create", "namespace", ns)
    install_crds(local_cluster)
    role = pilot_role("navigator-pilot", ns)
    _apply(
        local_cluster,
        ns,
        [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "pilot"}},
            role,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "navigator-pilot"},
                "subjects": [{"kind": "ServiceAccount", "name": "pilot", "namespace": ns}],
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "navigator-pilot",
                },
            },
            {
                "apiVersion": "navigator.dev/v1alpha1",
                "kind": "CassandraCluster",
                "metadata": {"name": CLUSTER},
                "spec": {
                    "version": pinned().cassandra,
                    "nodePools": [{"name": POOL, "replicas": SIZE, "datacenter": DC}],
                    # No operator here to set up the superuser: the pilot
                    # tier connects without credentials (auth: docs/security.md).
                    "auth": {"enabled": False},
                },
            },
        ],
    )
    token = local_cluster.kubectl(
        "create", "token", "pilot", "-n", ns, "--duration=4h"
    ).stdout.strip()
    workroot = tmp_path_factory.mktemp("pilots")
    kubeconfig = workroot / "pilot.kubeconfig"
    write_kubeconfig(kubeconfig, pilot_kubeconfig(cfg, token))
    base_octets = cfg.host_ip.split(".")[:2]
    members: list[Member] = []
    for i in range(SIZE):
        name = f"{CLUSTER}-{POOL}-{i}"
        ip = ".".join([*base_octets, "250", str(10 + i)])
        workdir = workroot / name
        conf = workdir / "conf"
        conf.mkdir(parents=True)
        for f in ("jvm17-server.options", "logback.xml"):
            shutil.copy(dist.conf / f, conf / f)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workdir),
            "KUBECONFIG": str(kubeconfig),
            "POD_NAME": name,
            "POD_NAMESPACE": ns,
            "POD_IP": ip,
            "NAVIGATOR_CLUSTER": CLUSTER,
            "NAVIGATOR_POOL": POOL,
            "NAVIGATOR_DATACENTER": DC,
            "NAVIGATOR_RACK": POOL,
            # What the suite's operator would put in the pod: a test machine.
            "NAVIGATOR_CASSANDRA_PROFILE": "local-test",
        }
        argv = [
            navigator_command(), "pilot", "cassandra",
            f"--cassandra-home={dist.home}", f"--conf-dir={conf}",
            f"--data-dir={workdir / 'data'}", f"--log-dir={workdir / 'logs'}",
            f"--jolokia-agent={jolokia}", f"--probe-port={PILOT_PROBE_PORT}", "--heap=512M",
        ]  # fmt: skip
        sandbox = Sandbox(netns=f"navp{slot}-{i}", address=ip, prefix=16)
        members.append(Member(name, sandbox, workdir, env, argv))
    cluster = PilotCluster(local_cluster, ns, members)
    joined: list[dict[str, str]] = []
    try:
        for i, m in enumerate(members):
            m.sandbox.create(cfg, f"navp{slot}p{i}")
            _apply(local_cluster, ns, _member_objects(m.name, ns, m.address))
            # What a kubelet would report: the pod's IP.
            local_cluster.kubectl(
                "patch", "pod", m.name, "-n", ns, "--subresource=status", "--type=merge",
                "-p", json.dumps({"status": {"podIP": m.address, "podIPs": [{"ip": m.address}]}}),
            )  # fmt: skip
            m.start()
            # One bootstrap at a time: wait until this member is ready.
            eventually(lambda m=m: probe(m.address, "/healthz/ready") == 200, timeout=240)
            # What the operator would record: this member joined (the next
            # pilots pick their seeds among joined members, see start.py).
            joined.append(
                {"name": m.name, "hostID": _host_id(local_cluster, ns, m.name), "state": "UN"}
            )
            local_cluster.kubectl(
                "patch", "cassandracluster", CLUSTER, "-n", ns, "--subresource=status",
                "--type=merge", "-p", json.dumps({"status": {"members": joined}}),
            )  # fmt: skip
        yield cluster
    finally:
        for i, m in enumerate(members):
            m.kill()
            m.sandbox.destroy(f"navp{slot}p{i}", cfg)
        local_cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _host_id(local_cluster: Any, ns: str, member: str) -> str:
    pilot = json.loads(local_cluster.kubectl("get", "pilot", member, "-n", ns, "-o", "json").stdout)
    return str(((pilot.get("status") or {}).get("facts") or {}).get("hostID") or "")
