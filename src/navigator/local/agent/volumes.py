"""A pod's volumes, materialised as directories under the pod's own directory.

emptyDir, configMap, secret, downwardAPI and projected (service-account token
from the TokenRequest API, configMap, secret, downwardAPI) are written here;
the files of the API-backed ones are swapped in at once (`atomic`);
persistentVolumeClaim and hostPath resolve to a directory on the host (a
`local` volume's image is mounted there first, see `disks`).
The container shim bind-mounts each at its mount path.
"""

from __future__ import annotations

import asyncio
import base64
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from navigator.local.agent import atomic, disks
from navigator.local.agent.kube import ApiError, Kube, Obj

DEFAULT_TOKEN_SECONDS = 3607
# fsGroup (the kubelet's masks and policies).
RW_MASK, RO_MASK, EXEC_MASK = 0o660, 0o440, 0o110
ALWAYS, ON_ROOT_MISMATCH = "Always", "OnRootMismatch"


class VolumeError(RuntimeError):
    """A volume cannot be set up yet (reported as FailedMount; retried)."""


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    readonly: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "readonly": self.readonly}


def field_value(pod: Obj, path: str) -> str:
    """The downward API's fieldRef paths."""
    meta, spec, status = pod["metadata"], pod.get("spec", {}), pod.get("status", {})
    if path.startswith(("metadata.labels['", "metadata.annotations['")):
        kind, _, key = path[len("metadata.") :].partition("['")
        return str(meta.get(kind, {}).get(key.rstrip("']"), ""))
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": status.get("podIP"),
        "status.hostIP": status.get("hostIP"),
        "status.podIPs": ",".join(i["ip"] for i in status.get("podIPs", [])),
        "status.hostIPs": ",".join(i["ip"] for i in status.get("hostIPs", [])),
    }
    if path in ("metadata.labels", "metadata.annotations"):
        items = meta.get(path.split(".")[1], {})
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    if path not in simple:
        raise VolumeError(f"unsupported fieldRef {path}")
    return str(simple[path] or "")


def _select(data: dict[str, bytes], items: list[Obj] | None) -> dict[str, bytes]:
    if not items:
        return data
    return {i["path"]: data[i["key"]] for i in items if i["key"] in data}


