"""The local image store: images as a directory layer plus an OCI-like config.

There are no base images on these machines. A container sees the host's root
file system as its lower layer with the image's ``layer/`` tree on top, so an
image only carries what differs from the host (for Cassandra: ``/opt/cassandra``,
``/etc/cassandra`` and the data directories).

Layout, shared with the node agent::

    $NAVIGATOR_CACHE/images/<name>/<tag>/layer/        files laid over the host root
    $NAVIGATOR_CACHE/images/<name>/<tag>/config.json   {"entrypoint", "cmd", "env",
                                                        "workingDir", "user"}
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from navigator.local.paths import cache_root

CONFIG_FILE = "config.json"
LAYER_DIR = "layer"


class ImageNotFound(LookupError):
    """The reference names no image in the local store."""


@dataclass(frozen=True)
class ImageConfig:
    """The runtime defaults of an image (the subset of OCI config we honour)."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    working_dir: str = "/"
    user: str = "0"

    def to_json(self) -> dict[str, Any]:
        return {
            "entrypoint": list(self.entrypoint),
            "cmd": list(self.cmd),
            "env": list(self.env),
            "workingDir": self.working_dir,
            "user": self.user,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageConfig:
        return cls(
            entrypoint=tuple(data.get("entrypoint") or ()),
            cmd=tuple(data.get("cmd") or ()),
            env=tuple(data.get("env") or ()),
            working_dir=str(data.get("workingDir") or "/"),
            user=str(data.get("user") or "0"),
        )

    def env_dict(self) -> dict[str, str]:
        return dict(item.partition("=")[::2] for item in self.env)


@dataclass(frozen=True)
class Image:
    """An image in the store, ready for the node agent to run."""

    ref: str
    layer: Path
    config: ImageConfig = field(default_factory=ImageConfig)

    @property
    def entrypoint(self) -> tuple[str, ...]:
        return self.config.entrypoint

    @property
    def cmd(self) -> tuple[str, ...]:
        return self.config.cmd

    @property
    def env(self) -> tuple[str, ...]:
        return self.config.env

    @property
    def working_dir(self) -> str:
        return self.config.working_dir

    @property
    def user(self) -> str:
        return self.config.user


def parse_ref(ref: str) -> tuple[str, str]:
    """Split ``name[:tag]`` (tag defaults to ``latest``); registry hosts are not allowed."""
    name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
    if not name or not tag or "/" in tag or name.startswith(("/", ".")) or ".." in name:
        raise ValueError(f"invalid image reference {ref!r}")
    return name, tag


def image_dir(ref: str, root: Path | None = None) -> Path:
    """Directory of ``ref`` in the store (it may not exist)."""
    name, tag = parse_ref(ref)
    return (root or cache_root()) / "images" / name / tag


def load_image(ref: str, root: Path | None = None) -> Image:
    """Read ``ref`` from the store; raise `ImageNotFound` when it is not built."""
    directory = image_dir(ref, root)
    config_path = directory / CONFIG_FILE
    if not config_path.is_file() or not (directory / LAYER_DIR).is_dir():
        raise ImageNotFound(f"image {ref!r} is not in the local store ({directory})")
    config = ImageConfig.from_json(json.loads(config_path.read_text()))
    return Image(ref=ref, layer=directory / LAYER_DIR, config=config)


def build_image(ref: str, layer_dir: Path, config: ImageConfig, root: Path | None = None) -> Image:
    """Install ``layer_dir`` (moved, not copied) and ``config`` as ``ref``, replacing it.

    The new image is assembled next to the old one and swapped in with renames,
    so a reader never sees a half-written image.
    """
    directory = image_dir(ref, root)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.with_name(f".{directory.name}.new-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    layer_dir.rename(staging / LAYER_DIR)
    (staging / CONFIG_FILE).write_text(json.dumps(config.to_json(), indent=2) + "\n")
    old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
    if directory.exists():
        directory.rename(old)
    staging.rename(directory)
    shutil.rmtree(old, ignore_errors=True)
    return load_image(ref, root)
