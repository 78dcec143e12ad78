"""The local ``navigator-cassandra:<version>`` image (``cassandra:<version>`` plus the
pilot) and the operator's ``navigator:<package version>`` image.

It is the local twin of ``deploy/docker/cassandra/Dockerfile``: the Cassandra
layer of `navigator.cassandra.image`, a relocatable virtual environment with
Navigator installed at ``/opt/navigator`` (its console script linked into
``/usr/local/bin``) and the Jolokia agent at ``/opt/navigator/jolokia-agent.jar``.
The operator's pods run ``navigator pilot cassandra`` from it, on the local
cluster exactly as on a real one.

The project is installed from a wheel built from the working tree, with the
dependency versions of ``uv.lock``. A stamp of the sources makes a rebuild a
no-op when nothing changed, so test fixtures may call `ensure` freely.

One image per fetched Cassandra version: ``ensure()`` is the pinned
``CASSANDRA_VERSION``, ``ensure("5.0.8")`` (``pinned().cassandra_upgrade``)
the upgrade target. ``python -m navigator.cassandra.pilot_image [VERSION...]``
ensures those (default: the pinned one) and the operator's image.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from navigator.cassandra.distribution import Distribution
from navigator.cassandra.image import (
    BASE_PATH,
    CASSANDRA_HOME,
    distribution_for,
    image_config,
    layer_plan,
    link_tree,
    materialize,
    versions_from_argv,
)
from navigator.local.images import Image, ImageConfig, build_image, image_dir, load_image
from navigator.local.paths import cache_root
from navigator.versions import pinned

IMAGE_NAME = "navigator-cassandra"
PILOT_HOME = "/opt/navigator"
JOLOKIA_JAR = f"{PILOT_HOME}/jolokia-agent.jar"
STAMP = f"{PILOT_HOME}/SOURCE-STAMP"
REPO_ROOT = Path(__file__).resolve().parents[3]
STAMPED = ("pyproject.toml", "uv.lock", "README.md")
PYTHON_HOME = "/opt/python"
# The dependency group (pyproject.toml) installed beside Navigator: what the
# official image ships and the host-based local image lacks (cqlsh, on the
# PATH from the pilot's bin/). nodetool is the Cassandra layer's bin/nodetool.
IMAGE_GROUP = "image"


def image_ref(version: str) -> str:
    return f"{IMAGE_NAME}:{version}"


def pilot_image_config() -> ImageConfig:
    """The Cassandra image's runtime defaults, with the pilot on the PATH (and
    the image's own interpreter's library: see `own_interpreter`)."""
    base = image_config()
    env = tuple(e for e in base.env if not e.startswith("PATH="))
    return replace(
        base,
        env=(
            *env,
            f"PATH={PILOT_HOME}/bin:{CASSANDRA_HOME}/bin:{BASE_PATH}",
            f"LD_LIBRARY_PATH={PYTHON_HOME}/lib",
        ),
    )


def source_stamp(repo: Path, extra: str) -> str:
    """A digest of everything that ends up in the image's virtual environment."""
    digest = hashlib.sha256(extra.encode())
    files = [repo / name for name in STAMPED]
    files += sorted(
        p for p in (repo / "src").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    for path in files:
        digest.update(str(path.relative_to(repo)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def jolokia_jar() -> Path:
    version = pinned().jolokia
    jar = cache_root() / "jolokia" / version / "jolokia-agent.jar"
    if not jar.is_file():
        raise FileNotFoundError(f"{jar} is missing: run `make cassandra` (hack/fetch-jolokia.sh)")
    return jar


def _uv() -> str:
    return os.environ.get("UV", "uv")


def _run(*argv: str, cwd: Path | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def install_navigator(venv: Path, work: Path, repo: Path) -> None:
    """A relocatable venv at ``venv`` with Navigator, its locked dependencies
    and the `IMAGE_GROUP`'s tools."""
    python = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    _run(_uv(), "venv", "--quiet", "--relocatable", "--python", python, str(venv))
    wheels = work / "wheels"
    _run(_uv(), "build", "--quiet", "--wheel", "--out-dir", str(wheels), str(repo))
    requirements = work / "requirements.txt"
    requirements.write_text(
        _run(
            _uv(),
            "export",
            "--frozen",
            "--no-dev",
            "--group",
            IMAGE_GROUP,
            "--no-hashes",
            "--no-emit-project",
            "--no-header",
            cwd=repo,
        )
    )
    wheel = next(wheels.glob("navigator-*.whl"))
    _run(
        _uv(),
        "pip",
        "install",
        "--quiet",
        "--link-mode",
        "copy",
        # Its users may not write __pycache__ (the pilot runs as the cassandra
        # user): compiled here, the pilot does not recompile at every start.
        "--compile-bytecode",
        "--python",
        str(venv / "bin" / "python"),
        "-r",
        str(requirements),
        str(wheel),
    )


def build_pilot_image(
    dist: Distribution, repo: Path = REPO_ROOT, root: Path | None = None
) -> Image:
    jar = jolokia_jar()
    stamp = source_stamp(repo, f"{dist.version} {jar.stat().st_size}")
    directory = image_dir(image_ref(dist.version), root)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory.parent, prefix=".build-") as tmp:
        layer = Path(tmp) / "layer"
        materialize(layer_plan(dist), layer)
        home = layer / PILOT_HOME.lstrip("/")
        install_navigator(home, Path(tmp), repo)
        # The pilot runs as the cassandra user, who may not reach the build
        # machine's interpreter (under /root, say): the image has its own.
        own_interpreter(layer, home)
        (layer / JOLOKIA_JAR.lstrip("/")).write_bytes(jar.read_bytes())
        link = layer / "usr/local/bin/navigator"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(f"{PILOT_HOME}/bin/navigator")
        (layer / STAMP.lstrip("/")).write_text(stamp + "\n")
        return build_image(image_ref(dist.version), layer, pilot_image_config(), root)


def current(dist: Distribution, repo: Path = REPO_ROOT, root: Path | None = None) -> bool:
    """Is the stored image built from these very sources?"""
    try:
        image = load_image(image_ref(dist.version), root)
        stamp = (image.layer / STAMP.lstrip("/")).read_text().strip()
    except (LookupError, OSError):
        return False
    jar = jolokia_jar()
    return stamp == source_stamp(repo, f"{dist.version} {jar.stat().st_size}")


def ensure(
    version: str | None = None,
    repo: Path = REPO_ROOT,
    *,
    dist: Distribution | None = None,
    root: Path | None = None,
) -> str:
    """Build ``navigator-cassandra:<version>`` (default: the pinned version) unless
    it is current; returns its reference. The version must be fetched
    (`make cassandra` fetches every pinned one), else `DistributionMissing`."""
    dist = distribution_for(version, dist, root)
    if not current(dist, repo, root):
        build_pilot_image(dist, repo, root)
    return image_ref(dist.version)


OPERATOR_IMAGE = "navigator"


def operator_image_ref() -> str:
    """``navigator:<package version>``: what deploy/operator runs."""
    from navigator import __version__

    return f"{OPERATOR_IMAGE}:{__version__}"


def operator_image_config() -> ImageConfig:
    # The interpreter may link its libpython by an absolute RUNPATH into a
    # home the container's non-root user cannot read: point the loader at the
    # image's own copy.
    return ImageConfig(
        entrypoint=("navigator",),
        cmd=("--help",),
        env=(f"PATH={PILOT_HOME}/bin:{BASE_PATH}", f"LD_LIBRARY_PATH={PYTHON_HOME}/lib"),
        working_dir="/",
        user="65532",
    )


def own_interpreter(layer: Path, venv: Path) -> None:
    """Give the image its own copy of the base interpreter at /opt/python (hard
    links where possible) and point the venv at it: the operator runs as a
    non-root user, who may not traverse the host's interpreter home."""
    base = Path(os.path.realpath(sys.base_prefix))
    link_tree(base, layer / PYTHON_HOME.lstrip("/"))
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for link in venv.glob("bin/python*"):
        if link.is_symlink():
            link.unlink()
            link.symlink_to(f"{PYTHON_HOME}/bin/{version}")
    cfg = venv / "pyvenv.cfg"
    lines = [
        f"home = {PYTHON_HOME}/bin" if line.startswith("home") else line
        for line in cfg.read_text().splitlines()
    ]
    cfg.write_text("\n".join(lines) + "\n")


def build_operator_image(repo: Path = REPO_ROOT, root: Path | None = None) -> Image:
    """The operator's image: only the virtual environment, no database."""
    stamp = source_stamp(repo, "operator")
    directory = image_dir(operator_image_ref(), root)
    try:
        image = load_image(operator_image_ref(), root)
        if (image.layer / STAMP.lstrip("/")).read_text().strip() == stamp:
            return image
    except (LookupError, OSError):
        pass
    directory.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory.parent, prefix=".build-") as tmp:
        layer = Path(tmp) / "layer"
        venv = layer / PILOT_HOME.lstrip("/")
        install_navigator(venv, Path(tmp), repo)
        own_interpreter(layer, venv)
        link = layer / "usr/local/bin/navigator"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(f"{PILOT_HOME}/bin/navigator")
        (layer / STAMP.lstrip("/")).write_text(stamp + "\n")
        return build_image(operator_image_ref(), layer, operator_image_config(), root)


def main(argv: Sequence[str] | None = None) -> None:
    for version in versions_from_argv(sys.argv[1:] if argv is None else argv):
        dist = Distribution.from_cache(version)
        if current(dist):
            print(f"{image_ref(version)}: current")
        else:
            image = build_pilot_image(dist)
            print(json.dumps({"built": image.ref, "in": str(image.layer.parent)}))
    operator = build_operator_image()
    print(f"{operator.ref}: ready")


if __name__ == "__main__":
    main()
