"""The local ``cassandra:<version>`` image, laid out like the official container image.

A pod spec written for the official image (``/opt/cassandra``, ``/etc/cassandra``,
``/var/lib/cassandra``, ``docker-entrypoint.sh`` + ``cassandra -f``) runs
unchanged on the local cluster. The layer hard-links the cached distribution's
jars instead of copying them, so an image costs a few kilobytes of new data.

One image per fetched version: ``ensure("5.0.8")`` builds ``cassandra:5.0.8``
unless the stored one is current (``python -m navigator.cassandra.image
[VERSION...]`` does the same; without arguments, the pinned version).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from navigator.cassandra.config import NodeConfig, render_cassandra_yaml, render_rackdc
from navigator.cassandra.distribution import Distribution, check_version
from navigator.cassandra.profile import LOCAL_TEST
from navigator.local.images import Image, ImageConfig, build_image, image_dir, load_image
from navigator.versions import pinned

IMAGE_NAME = "cassandra"
CASSANDRA_HOME = "/opt/cassandra"
CASSANDRA_CONF = "/etc/cassandra"
DATA_DIR = "/var/lib/cassandra"
LOG_DIR = "/var/log/cassandra"
ENTRYPOINT_SCRIPT = "/usr/local/bin/docker-entrypoint.sh"
# Digest of what the layer was built from (see `layer_stamp`); not in the pilot image.
STAMP = f"{CASSANDRA_HOME}/.navigator-image-stamp"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The official image's `cassandra` user and group (it owns the directories
# Cassandra and the pilot write: OWNED); the operator's pods run as them.
CASSANDRA_UID = CASSANDRA_GID = 999
OWNED = (CASSANDRA_CONF, DATA_DIR, LOG_DIR)

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
        name="cassandra",
        address="127.0.0.1",
        seeds=("127.0.0.1",),
        data_dir=Path(DATA_DIR),
        profile=LOCAL_TEST,  # the local image serves the local cluster only
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
    for target in OWNED:
        own(_under(layer, target), conf=target == CASSANDRA_CONF)


def own(directory: Path, *, conf: bool) -> None:
    """What the official image does to its writable directories: `chown -R
    cassandra:cassandra`, `chmod 1777`, and `chmod -R a+rwX` on the
    configuration, so that the pilot, as the cassandra user, renders
    cassandra.yaml there and Cassandra writes its logs. (Built by a non-root
    user, who cannot give files away, the directory is 0777 without the
    sticky bit instead, so the files in it can still be replaced.)"""
    directory.mkdir(parents=True, exist_ok=True)
    root = os.geteuid() == 0
    for path in (directory, *directory.rglob("*")):
        if root:
            os.chown(path, CASSANDRA_UID, CASSANDRA_GID, follow_symlinks=False)
        if conf and not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o666 | (0o111 if path.is_dir() else 0))
    directory.chmod(0o1777 if root else 0o777)


def layer_stamp(version: str, plan: LayerPlan) -> str:
    """A digest of everything the layer is made of: version, written files, link
    targets and the linked trees' file names, sizes and contents."""
    digest = hashlib.sha256(f"{version}\n{image_config().to_json()}\n".encode())
    for target, (text, mode) in sorted(plan.files.items()):
        digest.update(f"file {target} {mode:o} {len(text)}\n".encode())
        digest.update(text.encode())
    for target, points_to in sorted(plan.symlinks.items()):
        digest.update(f"symlink {target} {points_to}\n".encode())
    for target in sorted(plan.dirs):
        digest.update(f"dir {target}\n".encode())
    for target in OWNED:
        digest.update(f"owned {target} {CASSANDRA_UID}:{CASSANDRA_GID} 1777\n".encode())
    for target, source in sorted(plan.links.items()):
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            name = f"{target}/{path.relative_to(source)}"
            digest.update(f"link {name} {path.stat().st_size}\n".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def build_cassandra_image(dist: Distribution, root: Path | None = None) -> Image:
    """(Re)build ``cassandra:<version>`` from the fetched distribution."""
    directory = image_dir(image_ref(dist.version), root)
    directory.parent.mkdir(parents=True, exist_ok=True)
    plan = layer_plan(dist)
    with tempfile.TemporaryDirectory(dir=directory.parent, prefix=".build-") as tmp:
        layer = Path(tmp) / "layer"
        materialize(plan, layer)
        _under(layer, STAMP).write_text(layer_stamp(dist.version, plan) + "\n")
        return build_image(image_ref(dist.version), layer, image_config(), root)


def current(dist: Distribution, root: Path | None = None) -> bool:
    """Is the stored ``cassandra:<version>`` built from this very distribution and conf?"""
    try:
        image = load_image(image_ref(dist.version), root)
        stamp = _under(image.layer, STAMP).read_text().strip()
    except (LookupError, OSError):
        return False
    return stamp == layer_stamp(dist.version, layer_plan(dist))


def distribution_for(
    version: str | None, dist: Distribution | None = None, root: Path | None = None
) -> Distribution:
    """The distribution to build from: ``dist`` if given (it must be ``version``),
    else the fetched ``version`` (default: the pinned one) from the cache."""
    if dist is None:
        return Distribution.from_cache(version, root)
    if version is not None and version != dist.version:
        raise ValueError(f"asked for Cassandra {version} but given a {dist.version} distribution")
    return dist


def ensure(
    version: str | None = None, *, dist: Distribution | None = None, root: Path | None = None
) -> str:
    """Build ``cassandra:<version>`` (default: the pinned version) unless the stored
    image is current; returns its reference. The version must be fetched
    (`hack/fetch-cassandra.sh VERSION`), else `DistributionMissing`."""
    dist = distribution_for(version, dist, root)
    if not current(dist, root):
        build_cassandra_image(dist, root)
    return image_ref(dist.version)


def versions_from_argv(argv: Sequence[str]) -> list[str]:
    """The versions named on a command line, default the pinned one; duplicates dropped."""
    versions = list(dict.fromkeys(argv)) or [pinned().cassandra]
    return [check_version(v) for v in versions]


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


def main(argv: Sequence[str] | None = None) -> None:
    for version in versions_from_argv(sys.argv[1:] if argv is None else argv):
        dist = Distribution.from_cache(version)
        if current(dist):
            print(f"{image_ref(version)}: current")
        else:
            image = build_cassandra_image(dist)
            print(f"built {image.ref} in {image.layer.parent}")


if __name__ == "__main__":
    main()
