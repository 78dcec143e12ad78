"""The operator installed, upgraded and uninstalled with Helm, and kubectl
against a real Cassandra pod, on the local cluster (issue 18).

In file order, on one CassandraCluster of one member: `helm install` of
deploy/helm/navigator (the operator in the cluster, image navigator:<version>,
with deploy/local/values.yaml) → the cluster comes up → `kubectl exec --
nodetool status` lists every member UN → `kubectl exec -i` gives a shell, and
cqlsh in the member logs in → `kubectl port-forward` to 9042 lets a CQL
client on the host log in → `kubectl cp` copies a file out → `helm upgrade`
with another log level rolls the operator and restarts no database pod (pod
UIDs, restart counts, the StatefulSets' generation and revisions unchanged)
→ `helm uninstall` keeps the CRDs, the CassandraCluster and its running pod.

The release watches only the test's namespace (`watchNamespaces`), so no
other suite's cluster (or a demo's) is its business, and is named after the
run so that it meets no other install's cluster-wide objects. Run with ``-s``
to see the figures.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from navigator.api import admission
from navigator.cassandra import pilot_image
from navigator.checker import ConnectionSettings
from navigator.checker.connection import open_cluster
from navigator.local import cluster, helm
from navigator.local.agent.fleet import NodeSet
from navigator.testing.cassandra import parse_status
from navigator.testing.kubectl import port_forward
from navigator.testing.members import eventually
from navigator.testing.prom import scrape, total
from navigator.testing.pytest_plugin import LocalCluster

from ..operator.conftest import NODES, Kube, is_settled, manifest, pool

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[3]
LOCAL_VALUES = REPO / "deploy" / "local" / "values.yaml"
NAME = "helm"
MEMBER = f"{NAME}-rack1-0"
CONTAINER = "cassandra"
OPERATOR_LABEL = "app.kubernetes.io/name=navigator-operator"
LEASE = "navigator-operator"
JOIN = 420.0  # seconds a member may take to start and settle on two shared cores
CQL_PORT = 9042
FIGURES: dict[str, float] = {}


@dataclass
class Release:
    """One Helm release of the chart in its own namespace, and the test's
    namespace it watches (`kube`)."""

    kube: Kube
    name: str
    namespace: str
    admission_policy: bool

    def helm(self, *args: str) -> str:
        return helm.run_helm(
            *args, "--namespace", self.namespace, "--kubeconfig", str(self.kube.cluster.kubeconfig)
        )

    def deploy(self, verb: str, *flags: str) -> float:
        """`helm install|upgrade` of the chart, waiting until it is ready; seconds taken."""
        started = time.monotonic()
        self.helm(verb, self.name, str(helm.CHART), *flags, "--wait", "--timeout", "5m")
        return time.monotonic() - started

    def kubectl(self, *args: str, check: bool = True) -> str:
        return self.kube.cluster.kubectl("-n", self.namespace, *args, check=check).stdout

    def operator_pods(self) -> list[dict[str, Any]]:
        """The operator's pods that are not being deleted."""
        got = json.loads(self.kubectl("get", "pods", "-l", OPERATOR_LABEL, "-o", "json"))
        return [p for p in got["items"] if not p["metadata"].get("deletionTimestamp")]

    def leader(self) -> str:
        got = self.kubectl("get", "lease", LEASE, "-o", "json", check=False)
        return str(json.loads(got)["spec"].get("holderIdentity") or "") if got else ""


def policy_exists(local: LocalCluster) -> bool:
    """The pilots' admission policy is in the cluster already (one per cluster)."""
    [policy, _] = admission.manifests()
    name = policy["metadata"]["name"]
    return local.kubectl("get", "validatingadmissionpolicy", name, check=False).returncode == 0


