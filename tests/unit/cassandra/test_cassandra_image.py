"""The local cassandra image, the store it lives in, and the Dockerfile agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from navigator.cassandra import image
from navigator.cassandra.distribution import Distribution
from navigator.local.images import (
    ImageConfig,
    ImageNotFound,
    build_image,
    image_dir,
    load_image,
    parse_ref,
)
from navigator.versions import pinned

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "deploy" / "docker" / "cassandra" / "Dockerfile"


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = (line.strip() for line in text.splitlines())
    return [
        (word.upper(), rest.strip())
        for word, _, rest in (line.partition(" ") for line in lines if line)
        if not word.startswith("#")
    ]


def dockerfile_env() -> dict[str, str]:
    return dict(rest.split("=", 1) for word, rest in dockerfile_instructions() if word == "ENV")


def test_dockerfile_builds_on_the_pinned_official_image() -> None:
    instructions = dockerfile_instructions()
    args = dict(rest.split("=", 1) for word, rest in instructions if word == "ARG")
    froms = [rest for word, rest in instructions if word == "FROM"]
    assert froms == ["cassandra:${CASSANDRA_VERSION}"]
    assert args["CASSANDRA_VERSION"] == pinned().cassandra


def test_dockerfile_and_local_image_agree_on_env() -> None:
    assert dockerfile_env() == image.image_config().env_dict()


def test_dockerfile_keeps_the_official_entrypoint_like_the_local_image() -> None:
    # No ENTRYPOINT/CMD: the image inherits docker-entrypoint.sh + `cassandra -f`,
    # which is what the local image's config declares.
    words = {word for word, _ in dockerfile_instructions()}
    assert not words & {"ENTRYPOINT", "CMD"}
    config = image.image_config()
    assert config.entrypoint == (Path(image.ENTRYPOINT_SCRIPT).name,)
    assert config.cmd == ("cassandra", "-f")


def test_dockerfile_volume_is_the_local_data_dir() -> None:
    volumes = [rest for word, rest in dockerfile_instructions() if word == "VOLUME"]
    assert volumes == [image.DATA_DIR]


def fake_distribution(tmp_path: Path) -> Distribution:
    home = tmp_path / "dist"
    for sub in ("bin", "conf", "lib"):
        (home / sub).mkdir(parents=True)
    (home / "bin" / "cassandra").write_text("#!/bin/sh\n")
    (home / "lib" / "cassandra-all-5.0.6.jar").write_bytes(b"jar")
    (home / "conf" / "jvm17-server.options").write_text("-ea\n")
    (home / "conf" / "logback.xml").write_text("<configuration/>\n")
    return Distribution(version="5.0.6", home=home)


def test_layer_has_the_official_paths(tmp_path: Path) -> None:
    dist = fake_distribution(tmp_path)
    built = image.build_cassandra_image(dist, root=tmp_path / "cache")
    layer = built.layer
    assert (layer / "opt/cassandra/lib/cassandra-all-5.0.6.jar").read_bytes() == b"jar"
    assert (layer / "opt/cassandra/lib/cassandra-all-5.0.6.jar").stat().st_nlink == 2
    assert (layer / "etc/cassandra/jvm17-server.options").is_file()
    assert (layer / "etc/cassandra/cassandra.yaml").is_file()
    assert (layer / "opt/cassandra/conf").readlink() == Path("/etc/cassandra")
    assert (layer / "var/lib/cassandra").is_dir()
    assert (layer / "usr/local/bin/docker-entrypoint.sh").stat().st_mode & 0o111
    yaml_text = (layer / "etc/cassandra/cassandra.yaml").read_text()
    assert re.search(r"^commitlog_directory: /var/lib/cassandra/commitlog$", yaml_text, re.M)


def test_building_twice_replaces_the_image(tmp_path: Path) -> None:
    dist = fake_distribution(tmp_path)
    image.build_cassandra_image(dist, root=tmp_path / "cache")
    again = image.build_cassandra_image(dist, root=tmp_path / "cache")
    assert load_image("cassandra:5.0.6", root=tmp_path / "cache") == again
    assert [p.name for p in again.layer.parent.parent.iterdir()] == ["5.0.6"]


def test_store_round_trips_config(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    (layer / "bin").mkdir(parents=True)
    config = ImageConfig(entrypoint=("/bin/sh",), cmd=("-c", "true"), env=("A=1",), user="999")
    built = build_image("tools:v1", layer, config, root=tmp_path)
    assert built.layer == image_dir("tools:v1", root=tmp_path) / "layer"
    assert load_image("tools:v1", root=tmp_path).config == config
    assert built.entrypoint == ("/bin/sh",)
    assert built.user == "999"


def test_missing_image_raises(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFound):
        load_image("cassandra:0.0.0", root=tmp_path)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("cassandra:5.0.6", ("cassandra", "5.0.6")), ("busybox", ("busybox", "latest"))],
)
def test_parse_ref(ref: str, expected: tuple[str, str]) -> None:
    assert parse_ref(ref) == expected


@pytest.mark.parametrize("ref", ["", ":tag", "../x:1", "/abs:1"])
def test_parse_ref_rejects_bad_refs(ref: str) -> None:
    with pytest.raises(ValueError, match="invalid image reference"):
        parse_ref(ref)
