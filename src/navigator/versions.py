"""The pinned versions of every component Navigator builds or fetches.

`versions.env` (next to this module) is the single place where pins live; the
shell build scripts source it and Python reads it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

VERSIONS_FILE = Path(__file__).with_name("versions.env")


def parse_versions(text: str) -> dict[str, str]:
    """Parse `KEY=VALUE` lines, ignoring blanks and `#` comments."""
    pins: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{VERSIONS_FILE.name}: malformed line {raw!r}")
        pins[key.strip()] = value.strip()
    return pins


@dataclass(frozen=True)
class Versions:
    kubernetes: str
    etcd: str
    coredns: str
    cassandra: str
    # The version rolling-upgrade tests move a cluster to (from `cassandra`).
    cassandra_upgrade: str
    jolokia: str
    # Renders and lints the operator's chart (deploy/helm/navigator).
    helm: str

    @property
    def cassandra_versions(self) -> tuple[str, ...]:
        """Every Cassandra `make cassandra` fetches and builds images for, default first."""
        return tuple(dict.fromkeys((self.cassandra, self.cassandra_upgrade)))


@cache
def pinned() -> Versions:
    pins = parse_versions(VERSIONS_FILE.read_text())
    return Versions(
        kubernetes=pins["KUBERNETES_VERSION"],
        etcd=pins["ETCD_VERSION"],
        coredns=pins["COREDNS_VERSION"],
        cassandra=pins["CASSANDRA_VERSION"],
        cassandra_upgrade=pins["CASSANDRA_UPGRADE_VERSION"],
        jolokia=pins["JOLOKIA_VERSION"],
        helm=pins["HELM_VERSION"],
    )
