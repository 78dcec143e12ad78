"""Kubeconfig files for the admin and the control-plane components."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from navigator.local.pki import KeyPair


def build_kubeconfig(
    *, cluster: str, server: str, ca: Path, user: str, creds: KeyPair
) -> dict[str, Any]:
    """A self-contained kubeconfig (certificates embedded) for one identity."""

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {"server": server, "certificate-authority-data": b64(ca)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64(creds.cert),
                    "client-key-data": b64(creds.key),
                },
            }
        ],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        "current-context": cluster,
    }


def write_kubeconfig(path: Path, config: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    tmp.chmod(0o600)
    tmp.replace(path)
