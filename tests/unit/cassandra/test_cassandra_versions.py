"""More than one Cassandra version: pins, cache paths, image ensure per version, fetch script."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from navigator.cassandra import image, pilot_image
from navigator.cassandra.distribution import Distribution, DistributionMissing, check_version
from navigator.local.images import load_image
from navigator.versions import VERSIONS_FILE, Versions, parse_versions, pinned

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
FETCH = REPO / "hack" / "fetch-cassandra.sh"


def test_upgrade_version_is_pinned_next_to_the_default() -> None:
    pins = parse_versions(VERSIONS_FILE.read_text())
    assert pinned().cassandra == pins["CASSANDRA_VERSION"]
    assert pinned().cassandra_upgrade == pins["CASSANDRA_UPGRADE_VERSION"]
    assert pinned().cassandra_versions == (pinned().cassandra, pinned().cassandra_upgrade)
    # Tests use 5.0.7 as "a version whose image does not exist".
    assert "5.0.7" not in pinned().cassandra_versions
    for version in pinned().cassandra_versions:
        assert check_version(version) == version


def test_equal_pins_build_one_version() -> None:
    versions = Versions("v1", "v3", "v1.14", "5.0.6", "5.0.6", "2.2.9", "v4")
    assert versions.cassandra_versions == ("5.0.6",)


@pytest.mark.parametrize("bad", ["", "5.0", "latest", "../5.0.6", "5.0.6/x", "5.0.6 "])
def test_versions_that_are_not_releases_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Cassandra release version"):
        check_version(bad)


def fake_cache(root: Path, version: str) -> Path:
    home = root / "cassandra" / version
    for sub in ("bin", "conf", "lib"):
        (home / sub).mkdir(parents=True)
    (home / "bin" / "cassandra").write_text("#!/bin/sh\n")
    (home / "lib" / f"cassandra-all-{version}.jar").write_bytes(version.encode())
    (home / "conf" / "jvm17-server.options").write_text("-ea\n")
    (home / ".complete").touch()
    return home


def test_distribution_is_cached_per_version(tmp_path: Path) -> None:
    fake_cache(tmp_path, "5.0.8")
    dist = Distribution.from_cache("5.0.8", root=tmp_path)
    assert dist == Distribution("5.0.8", tmp_path / "cassandra" / "5.0.8")
    with pytest.raises(DistributionMissing, match=r"5\.0\.7 is not fetched"):
        Distribution.from_cache("5.0.7", root=tmp_path)
    with pytest.raises(ValueError, match="not a Cassandra release"):
        Distribution.from_cache("../5.0.8", root=tmp_path)


def test_versions_from_argv_defaults_to_the_pin_and_drops_duplicates() -> None:
    assert image.versions_from_argv([]) == [pinned().cassandra]
    assert image.versions_from_argv(["5.0.8", "5.0.6", "5.0.8"]) == ["5.0.8", "5.0.6"]
    with pytest.raises(ValueError, match="'latest'"):
        image.versions_from_argv(["5.0.8", "latest"])


def test_ensure_builds_each_version_once(tmp_path: Path) -> None:
    for version in ("5.0.6", "5.0.8"):
        fake_cache(tmp_path, version)
    assert image.ensure("5.0.8", root=tmp_path) == "cassandra:5.0.8"
    assert image.ensure("5.0.6", root=tmp_path) == "cassandra:5.0.6"
    built = load_image("cassandra:5.0.8", root=tmp_path)
    jar = built.layer / "opt/cassandra/lib/cassandra-all-5.0.8.jar"
    assert jar.read_bytes() == b"5.0.8"
    config = built.layer.parent / "config.json"
    before = config.stat().st_ino
    image.ensure("5.0.8", root=tmp_path)  # current: nothing is rebuilt
    assert config.stat().st_ino == before
    names = sorted(p.name for p in (tmp_path / "images" / "cassandra").iterdir())
    assert names == ["5.0.6", "5.0.8"]


def test_ensure_rebuilds_when_the_distribution_changes(tmp_path: Path) -> None:
    home = fake_cache(tmp_path, "5.0.8")
    image.ensure("5.0.8", root=tmp_path)
    dist = Distribution.from_cache("5.0.8", root=tmp_path)
    assert image.current(dist, root=tmp_path)
    (home / "conf" / "jvm17-server.options").write_text("-ea\n-Xss512k\n")
    assert not image.current(dist, root=tmp_path)
    image.ensure("5.0.8", root=tmp_path)
    layer = load_image("cassandra:5.0.8", root=tmp_path).layer
    assert "-Xss512k" in (layer / "etc/cassandra/jvm17-server.options").read_text()
    assert image.current(dist, root=tmp_path)


def test_layer_stamp_depends_on_version_and_contents(tmp_path: Path) -> None:
    dist = Distribution("5.0.8", fake_cache(tmp_path, "5.0.8"))
    plan = image.layer_plan(dist)
    stamp = image.layer_stamp("5.0.8", plan)
    assert stamp == image.layer_stamp("5.0.8", image.layer_plan(dist))
    assert stamp != image.layer_stamp("5.0.6", plan)
    (dist.lib / "extra.jar").write_bytes(b"x")
    assert stamp != image.layer_stamp("5.0.8", plan)


def test_a_given_distribution_must_match_the_version(tmp_path: Path) -> None:
    dist = Distribution("5.0.6", fake_cache(tmp_path, "5.0.6"))
    assert image.distribution_for(None, dist) is dist
    assert image.distribution_for("5.0.6", dist) is dist
    with pytest.raises(ValueError, match=r"asked for Cassandra 5\.0\.8"):
        image.distribution_for("5.0.8", dist)


def test_pilot_image_ensure_takes_a_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for version in (pinned().cassandra, "5.0.8"):
        fake_cache(tmp_path, version)
    built: list[str] = []
    monkeypatch.setattr(pilot_image, "current", lambda dist, repo, root: dist.version in built)
    monkeypatch.setattr(
        pilot_image, "build_pilot_image", lambda dist, repo, root: built.append(dist.version)
    )
    assert pilot_image.ensure("5.0.8", root=tmp_path) == "navigator-cassandra:5.0.8"
    assert pilot_image.ensure("5.0.8", root=tmp_path) == "navigator-cassandra:5.0.8"
    assert pilot_image.ensure(root=tmp_path) == f"navigator-cassandra:{pinned().cassandra}"
    assert built == ["5.0.8", pinned().cassandra]
    with pytest.raises(DistributionMissing):
        pilot_image.ensure("5.0.7", root=tmp_path)


def run_fetch(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NAVIGATOR_CACHE": str(cache), "PATH": "/usr/bin:/bin"}
    env.pop("CASSANDRA_VERSIONS", None)
    return subprocess.run(
        ["bash", str(FETCH), *args], env=env, capture_output=True, text=True, check=False
    )


def test_fetch_script_reuses_every_cached_version(tmp_path: Path) -> None:
    # A cached version is not fetched again: only bin/ and conf/ are refreshed
    # from the repository.
    for version in ("5.0.6", "5.0.8"):
        fake_cache(tmp_path, version)
    done = run_fetch(tmp_path, "5.0.6", "5.0.8")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("cached in") == 2
    conf = tmp_path / "cassandra" / "5.0.8" / "conf" / "jvm17-server.options"
    source = REPO / "src" / "navigator" / "cassandra" / "dist" / "conf" / conf.name
    assert conf.read_text() == source.read_text()


def test_fetch_script_refuses_a_bad_version(tmp_path: Path) -> None:
    done = run_fetch(tmp_path, "../5.0.8")
    assert done.returncode == 2
    assert "not a release version" in done.stderr
    assert not (tmp_path / "5.0.8").exists()
