"""Sized volumes for the `local` StorageClass: an XFS filesystem in a sparse
image file, loop-mounted at the volume's directory.

A plain directory has no size: `df` inside a pod would show the host's disk,
and growing a claim would change nothing a pod can see. So a volume is
`<volumes>/pvc-<uid>.img` (sparse: it takes the space its data takes), with
an XFS filesystem made when the volume is provisioned, and mounted at
`<volumes>/pvc-<uid>` on the host when a pod first needs it (the kubelet's
"stage" step); the container bind-mounts that directory. Growing is what a
CSI driver that allows expansion does in two steps: the "controller" step
extends the image file, the "node" step tells the loop device its new size
(`losetup -c`) and grows the mounted filesystem online (`xfs_growfs`), so a
running pod sees the new size at once, with no restart.

XFS, not ext4: growing a mounted ext4 needs CAP_SYS_RESOURCE, which these
machines do not grant even to root; `xfs_growfs` needs CAP_SYS_ADMIN only.
XFS refuses filesystems under 300 MB, so a smaller claim gets 300 MiB.
Without the tools (`xfsprogs`, installed by hack/install-tools.sh) a volume
is a plain directory, as before, and cannot grow.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
from pathlib import Path

from navigator.quantity import quantity

log = logging.getLogger(__name__)

MIN_BYTES = 300 * 2**20
BLOCK = 2**20
TOOLS = ("mkfs.xfs", "xfs_growfs", "losetup", "mount", "umount", "findmnt")


class DiskError(OSError):
    """A volume tool failed (reported and retried like any other OSError)."""


def supported() -> bool:
    return all(shutil.which(tool) for tool in TOOLS)


def image_of(path: Path) -> Path:
    """The image file behind the volume directory `path`."""
    return path.with_name(f"{path.name}.img")


def image_bytes(size: str) -> int:
    """The image size for a requested quantity: at least XFS's minimum,
    rounded up to whole MiB."""
    wanted = quantity(size) or 0
    rounded = -(-int(wanted) // BLOCK) * BLOCK
    return max(rounded, MIN_BYTES)


def is_mounted(path: Path) -> bool:
    return os.path.ismount(path)


def _extend(image: Path, size: int) -> None:
    """Make the (sparse) image file at least `size` bytes long."""
    if not image.exists() or image.stat().st_size < size:
        with image.open("ab") as f:
            f.truncate(size)


def is_sized(path: Path) -> bool:
    """Whether the volume at `path` has an image (a size); else a directory."""
    return image_of(path).exists()


async def _run(*argv: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    text = out.decode(errors="replace").strip()
    if proc.returncode != 0:
        raise DiskError(f"{' '.join(argv)}: exit {proc.returncode}: {text[-400:]}")
    return text


async def create(path: Path, size: str) -> None:
    """The volume's directory and, when the tools are here, its formatted image."""
    path.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (small local file operation)
    image = image_of(path)
    if image.exists() or not supported():
        return
    partial = image.with_name(f".{image.name}.new")
    partial.unlink(missing_ok=True)
    _extend(partial, image_bytes(size))
    await _run("mkfs.xfs", "-q", "-f", str(partial))
    partial.replace(image)


async def mount(path: Path) -> None:
    """Stage the volume: mount its image at `path` unless it is mounted, then
    grow the filesystem to the image (it may have grown while unmounted)."""
    image = image_of(path)
    if not image.exists():
        return
    path.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (small local file operation)
    if not is_mounted(path):
        await _run("mount", "-o", "loop", str(image), str(path))
        log.info("mounted %s at %s", image.name, path)
    await _grow_mounted(path)


async def grow(path: Path, size: str) -> bool:
    """Extend the image to `size` and, if mounted, the filesystem online.
    Returns whether the volume has a size that can grow (an image)."""
    image = image_of(path)
    if not image.exists():
        return False
    _extend(image, image_bytes(size))
    if is_mounted(path):
        await _grow_mounted(path)
    return True


async def _grow_mounted(path: Path) -> None:
    device = await _run("findmnt", "-n", "-o", "SOURCE", "--mountpoint", str(path))
    if device.startswith("/dev/loop"):
        await _run("losetup", "-c", device)
    await _run("xfs_growfs", str(path))


async def filesystem_bytes(path: Path) -> int:
    """The mounted filesystem's size, as `df` inside a pod reports it."""
    stat = await asyncio.to_thread(os.statvfs, path)
    return stat.f_blocks * stat.f_frsize


async def unmount(path: Path) -> None:
    if is_mounted(path):
        await _run("umount", str(path))


async def remove(path: Path) -> None:
    """Unmount and delete the volume's data and image."""
    await unmount(path)
    shutil.rmtree(path, ignore_errors=True)
    image_of(path).unlink(missing_ok=True)


def mounts_under(root: Path) -> list[Path]:
    """Volume mount points (`.../volumes/pvc-*`) below `root`, from this
    mount namespace."""
    prefix = str(root.resolve()).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            path = Path(point)
            if point.startswith(prefix) and path.parent.name == "volumes":
                found.append(path)
    return sorted(found)


def sweep(root: Path) -> list[Path]:
    """Unmount every volume mounted below `root` (a node's or a cluster's
    state), so stopping a cluster leaves no mount or loop device behind."""
    gone = []
    for point in mounts_under(root):
        done = subprocess.run(["umount", str(point)], capture_output=True, check=False)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)
        gone.append(point)
    return gone
