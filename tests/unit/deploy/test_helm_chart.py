"""The chart deploy/helm/navigator, rendered and linted by the pinned helm:
its version is the package's, what `make generate` wrote from it is current,
its Deployment runs non-root with probes, and its values (metrics, the
ServiceMonitor, logLevel, the image) change what they say. The RBAC is
test_helm_rbac.py's."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml
from helmchart import ACCOUNT, Obj, container, env, of_kind, one, render

from navigator import __version__
from navigator.api import admission
from navigator.cassandra.profile import NAMES
from navigator.local import helm

pytestmark = pytest.mark.unit

REPO = Path(__file__).parents[3]
CHART = REPO / "deploy" / "helm" / "navigator"
MONITOR = "metrics.serviceMonitor.enabled=true"


def lint(*sets: str) -> str:
    args = ["lint", "--strict", str(CHART)]
    for value in sets:
        args += ["--set", value]
    return helm.run_helm(*args)


def refusal(*sets: str) -> str:
    with pytest.raises(RuntimeError) as refused:
        helm.template(*sets)
    return str(refused.value)


@pytest.mark.parametrize(
    "sets",
    [(), ("watchNamespaces={a,b}",), (MONITOR,), ("metrics.enabled=false", "logLevel=debug")],
    ids=["defaults", "namespaced", "service-monitor", "no-metrics-debug"],
)
def test_the_chart_lints(sets: tuple[str, ...]) -> None:
    assert "0 chart(s) failed" in lint(*sets)


def test_the_local_clusters_values_lint_and_select_the_local_test_profile() -> None:
    """`make demo` and tests/e2e/deploy/test_helm.py install with deploy/local/values.yaml."""
    values = str(REPO / "deploy" / "local" / "values.yaml")
    assert "0 chart(s) failed" in helm.run_helm("lint", "--strict", str(CHART), "-f", values)
    rendered = yaml.safe_load_all(helm.run_helm("template", helm.RELEASE, str(CHART), "-f", values))
    objects = [o for o in rendered if o]
    assert env(objects)["NAVIGATOR_CASSANDRA_PROFILE"] == "local-test"


def test_one_version_for_package_chart_and_image() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert chart["version"] == chart["appVersion"] == __version__ == project["version"]
    assert container(render())["image"] == f"navigator:{__version__}"
    assert container(render("image.tag=dev", "image.repository=r/nav"))["image"] == "r/nav:dev"


@pytest.mark.parametrize("rendered", helm.DIRECTORIES, ids=lambda r: r.directory)
def test_the_kustomize_directories_are_the_chart_rendered(rendered: helm.Rendered) -> None:
    directory = REPO / rendered.directory
    for name, text in rendered.files().items():
        assert (directory / name).read_text() == text, (
            f"{rendered.directory}/{name} is stale: run `make generate`"
        )
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in directory.glob("*.yaml") if p.name != "kustomization.yaml"
    )
    for copy in helm.NAMESPACE_COPIES:
        assert (REPO / copy).read_text() == (REPO / helm.NAMESPACE).read_text()


def test_the_charts_crds_and_admission_policy_are_generated() -> None:
    crds = {p.name: p.read_text() for p in (CHART / "crds").glob("*.yaml")}
    expected = {
        p.name: p.read_text() for p in (REPO / helm.CRDS).glob("*.yaml") if p.name != admission.FILE
    }
    assert crds == expected, "the chart's crds/ are stale: run `make generate`"
    assert (CHART / helm.ADMISSION).read_text() == helm.admission_template()


def test_the_admission_policy_is_kept_and_can_be_left_out() -> None:
    policies = [o for o in render() if o["apiVersion"].startswith("admissionregistration")]
    assert [o["metadata"]["name"] for o in policies] == [
        o["metadata"]["name"] for o in admission.manifests()
    ]
    assert all(o["metadata"]["annotations"] == helm.KEEP for o in policies)
    left_out = render("pilotAdmissionPolicy=false")
    assert not [o for o in left_out if o["apiVersion"].startswith("admissionregistration")]


def test_the_deployment_runs_non_root_with_probes() -> None:
    objects = render()
    deployment = one(objects, "Deployment", ACCOUNT)
    assert deployment["metadata"]["namespace"] == helm.SYSTEM
    assert deployment["spec"]["replicas"] == 2  # a standby takes the Lease over
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == one(objects, "ServiceAccount")["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    operator = container(objects)
    assert operator["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert operator["ports"] == [{"name": "metrics", "containerPort": 8080}]
    for probe in ("livenessProbe", "readinessProbe"):
        assert operator[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert operator["resources"]["requests"]
    assert operator["resources"]["limits"]["memory"]
    assert operator["args"] == ["--metrics-port=8080"]
    # The production Cassandra profile is the operator's default.
    assert set(env(objects)) == {"POD_NAME", "POD_NAMESPACE"}


def test_metrics_service_and_no_service_monitor_by_default() -> None:
    objects = render()
    assert not of_kind(objects, "ServiceMonitor")
    service = one(objects, "Service")
    pod = one(objects, "Deployment")["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "metrics"}]
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "8080"


def test_the_service_monitor_scrapes_the_metrics_service() -> None:
    objects = render(MONITOR, "metrics.serviceMonitor.labels.release=prom", "metrics.port=9090")
    monitor = one(objects, "ServiceMonitor")
    service = one(objects, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [helm.SYSTEM]}
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert endpoint["path"] == "/metrics"
    assert service["spec"]["ports"][0]["port"] == 9090
    assert container(objects)["args"] == ["--metrics-port=9090"]


def test_metrics_disabled_still_serves_the_probes_port() -> None:
    objects = render("metrics.enabled=false")
    assert not of_kind(objects, "Service")
    assert "annotations" not in one(objects, "Deployment")["spec"]["template"]["metadata"]
    assert container(objects)["livenessProbe"]["httpGet"]["port"] == "metrics"
    assert container(objects)["args"] == ["--metrics-port=8080"]
    assert "needs metrics.enabled" in refusal("metrics.enabled=false", MONITOR)


def test_log_level_and_profile() -> None:
    assert container(render("logLevel=debug"))["args"] == ["--metrics-port=8080", "--verbose"]
    local = env(render("cassandraProfile=local-test"))
    assert local["NAVIGATOR_CASSANDRA_PROFILE"] == "local-test"
    schema = yaml.safe_load((CHART / "values.schema.json").read_text())
    assert tuple(schema["properties"]["cassandraProfile"]["enum"]) == NAMES


@pytest.mark.parametrize(
    ("sets", "says"),
    [
        (("logLevel=trace",), "/logLevel"),
        (("watchNamespaces={Not_A_Namespace}",), "/watchNamespaces/0"),
        (("cassandraProfile=fast",), "/cassandraProfile"),
        (("replicas=3",), "replicas"),  # a misspelt value is refused, not ignored
    ],
)
def test_the_schema_refuses_wrong_values(sets: tuple[str, ...], says: str) -> None:
    assert says in refusal(*sets)


def test_every_namespaced_object_names_its_namespace() -> None:
    """`helm template` output is applied with kubectl too (deploy/operator):
    nothing may depend on the namespace of the command line."""
    cluster_scoped = {
        "ClusterRole",
        "ClusterRoleBinding",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    objects: list[Obj] = render("watchNamespaces={a}", MONITOR)
    for obj in objects:
        assert ("namespace" in obj["metadata"]) == (obj["kind"] not in cluster_scoped), obj
