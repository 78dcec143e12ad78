"""The command's edge without a cluster: exit codes and messages, reads
served by a mock transport, kubeconfig selection."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from click.testing import CliRunner
from lightkube import Client, KubeConfig, SingleConfig
from lightkube.config.models import Cluster, User
from status_fixtures import scale_in_in_progress

from navigator.status import cli as status_cli
from navigator.status import kubeapi

pytestmark = pytest.mark.unit

SERVER = "https://kube.test:6443"


def fake_api(monkeypatch: pytest.MonkeyPatch, objects: dict[str, Any]) -> list[str]:
    """Serve `objects` by URL path (404 otherwise); returns the paths asked."""
    asked: list[str] = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        asked.append(f"{request.url.path}?{request.url.query.decode()}")
        body = objects.get(request.url.path)
        if body is None:
            status = {"kind": "Status", "code": 404, "message": "not found", "reason": "NotFound"}
            return httpx2.Response(404, json=status)
        return httpx2.Response(200, json=body)

    def connect(path: Path) -> tuple[Client, SingleConfig]:
        config = KubeConfig.from_one(
            cluster=Cluster(server=SERVER), user=User(), namespace="prod"
        ).get()
        assert config is not None
        return Client(config=config, transport=httpx2.MockTransport(handle)), config

    monkeypatch.setattr(status_cli, "connect", connect)
    return asked


def run(*args: str) -> Any:
    return CliRunner().invoke(status_cli.status, list(args))


BASE = "/apis/navigator.dev/v1alpha1/namespaces/prod"


def test_one_cluster_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster, pilots = scale_in_in_progress()
    asked = fake_api(
        monkeypatch,
        {
            f"{BASE}/cassandraclusters/demo": cluster,
            f"{BASE}/pilots": {"kind": "PilotList", "metadata": {}, "items": pilots},
        },
    )
    result = run("demo", "-o", "json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["members"][3]["state"] == "UL"
    assert body["operation"]["blockedBy"]["rule"] == "DecommissionCompletes"
    assert "labelSelector=navigator.dev%2Fcluster%3Ddemo" in asked[1]


def test_one_cluster_as_a_table(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster, pilots = scale_in_in_progress()
    fake_api(
        monkeypatch,
        {
            f"{BASE}/cassandraclusters/demo": cluster,
            f"{BASE}/pilots": {"kind": "PilotList", "metadata": {}, "items": pilots},
        },
    )
    result = run("demo")
    assert result.exit_code == 0, result.output
    assert "Waiting on DecommissionCompletes" in result.output
    line = next(x for x in result.output.splitlines() if x.strip().startswith("demo-rack1-3"))
    assert "UL" in line.split()
    assert "decommissioning" in line


def test_a_missing_cluster_exits_1_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_api(monkeypatch, {})
    result = run("nope", "-n", "prod")
    assert result.exit_code == 1
    assert "CassandraCluster prod/nope not found" in result.output


def test_no_crd_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_api(monkeypatch, {})
    result = run()
    assert result.exit_code == 1
    assert "not installed" in result.output


def test_every_cluster_of_the_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster, pilots = scale_in_in_progress()
    fake_api(
        monkeypatch,
        {
            f"{BASE}/cassandraclusters": {"kind": "List", "metadata": {}, "items": [cluster]},
            f"{BASE}/pilots": {"kind": "PilotList", "metadata": {}, "items": pilots},
        },
    )
    result = run("-o", "json")
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)["items"]
    assert [(c["namespace"], c["name"], len(c["members"])) for c in items] == [("prod", "demo", 4)]
    table = run()
    assert "3 UN, 1 UL" in table.output


def test_an_empty_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_api(monkeypatch, {f"{BASE}/cassandraclusters": {"kind": "List", "items": []}})
    result = run()
    assert result.exit_code == 0
    assert "No CassandraClusters in namespace prod." in result.output


def test_refused_reads_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    def handle(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(403, json={"kind": "Status", "code": 403, "message": "forbidden"})

    config = KubeConfig.from_one(cluster=Cluster(server=SERVER), user=User()).get()
    assert config is not None
    client = Client(config=config, transport=httpx2.MockTransport(handle))
    monkeypatch.setattr(status_cli, "connect", lambda path: (client, config))
    result = run("demo")
    assert result.exit_code == 2
    assert "refused: 403" in result.output


def test_an_unreachable_api_exits_2(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "namespace": "team"}}],
                "current-context": "x",
            }
        )
    )
    result = run("demo", "--kubeconfig", str(kubeconfig))
    assert result.exit_code == 2
    assert "cannot reach the API server http://127.0.0.1:9" in result.output


def test_a_missing_kubeconfig_exits_2(tmp_path: Path) -> None:
    result = run("--kubeconfig", str(tmp_path / "absent"))
    assert result.exit_code == 2
    assert "cannot use kubeconfig" in result.output


def test_cluster_and_all_namespaces_conflict() -> None:
    assert run("demo", "-A").exit_code == 2


def test_kubeconfig_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    second = tmp_path / "second"
    second.write_text("{}")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'first'}:{second}")
    assert kubeapi.kubeconfig_path(None) == second
    assert kubeapi.kubeconfig_path("~/x") == Path("~/x").expanduser()
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    assert kubeapi.kubeconfig_path(None) == tmp_path / "none"
    monkeypatch.delenv("KUBECONFIG")
    assert kubeapi.kubeconfig_path(None) == Path("~/.kube/config").expanduser()


def test_watch_redraws_until_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def show() -> str:
        calls.append(1)
        if len(calls) == 2:
            raise kubeapi.Unreachable("API gone")
        if len(calls) == 3:
            raise KeyboardInterrupt
        return '{"items": []}'

    monkeypatch.setattr(status_cli.time, "sleep", lambda s: None)
    console = status_cli.Console(file=io.StringIO(), width=80)
    runner = CliRunner()
    with runner.isolation() as (out, err, _):
        status_cli.watch(show, show(), console, json_lines=True)
        printed, complaints = out.getvalue().decode(), err.getvalue().decode()
    assert printed == '{"items":[]}\n'
    assert "API gone" in complaints
    calls.clear()
    status_cli.watch(show, show(), console, json_lines=False)  # the Live view
    assert len(calls) == 3
