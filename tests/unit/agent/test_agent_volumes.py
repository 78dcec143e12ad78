"""Volumes and environment against a fake API server (httpx's mock transport)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import httpx2
import pytest

from navigator.local.agent import atomic
from navigator.local.agent.config import AgentConfig
from navigator.local.agent.env import container_env
from navigator.local.agent.kube import Kube
from navigator.local.agent.volumes import VolumeBuilder, VolumeError
from navigator.local.images import Image, ImageConfig

pytestmark = pytest.mark.unit

OBJECTS: dict[str, Any] = {
    "/api/v1/namespaces/ns1/configmaps/cfg": {"data": {"a.conf": "x=1", "b": "2"}},
    "/api/v1/namespaces/ns1/secrets/sec": {"data": {"pw": base64.b64encode(b"s3").decode()}},
    "/api/v1/namespaces/ns1/persistentvolumeclaims/data": {
        "spec": {"volumeName": "pv-1"},
        "status": {"phase": "Bound"},
    },
    "/api/v1/namespaces/ns1/persistentvolumeclaims/pending": {"spec": {}, "status": {}},
}


def fake_api(tmp_path: Path, requests: list[httpx2.Request]) -> Kube:
    objects = {
        **OBJECTS,
        "/api/v1/persistentvolumes/pv-1": {"spec": {"local": {"path": str(tmp_path / "pv")}}},
    }

    def handle(request: httpx2.Request) -> httpx2.Response:
        requests.append(request)
        path = request.url.path
        if path.endswith("/token"):
            return httpx2.Response(201, json={"status": {"token": "tok-123"}})
        if path in objects:
            return httpx2.Response(200, json=objects[path])
        return httpx2.Response(404, json={"reason": "NotFound"})

    return Kube("https://api", None, user_agent="t", transport=httpx2.MockTransport(handle))


def entries(directory: str) -> list[str]:
    """What a reader lists, without the hidden versions (`..data`, `..<time>`)."""
    return sorted(p.name for p in Path(directory).iterdir() if not p.name.startswith(".."))


def pod(volumes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns1", "uid": "u-1", "labels": {"k": "v"}},
        "spec": {"serviceAccountName": "sa", "volumes": volumes, "containers": []},
    }


async def test_api_backed_volumes_are_written_as_files(tmp_path: Path) -> None:
    requests: list[httpx2.Request] = []
    vols = [
        {"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "a.conf", "path": "x"}]}},
        {"name": "sec", "secret": {"secretName": "sec"}},
        {"name": "api", "projected": {"sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 600}},
            {"configMap": {"name": "cfg"}},
            {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {
                "fieldPath": "metadata.namespace"}}]}},
        ]}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
        {"name": "scratch", "emptyDir": {}},
    ]  # fmt: skip
    builder = VolumeBuilder(fake_api(tmp_path, requests), pod(vols), tmp_path, "10.0.0.2")
    paths = await builder.build_all(fs_group=None)
    assert (Path(paths["cfg"]) / "x").read_text() == "x=1"
    assert (Path(paths["sec"]) / "pw").read_text() == "s3"
    api = Path(paths["api"])
    assert (api / "token").read_text() == "tok-123"
    assert (api / "b").read_text() == "2"
    assert (api / "ns").read_text() == "ns1"
    assert paths["data"] == str(tmp_path / "pv")
    assert entries(paths["scratch"]) == []
    token_request = next(r for r in requests if r.url.path.endswith("/token"))
    assert token_request.url.path == "/api/v1/namespaces/ns1/serviceaccounts/sa/token"
    spec = json.loads(token_request.content)["spec"]
    assert spec["boundObjectRef"] == {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u-1"}
    assert spec["expirationSeconds"] == 600
    # A refresh rewrites the files but reuses the token until 80 % of its lifetime.
    await builder.refresh(fs_group=None)
    assert sum(r.url.path.endswith("/token") for r in requests) == 1


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        ({"name": "v", "configMap": {"name": "nope"}}, "configmap 'nope'"),
        ({"name": "v", "persistentVolumeClaim": {"claimName": "pending"}}, "not bound yet"),
    ],
)
async def test_missing_inputs_are_volume_errors(
    tmp_path: Path, volume: dict[str, Any], message: str
) -> None:
    builder = VolumeBuilder(fake_api(tmp_path, []), pod([volume]), tmp_path, "10.0.0.2")
    with pytest.raises(VolumeError, match=message):
        await builder.build_all(fs_group=None)


async def test_optional_configmap_may_be_missing(tmp_path: Path) -> None:
    vol = {"name": "v", "configMap": {"name": "nope", "optional": True}}
    builder = VolumeBuilder(fake_api(tmp_path, []), pod([vol]), tmp_path, "10.0.0.2")
    paths = await builder.build_all(fs_group=None)
    assert entries(paths["v"]) == []


async def test_environment_resolves_references(tmp_path: Path) -> None:
    cfg = AgentConfig.from_json(
        json.dumps(
            {
                "node_name": "local-node-1", "node_ip": "10.0.255.253", "zone": "z",
                "state_dir": str(tmp_path), "server": "https://api", "ca_file": "c",
                "cert_file": "c", "key_file": "k", "serving_cert_file": "c",
                "serving_key_file": "k", "provisioner_cert_file": "c",
                "provisioner_key_file": "k", "bridge_netns": "n", "host_ip": "10.0.255.254",
                "pod_cidr": "10.0.0.0/16", "apiserver_port": 6443,
            }
        )
    )  # fmt: skip
    container = {
        "name": "c",
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
        "env": [
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "pw"}}},
            {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "x",
                                                           "optional": True}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                               "divisor": "1Mi"}}},
            {"name": "GREETING", "value": "in $(NS)"},
        ],
        "resources": {"limits": {"memory": "256Mi"}},
    }  # fmt: skip
    image = Image("i", tmp_path, ImageConfig(env=("FROM_IMAGE=1",)))
    env = await container_env(cfg, fake_api(tmp_path, []), pod([]), container, image, "p")
    assert env["FROM_IMAGE"] == "1"
    assert env["CFG_b"] == "2"
    assert env["PW"] == "s3"
    assert "OPT" not in env
    assert env["NS"] == "ns1"
    assert env["MEM"] == "256"
    assert env["GREETING"] == "in ns1"
    assert env["KUBERNETES_SERVICE_HOST"] == "10.0.255.254"
    assert env["KUBERNETES_SERVICE_PORT"] == "6443"
    assert env["HOSTNAME"] == "p"


def test_a_new_version_is_swapped_in_whole(tmp_path: Path) -> None:
    vol = tmp_path / "tls"
    assert atomic.write(vol, {"a.crt": b"cert-1", "a.key": b"key-1", "old": b"x"}, 0o440)
    first = os.readlink(vol / atomic.DATA)
    assert os.readlink(vol / "a.crt") == "..data/a.crt"
    assert (vol / "a.key").read_bytes() == b"key-1"
    assert (vol / "a.key").stat().st_mode & 0o777 == 0o440
    # The same content again: nothing is rewritten.
    assert not atomic.write(vol, {"a.crt": b"cert-1", "a.key": b"key-1", "old": b"x"}, 0o440)
    assert os.readlink(vol / atomic.DATA) == first
    # The new version is swapped in by one rename of `..data`; the old one goes.
    held = vol / first
    assert atomic.write(vol, {"a.crt": b"cert-2", "a.key": b"key-2", "sub/n": b"1"}, 0o440)
    assert os.readlink(vol / atomic.DATA) != first
    assert not held.exists()
    assert [(vol / n).read_bytes() for n in ("a.crt", "a.key")] == [b"cert-2", b"key-2"]
    assert (vol / "sub" / "n").read_bytes() == b"1"
    # A key removed from the Secret is removed from the volume.
    assert not (vol / "old").exists()
    assert not (vol / "old").is_symlink()
    assert entries(str(vol)) == ["a.crt", "a.key", "sub"]


def test_files_written_the_old_way_are_replaced_by_links(tmp_path: Path) -> None:
    vol = tmp_path / "v"
    vol.mkdir()
    (vol / "pw").write_bytes(b"old")
    atomic.write(vol, {"pw": b"new"}, 0o644)
    assert (vol / "pw").is_symlink()
    assert (vol / "pw").read_bytes() == b"new"