@pytest.fixture(scope="module")
def release(local_cluster: LocalCluster) -> Iterator[Release]:
    pilot_image.ensure()
    pilot_image.build_operator_image()
    cluster.ensure_nodes(local_cluster.config, NodeSet(count=NODES), bins=local_cluster.binaries)
    suffix = secrets.token_hex(3)
    kube = Kube(local_cluster, f"helm-{suffix}")
    local_cluster.kubectl("create", "namespace", kube.namespace)
    # Another install's (or an earlier suite's deploy/crds) policy stays theirs.
    rel = Release(kube, f"nav-{suffix}", f"nav-{suffix}-system", not policy_exists(local_cluster))
    try:
        yield rel
    finally:
        for pod in rel.operator_pods():
            name = pod["metadata"]["name"]
            print(f"--- {name}\n{rel.kubectl('logs', name, '--tail=30', check=False)}")
        if json.loads(rel.helm("list", "--output", "json")):  # not uninstalled by the test
            rel.helm("uninstall", rel.name, "--wait")
        # No operator is left to take its pending-intents finalizer off a
        # Pilot: the namespace would never go.
        for pilot in (kube.get("pilots") or {}).get("items", []):
            kube.kubectl(
                "patch", "pilot", pilot["metadata"]["name"], "--type=merge",
                "-p", '{"metadata":{"finalizers":null}}', check=False,
            )  # fmt: skip
        local_cluster.kubectl(
            "delete", "cassandraclusters,pods", "--all", "-n", kube.namespace,
            "--grace-period=1", "--wait=false", check=False,
        )  # fmt: skip
        for namespace in (kube.namespace, rel.namespace):
            local_cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        cluster.remove_nodes(local_cluster.config, bins=local_cluster.binaries)
        print(f"\n[helm] figures (s): {json.dumps({k: round(v, 1) for k, v in FIGURES.items()})}")


def test_helm_install_runs_the_operator(release: Release) -> None:
    rel = release
    FIGURES["helm install"] = rel.deploy(
        "install",
        "--create-namespace",
        "--values",
        str(LOCAL_VALUES),
        f"--set=watchNamespaces={{{rel.kube.namespace}}}",
        f"--set=pilotAdmissionPolicy={str(rel.admission_policy).lower()}",
    )
    [listed] = json.loads(rel.helm("list", "--output", "json"))
    assert (listed["name"], listed["status"]) == (rel.name, "deployed")
    pods = rel.operator_pods()
    assert len(pods) == 2  # the chart's default: a leader and a standby
    for pod in pods:
        assert pod["spec"]["containers"][0]["image"].startswith("navigator:")
    eventually(lambda: rel.leader() in {p["metadata"]["name"] for p in pods}, what="a leader")
    # The chart's crds/ (or an earlier install's) serve CassandraClusters.
    eventually(
        lambda: (
            rel.kube.cluster.kubectl(
                "get", "cassandraclusters", "-n", rel.kube.namespace, check=False
            ).returncode
            == 0
        ),
        what="CassandraClusters to be served",
    )


def test_a_cluster_comes_up_under_the_helm_installed_operator(release: Release) -> None:
    kube = release.kube
    started = time.monotonic()
    kube.apply(manifest(NAME, [pool("rack1", 1)]))
    eventually(lambda: is_settled(kube.cassandra(NAME), 1), timeout=JOIN, interval=2,
               what="the cluster to be Ready")  # fmt: skip
    FIGURES["1 member Ready"] = time.monotonic() - started


def exec_in_member(kube: Kube, *argv: str, stdin: str | None = None) -> str:
    stdin_flag = ["-i"] if stdin is not None else []
    return kube.kubectl("exec", *stdin_flag, MEMBER, "-c", CONTAINER, "--", *argv, input=stdin)


def test_kubectl_exec_nodetool_lists_every_member_up_normal(release: Release) -> None:
    kube = release.kube
    started = time.monotonic()
    out = exec_in_member(kube, "nodetool", "status")
    FIGURES["kubectl exec nodetool status"] = time.monotonic() - started
    assert parse_status(out) == dict.fromkeys(kube.pod_ips(NAME), "UN"), out


def test_kubectl_exec_with_stdin_is_a_shell(release: Release) -> None:
    kube = release.kube
    out = exec_in_member(kube, "sh", stdin="echo hello; id -u; echo $CASSANDRA_HOME\n")
    pod = kube.get("pod", MEMBER)
    uid = pod["spec"]["securityContext"]["runAsUser"]
    assert out.splitlines() == ["hello", str(uid), "/opt/cassandra"]


def test_cqlsh_in_the_member_logs_in(release: Release) -> None:
    """The image has cqlsh too; the password goes in on stdin, not in argv."""
    kube = release.kube
    login = kube.credentials(NAME)
    assert login is not None
    script = 'read -r p; exec cqlsh -u "$0" -p "$p" -e "$1"'  # to 127.0.0.1:9042
    query = "SELECT cluster_name FROM system.local"
    out = exec_in_member(kube, "sh", "-c", script, login[0], query, stdin=f"{login[1]}\n")
    assert NAME in out.split(), out


