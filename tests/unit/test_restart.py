"""`navigator restart`: the patch it builds, what it says, and the request it
makes, served by a mock transport (exit codes as `navigator status`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx2
import pytest
from click.testing import CliRunner
from lightkube import Client, KubeConfig, SingleConfig
from lightkube.config.models import Cluster, User

from navigator import restart as restart_cmd
from navigator.cli import cli
from navigator.operator.core.revision import RESTARTED_AT_ANNOTATION

pytestmark = pytest.mark.unit

SERVER = "https://kube.test:6443"
NOW = datetime(2026, 1, 1, 0, 5, 7, 123456, tzinfo=UTC)
PATH = "/apis/navigator.dev/v1alpha1/namespaces/prod/cassandraclusters/demo"


def test_requested_at_is_rfc3339_utc_to_the_second() -> None:
    assert restart_cmd.requested_at(NOW) == "2026-01-01T00:05:07Z"
    paris = timezone(timedelta(hours=1))
    assert restart_cmd.requested_at(datetime(2026, 1, 1, 1, 5, 7, tzinfo=paris)) == (
        "2026-01-01T00:05:07Z"
    )


def test_the_patch_sets_only_the_annotation() -> None:
    assert restart_cmd.restart_patch("2026-01-01T00:05:07Z") == {
        "metadata": {"annotations": {"navigator.dev/restartedAt": "2026-01-01T00:05:07Z"}}
    }
    assert RESTARTED_AT_ANNOTATION == "navigator.dev/restartedAt"  # the documented name


def test_follow_command() -> None:
    assert restart_cmd.follow_command("demo", "prod", None) == "navigator status demo -n prod -w"
    assert restart_cmd.follow_command("demo", "prod", "/k/my config") == (
        "navigator status demo -n prod -w --kubeconfig '/k/my config'"
    )


def cluster(**extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "demo", "namespace": "prod"},
        "spec": {"version": "5.0.6", **extra.pop("spec", {})},
        **extra,
    }


def test_report_says_what_was_done_and_how_to_follow() -> None:
    lines = restart_cmd.report(cluster(), "2026-01-01T00:05:07Z", "navigator status demo -w")
    assert lines == [
        "Rolling restart of CassandraCluster prod/demo requested"
        " (navigator.dev/restartedAt=2026-01-01T00:05:07Z).",
        "The operator restarts one member at a time, each only when the cluster is healthy.",
        "Follow it with: navigator status demo -w",
    ]


def test_report_warns_of_a_pause_and_of_a_rollout_in_progress() -> None:
    held = cluster(spec={"paused": True}, status={"rollout": {"type": "Upgrade"}})
    text = "\n".join(restart_cmd.report(held, "t", "f"))
    assert "A rollout was in progress (Upgrade): every member, even one it already" in text
    assert "spec.paused is true: nothing restarts until the cluster is unpaused." in text


def fake_api(
    monkeypatch: pytest.MonkeyPatch, respond: Any, seen: list[httpx2.Request] | None = None
) -> None:
    def handle(request: httpx2.Request) -> httpx2.Response:
        request.read()
        if seen is not None:
            seen.append(request)
        return respond(request)  # type: ignore[no-any-return]

    def connect(path: Path) -> tuple[Client, SingleConfig]:
        config = KubeConfig.from_one(
            cluster=Cluster(server=SERVER), user=User(), namespace="prod"
        ).get()
        assert config is not None
        return Client(config=config, transport=httpx2.MockTransport(handle)), config

    monkeypatch.setattr(restart_cmd, "connect", connect)
    monkeypatch.setattr(restart_cmd, "utc_now", lambda: NOW)


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["restart", *args])


def test_restart_sends_one_merge_patch(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx2.Request] = []

    def respond(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=cluster())

    fake_api(monkeypatch, respond, seen)
    result = run("demo")
    assert result.exit_code == 0, result.output
    [request] = seen
    assert (request.method, request.url.path) == ("PATCH", PATH)
    assert request.headers["content-type"] == "application/merge-patch+json"
    assert request.url.params["fieldManager"] == "navigator-restart"
    body = json.loads(request.content)
    assert body == {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: "2026-01-01T00:05:07Z"}}}
    assert "CassandraCluster prod/demo requested" in result.output
    assert result.output.splitlines()[-1] == "Follow it with: navigator status demo -n prod -w"


def test_a_missing_cluster_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    status = {"kind": "Status", "code": 404, "message": "not found", "reason": "NotFound"}
    fake_api(monkeypatch, lambda request: httpx2.Response(404, json=status))
    result = run("demo", "-n", "prod")
    assert result.exit_code == 1
    assert "CassandraCluster prod/demo not found" in result.output


def test_a_refused_patch_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    status = {"kind": "Status", "code": 403, "message": "forbidden", "reason": "Forbidden"}
    fake_api(monkeypatch, lambda request: httpx2.Response(403, json=status))
    result = run("demo")
    assert result.exit_code == 2
    assert "the API server refused: 403" in result.output


def test_an_unreachable_api_exits_2(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c"}}],
                "current-context": "x",
            }
        )
    )
    result = run("demo", "--kubeconfig", str(kubeconfig))
    assert result.exit_code == 2
    assert "cannot reach the API server http://127.0.0.1:9" in result.output
    assert run("demo", "--kubeconfig", str(tmp_path / "absent")).exit_code == 2


def test_the_cluster_name_is_required() -> None:
    assert run().exit_code == 2
