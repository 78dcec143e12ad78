"""Writing an API-backed volume so a reader never sees half an update.

The kubelet's way: each version of the files goes into a fresh hidden
directory `..<time>`, a `..data` symlink names the current one, and every
visible entry is a symlink through `..data`. Swapping `..data` is one
`rename`, so a reader that opens `tls.crt` and then `tls.key` gets both from
the same version (a certificate with its own key), and a key removed from
the Secret disappears from the volume.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

DATA = "..data"


def current(directory: Path) -> dict[str, bytes] | None:
    """The files `..data` names now (None: no version yet)."""
    link = directory / DATA
    if not link.is_symlink():
        return None
    root = directory / os.readlink(link)
    out: dict[str, bytes] = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath, name)
            out[str(path.relative_to(root))] = path.read_bytes()
    return out


def visible(files: dict[str, bytes]) -> set[str]:
    """The top-level names a reader sees: a nested path shows its first part."""
    return {rel.split("/", 1)[0] for rel in files}


def write(directory: Path, files: dict[str, bytes], mode: int) -> bool:
    """Make `directory` show exactly `files` (each with `mode`); False when it
    already did, so an unchanged Secret is not rewritten at every sync (a
    pod's volumes, modes included, cannot change, so the content decides)."""
    directory.mkdir(parents=True, exist_ok=True)
    if current(directory) == files:
        return False
    version = f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
    staged = directory / version
    staged.mkdir()
    for rel, data in files.items():
        path = staged / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
    swap = directory / "..data_tmp"
    swap.unlink(missing_ok=True)
    swap.symlink_to(version)
    swap.replace(directory / DATA)
    names = visible(files)
    for name in names:
        _link_through_data(directory / name, name)
    for entry in directory.iterdir():
        if entry.name.startswith(".."):
            if entry.name not in (DATA, version) and entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
        elif entry.name not in names:
            _remove(entry)
    return True


def _link_through_data(path: Path, name: str) -> None:
    target = f"{DATA}/{name}"
    if path.is_symlink() and os.readlink(path) == target:
        return
    _remove(path)
    path.symlink_to(target)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
