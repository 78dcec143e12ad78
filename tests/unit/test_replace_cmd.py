"""`navigator replace`: it annotates the member's pod, only a member of the
named cluster, served by a mock transport (exit codes as `navigator status`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from click.testing import CliRunner
from lightkube import Client, KubeConfig, SingleConfig
from lightkube.config.models import Cluster, User

from navigator import replace as replace_cmd
from navigator.cli import cli

pytestmark = pytest.mark.unit

PATH = "/api/v1/namespaces/prod/pods/demo-rack1-2"


def pod(cluster: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "demo-rack1-2",
            "namespace": "prod",
            "labels": {"navigator.dev/cluster": cluster},
        },
    }


def fake_api(monkeypatch: pytest.MonkeyPatch, cluster: str, seen: list[httpx2.Request]) -> None:
    def handle(request: httpx2.Request) -> httpx2.Response:
        request.read()
        seen.append(request)
        return httpx2.Response(200, json=pod(cluster))

    def connect(path: Path) -> tuple[Client, SingleConfig]:
        config = KubeConfig.from_one(
            cluster=Cluster(server="https://kube.test:6443"), user=User(), namespace="prod"
        ).get()
        assert config is not None
        return Client(config=config, transport=httpx2.MockTransport(handle)), config

    monkeypatch.setattr(replace_cmd, "connect", connect)


def test_replace_annotates_the_members_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx2.Request] = []
    fake_api(monkeypatch, "demo", seen)
    result = CliRunner().invoke(cli, ["replace", "demo", "demo-rack1-2"])
    assert result.exit_code == 0, result.output
    get, patch = seen
    assert (get.method, get.url.path) == ("GET", PATH)
    assert (patch.method, patch.url.path) == ("PATCH", PATH)
    assert patch.headers["content-type"] == "application/merge-patch+json"
    body = json.loads(patch.content)
    assert body == {"metadata": {"annotations": {"navigator.dev/replace": "true"}}}
    assert result.output.splitlines()[-1] == "Follow it with: navigator status demo -n prod -w"


def test_a_pod_of_another_cluster_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx2.Request] = []
    fake_api(monkeypatch, "other", seen)
    result = CliRunner().invoke(cli, ["replace", "demo", "demo-rack1-2"])
    assert result.exit_code == 1
    assert "not a member of CassandraCluster demo" in result.output
    assert [r.method for r in seen] == ["GET"]
