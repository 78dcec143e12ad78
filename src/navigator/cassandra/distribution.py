"""The fetched Apache Cassandra distribution in the cache (see hack/fetch-cassandra.sh)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from navigator.cassandra.config import parse_jvm_options
from navigator.local.paths import cache_root
from navigator.versions import pinned

JVM_OPTIONS_FILE = "jvm17-server.options"
TOOLS_LOGBACK = "logback-tools.xml"
_RELEASE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")


class DistributionMissing(FileNotFoundError):
    """The pinned Cassandra is not in the cache: run `make cassandra`."""


@dataclass(frozen=True)
class Distribution:
    """An unpacked distribution: ``bin/``, ``conf/``, ``lib/`` under ``home``."""

    version: str
    home: Path

    @classmethod
    def from_cache(cls, version: str | None = None, root: Path | None = None) -> Distribution:
        v = check_version(version or pinned_cassandra_version())
        dist = cls(version=v, home=(root or cache_root()) / "cassandra" / v)
        if not (dist.home / ".complete").is_file():
            raise DistributionMissing(
                f"Cassandra {v} is not fetched; run `make cassandra` "
                f"(or `hack/build-images.sh {v}` for a version that is not pinned)"
            )
        return dist

    @property
    def conf(self) -> Path:
        return self.home / "conf"

    @property
    def lib(self) -> Path:
        return self.home / "lib"

    def classpath(self, conf_dir: Path | None = None) -> str:
        """Config dir first (for logback.xml), then every jar in ``lib/``."""
        return f"{conf_dir or self.conf}:{self.lib}/*"

    def lib_classpath(self) -> str:
        """Jars only: tools must not pick up the server's logback.xml."""
        return f"{self.lib}/*"

    def jvm_options(self) -> list[str]:
        return parse_jvm_options((self.conf / JVM_OPTIONS_FILE).read_text())

    def jamm_agent(self) -> Path | None:
        jars = sorted(self.lib.glob("jamm-*.jar"))
        return jars[-1] if jars else None


def pinned_cassandra_version() -> str:
    return pinned().cassandra


def check_version(version: str) -> str:
    """``version`` if it is a release number (``5.0.8``): it names cache and image paths."""
    if not _RELEASE.fullmatch(version):
        raise ValueError(f"not a Cassandra release version: {version!r}")
    return version
