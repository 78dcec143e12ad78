"""The local ``cassandra:<version>`` image, laid out like the official container image.

A pod spec written for the official image (``/opt/cassandra``, ``/etc/cassandra``,
``/var/lib/cassandra``, ``docker-entrypoint.sh`` + ``cassandra -f``) runs
unchanged on the local cluster. The layer hard-links the cached distribution's
jars instead of copying them, so an image costs a few kilobytes of new data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from navigator.cassandra.config import NodeConfig, render_cassandra_yaml, render_rackdc
from navigator.cassandra.distribution import Distribution
from navigator.local.images import Image, ImageConfig, build_image, image_dir

IMAGE_NAME = "cassandra"
CASSANDRA_HOME = "/opt/cassandra"
CASSANDRA_CONF = "/etc/cassandra"
DATA_DIR = "/var/lib/cassandra"
LOG_DIR = "/var/log/cassandra"
ENTRYPOINT_SCRIPT = "/usr/local/bin/docker-entrypoint.sh"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

ENTRYPOINT_TEXT = """#!/bin/sh
# Navigator's local stand-in for the official image's entrypoint: the pod spec
# (or the pilot) renders the configuration, so this only runs the command.
set -e
exec "$@"
"""


def image_ref(version: str) -> str:
    return f"{IMAGE_NAME}:{version}"


def image_config() -> ImageConfig:
    """The runtime defaults the official image has (and the Dockerfile inherits)."""
    return ImageConfig(
        entrypoint=("docker-entrypoint.sh",),
        cmd=("cassandra", "-f"),
        env=(
            f"CASSANDRA_HOME={CASSANDRA_HOME}",
            f"CASSANDRA_CONF={CASSANDRA_CONF}",
            f"PATH={CASSANDRA_HOME}/bin:{BASE_PATH}",
        ),
        working_dir="/",
        user="0",
    )


@dataclass(frozen=True)
class LayerPlan:
    """What the layer holds: hard-linked trees, written files and symlinks."""

    links: dict[str, Path]
    files: dict[str, tuple[str, int]]
    symlinks: dict[str, str]
    dirs: tuple[str, ...]


def default_node() -> NodeConfig:
    """The image's default cassandra.yaml: a single node on loopback."""
    return NodeConfig(
        name="cassandra", address="127.0.0.1", seeds=("127.0.0.1",), data_dir=Path(DATA_DIR)
    )


def layer_plan(dist: Distribution) -> LayerPlan:
    """Pure: the layer's contents, as paths relative to the container root."""
    conf = {name.name: name for name in sorted(dist.conf.iterdir()) if name.is_file()}
    files = {f"{CASSANDRA_CONF}/{name}": (path.read_text(), 0o644) for name, path in conf.items()}
    files[f"{CASSANDRA_CONF}/cassandra.yaml"] = (render_cassandra_yaml(default_node()), 0o644)
    files[f"{CASSANDRA_CONF}/cassandra-rackdc.properties"] = (render_rackdc(default_node()), 0o644)
    files[ENTRYPOINT_SCRIPT] = (ENTRYPOINT_TEXT, 0o755)
    return LayerPlan(
        links={f"{CASSANDRA_HOME}/lib": dist.lib, f"{CASSANDRA_HOME}/bin": dist.home / "bin"},
        files=files,
        symlinks={
            f"{CASSANDRA_HOME}/conf": CASSANDRA_CONF,
            f"{CASSANDRA_HOME}/data": DATA_DIR,
            f"{CASSANDRA_HOME}/logs": LOG_DIR,
        },
        dirs=(DATA_DIR, LOG_DIR),
    )


def materialize(plan: LayerPlan, layer: Path) -> None:
    """Write ``plan`` under ``layer`` (hard links where the cache is on the same fs)."""
    for target, source in plan.links.items():
        link_tree(source, _under(layer, target))
    for target, (text, mode) in plan.files.items():
        path = _under(layer, target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
    for target, points_to in plan.symlinks.items():
        path = _under(layer, target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(points_to)
    for target in plan.dirs:
        _under(layer, target).mkdir(parents=True, exist_ok=True)


def build_cassandra_image(dist: Distribution, root: Path | None = None) -> Image:
    """(Re)build ``cassandra:<version>`` from the fetched distribution."""
    directory = image_dir(image_ref(dist.version), root)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory.parent, prefix=".build-") as tmp:
        layer = Path(tmp) / "layer"
        materialize(layer_plan(dist), layer)
        return build_image(image_ref(dist.version), layer, image_config(), root)


def _under(layer: Path, absolute: str) -> Path:
    return layer / absolute.lstrip("/")


def link_tree(source: Path, dest: Path) -> None:
    """Copy the tree `source` to `dest` as hard links (copies across file systems)."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, dest, copy_function=link, symlinks=True)


def main() -> None:
    image = build_cassandra_image(Distribution.from_cache())
    print(f"built {image.ref} in {image.layer.parent}")


if __name__ == "__main__":
    main()