class VolumeBuilder:
    """Materialises one pod's volumes with the node's identity."""

    def __init__(self, kube: Kube, pod: Obj, pod_dir: Path, ip: str) -> None:
        self.kube = kube
        self.pod = pod
        self.ns = pod["metadata"]["namespace"]
        self.dir = pod_dir / "volumes"
        self.pod_with_ip = {**pod, "status": {**pod.get("status", {}), "podIP": ip}}
        self._tokens: dict[str, tuple[float, str]] = {}  # key -> (renew after, token)
        pod_sc = pod.get("spec", {}).get("securityContext") or {}
        self.fs_group_policy = str(pod_sc.get("fsGroupChangePolicy") or ALWAYS)

    async def build_all(self, fs_group: int | None) -> dict[str, str]:
        out = {}
        for vol in self.pod.get("spec", {}).get("volumes", []):
            out[vol["name"]] = await self.build(vol, fs_group)
        return out

    async def build(self, vol: Obj, fs_group: int | None) -> str:
        name = vol["name"]
        target = self.dir / name
        if "persistentVolumeClaim" in vol:
            return await self._pvc(vol["persistentVolumeClaim"]["claimName"], fs_group)
        if "hostPath" in vol:
            path = Path(vol["hostPath"]["path"])
            if vol["hostPath"].get("type") in ("DirectoryOrCreate",):
                path.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (small local file operation)
            return str(path)
        if "emptyDir" in vol:
            target.mkdir(parents=True, exist_ok=True)
            target.chmod(0o777)  # the kubelet's mode: any user of the pod may write
            set_ownership(target, fs_group, policy=self.fs_group_policy)
            return str(target)
        files: dict[str, bytes]
        mode = 0o644
        if "configMap" in vol:
            files = await self._configmap(vol["configMap"])
            mode = vol["configMap"].get("defaultMode", mode)
        elif "secret" in vol:
            src = {**vol["secret"], "name": vol["secret"]["secretName"]}
            files = await self._secret(src)
            mode = vol["secret"].get("defaultMode", mode)
        elif "downwardAPI" in vol:
            files = self._downward(vol["downwardAPI"].get("items", []))
            mode = vol["downwardAPI"].get("defaultMode", mode)
        elif "projected" in vol:
            files = {}
            for source in vol["projected"].get("sources", []):
                files.update(await self._projection(source))
            mode = vol["projected"].get("defaultMode", mode)
        else:
            raise VolumeError(f"volume {name}: unsupported volume type")
        atomic.write(target, files, mode)
        set_ownership(target, fs_group, readonly=True)
        return str(target)

    async def _projection(self, source: Obj) -> dict[str, bytes]:
        if "serviceAccountToken" in source:
            sat = source["serviceAccountToken"]
            return {sat["path"]: (await self.token(sat)).encode()}
        if "configMap" in source:
            return await self._configmap(source["configMap"])
        if "secret" in source:
            return await self._secret(source["secret"])
        if "downwardAPI" in source:
            return self._downward(source["downwardAPI"].get("items", []))
        return {}

    async def _configmap(self, ref: Obj) -> dict[str, bytes]:
        obj = await self._get(f"/api/v1/namespaces/{self.ns}/configmaps/{ref['name']}", ref)
        data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        return _select(data, ref.get("items"))

    async def _secret(self, ref: Obj) -> dict[str, bytes]:
        obj = await self._get(f"/api/v1/namespaces/{self.ns}/secrets/{ref['name']}", ref)
        data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        return _select(data, ref.get("items"))

    async def _get(self, path: str, ref: Obj) -> Obj:
        try:
            return await self.kube.get(path)
        except ApiError as err:
            if err.status == 404 and ref.get("optional"):
                return {}
            raise VolumeError(f"{path.rsplit('/', 2)[-2][:-1]} {ref['name']!r}: {err}") from err

    def _downward(self, items: list[Obj]) -> dict[str, bytes]:
        out = {}
        for item in items:
            if "fieldRef" in item:
                out[item["path"]] = field_value(self.pod_with_ip, item["fieldRef"]["fieldPath"])
        return {k: v.encode() for k, v in out.items()}

    async def refresh(self, fs_group: int | None) -> None:
        """Rewrite the API-backed volumes (configMap, secret, downwardAPI, projected), as
        the kubelet's periodic sync does; tokens are renewed at 80 % of their lifetime."""
        for vol in self.pod.get("spec", {}).get("volumes", []):
            if {"configMap", "secret", "downwardAPI", "projected"} & vol.keys():
                await self.build(vol, fs_group)

    async def token(self, sat: Obj) -> str:
        """A real, pod-bound token from the TokenRequest API (RBAC applies to the pod)."""
        key = f"{sat.get('audience', '')}/{sat.get('expirationSeconds', '')}"
        cached = self._tokens.get(key)
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1]
        token = await self._request_token(sat)
        lifetime = float(sat.get("expirationSeconds", DEFAULT_TOKEN_SECONDS))
        self._tokens[key] = (time.monotonic() + 0.8 * lifetime, token)
        return token

    async def _request_token(self, sat: Obj) -> str:
        meta = self.pod["metadata"]
        sa = self.pod.get("spec", {}).get("serviceAccountName") or "default"
        spec: Obj = {
            "expirationSeconds": sat.get("expirationSeconds", DEFAULT_TOKEN_SECONDS),
            "boundObjectRef": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta["name"],
                "uid": meta["uid"],
            },
        }
        if sat.get("audience"):
            spec["audiences"] = [sat["audience"]]
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        try:
            resp = await self.kube.create(
                f"/api/v1/namespaces/{self.ns}/serviceaccounts/{sa}/token", body
            )
        except ApiError as err:
            raise VolumeError(f"service account token for {sa!r}: {err}") from err
        return str(resp["status"]["token"])

    async def _pvc(self, claim: str, fs_group: int | None) -> str:
        try:
            pvc = await self.kube.get(
                f"/api/v1/namespaces/{self.ns}/persistentvolumeclaims/{claim}"
            )
        except ApiError as err:
            raise VolumeError(f"persistentvolumeclaim {claim!r}: {err}") from err
        pv_name = pvc.get("spec", {}).get("volumeName")
        if not pv_name or pvc.get("status", {}).get("phase") != "Bound":
            raise VolumeError(f"persistentvolumeclaim {claim!r} is not bound yet")
        pv = await self.kube.get(f"/api/v1/persistentvolumes/{pv_name}")
        spec = pv.get("spec", {})
        path = (spec.get("local") or spec.get("hostPath") or {}).get("path")
        if not path:
            raise VolumeError(f"persistentvolume {pv_name}: neither local nor hostPath")
        Path(path).mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (small local file operation)
        try:
            await disks.mount(Path(path))
        except disks.DiskError as err:
            raise VolumeError(f"persistentvolume {pv_name}: {err}") from err
        if spec.get("local"):  # as the kubelet: a hostPath volume's ownership is left alone
            await asyncio.to_thread(
                set_ownership, Path(path), fs_group, policy=self.fs_group_policy
            )
        return str(path)


def requires_change(root: Path, gid: int, *, readonly: bool = False) -> bool:
    """`OnRootMismatch`: does the volume's root lack the group, its permissions
    or the setgid bit? (The kubelet's `requiresPermissionChange`.)"""
    try:
        st = root.stat()
    except OSError:
        return True
    want = (RO_MASK if readonly else RW_MASK) | EXEC_MASK
    if st.st_gid != gid or not stat.S_ISDIR(st.st_mode):
        return True
    return (st.st_mode & want) != want or not st.st_mode & stat.S_ISGID


def set_ownership(
    root: Path, gid: int | None, *, readonly: bool = False, policy: str = ALWAYS
) -> None:
    """fsGroup, as the kubelet's `SetVolumeOwnership` does it: every file and
    directory of the volume (symlinks not followed) gets the group, group
    read and write (read only for a read-only volume), and directories also
    group search and setgid, so that new files inherit the group. With
    `OnRootMismatch` nothing is done when the volume's root is already right."""
    if gid is None:
        return
    if policy == ON_ROOT_MISMATCH and not requires_change(root, gid, readonly=readonly):
        return
    mask = RO_MASK if readonly else RW_MASK
    for path in _walk(root):
        st = path.lstat()
        os.chown(path, -1, gid, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            continue
        extra = mask | (EXEC_MASK | stat.S_ISGID if stat.S_ISDIR(st.st_mode) else 0)
        path.chmod(stat.S_IMODE(st.st_mode) | extra)


def _walk(root: Path) -> list[Path]:
    out = [root]
    for dirpath, dirnames, filenames in os.walk(root):
        out += [Path(dirpath, n) for n in (*dirnames, *filenames)]
    return out