def test_kubectl_port_forward_serves_cql_to_the_host(release: Release) -> None:
    kube = release.kube
    login = kube.credentials(NAME)
    assert login is not None  # auth is on by default
    argv = kube.cluster.kubectl_argv(
        "-n", kube.namespace, "port-forward", f"pod/{MEMBER}", f":{CQL_PORT}"
    )
    with port_forward(argv) as (port, _):
        settings = ConnectionSettings(port=port, username=login[0], password=login[1])
        client = open_cluster(["127.0.0.1"], settings)
        try:
            session = client.connect()
            row = session.execute("SELECT cluster_name, release_version FROM system.local").one()
            hosts = {h.endpoint.address for h in client.metadata.all_hosts()}
        finally:
            client.shutdown()
    assert (row.cluster_name, row.release_version) == (NAME, "5.0.6")
    assert hosts == {"127.0.0.1"}  # through the forward, not the pod IP


def test_kubectl_cp_copies_a_file_out_of_the_member(release: Release, tmp_path: Path) -> None:
    kube = release.kube
    copied = tmp_path / "cassandra.yaml"
    source = f"{kube.namespace}/{MEMBER}:/etc/cassandra/cassandra.yaml"
    kube.cluster.kubectl("cp", "-c", CONTAINER, source, str(copied))
    rendered = yaml.safe_load(copied.read_text())
    assert rendered["cluster_name"] == NAME
    assert rendered["listen_address"] == kube.get("pod", MEMBER)["status"]["podIP"]


def database(kube: Kube) -> dict[str, Any]:
    """What an operator upgrade must not change: every pod's UID and its
    containers' restart counts, every StatefulSet's UID, generation and revisions."""
    pods = kube.get("pods", selector=f"navigator.dev/cluster={NAME}")["items"]
    sets = kube.get("statefulsets")["items"]
    return {
        "pods": {
            p["metadata"]["name"]: (
                p["metadata"]["uid"],
                {c["name"]: c["restartCount"] for c in p["status"]["containerStatuses"]},
            )
            for p in pods
        },
        "statefulsets": {
            s["metadata"]["name"]: (
                s["metadata"]["uid"],
                s["metadata"]["generation"],
                s["status"].get("currentRevision"),
                s["status"].get("updateRevision"),
            )
            for s in sets
        },
    }


def test_helm_upgrade_rolls_the_operator_and_restarts_no_database_pod(release: Release) -> None:
    rel, kube = release, release.kube
    before = database(kube)
    assert before["pods"]
    assert before["statefulsets"]
    old = {p["metadata"]["name"] for p in rel.operator_pods()}
    restarts = len(kube.events("RestartingMember"))
    FIGURES["helm upgrade"] = rel.deploy("upgrade", "--reuse-values", "--set=logLevel=debug")
    assert json.loads(rel.helm("history", rel.name, "--output", "json"))[-1]["revision"] == 2

    def rolled() -> list[dict[str, Any]]:
        pods = rel.operator_pods()
        names = {p["metadata"]["name"] for p in pods}
        return pods if len(pods) == 2 and not names & old else []

    new = eventually(rolled, timeout=180, what="the operator's pods replaced")
    for pod in new:
        assert "--verbose" in pod["spec"]["containers"][0]["args"]
    started = time.monotonic()
    names = {p["metadata"]["name"]: p for p in new}
    leader = eventually(lambda: names.get(rel.leader()), timeout=120, what="a new leader")
    FIGURES["new leader after the upgrade"] = time.monotonic() - started

    def passes() -> float:
        try:
            samples = scrape(8080, host=leader["status"]["podIP"])
        except OSError:
            return 0.0
        return total(samples, "navigator_operator_reconciles_total")

    # The new leader has looked at the cluster (and left it alone).
    eventually(passes, timeout=120, interval=2, what="the new leader's first pass")
    time.sleep(10)
    assert is_settled(kube.cassandra(NAME), 1)
    assert database(kube) == before
    assert len(kube.events("RestartingMember")) == restarts


def test_helm_uninstall_keeps_the_crds_and_the_cluster(release: Release) -> None:
    rel, kube = release, release.kube
    before = database(kube)
    started = time.monotonic()
    rel.helm("uninstall", rel.name, "--wait")
    FIGURES["helm uninstall"] = time.monotonic() - started
    assert json.loads(rel.helm("list", "--output", "json")) == []
    eventually(lambda: not rel.operator_pods(), timeout=120, what="the operator's pods gone")
    assert not json.loads(rel.kubectl("get", "deployments", "-o", "json"))["items"]
    for crd in ("cassandraclusters", "pilots"):
        kube.cluster.kubectl("get", "crd", f"{crd}.navigator.dev")
    assert kube.cassandra(NAME)["metadata"].get("deletionTimestamp") is None
    assert kube.get("pilot", MEMBER) is not None
    assert policy_exists(kube.cluster)  # kept, like the CRDs (or another install's)
    time.sleep(5)
    assert database(kube) == before  # the member keeps running, unmanaged
