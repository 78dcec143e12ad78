"""A container's security context, resolved the way the kubelet and containerd do.

Pure: `resolve` turns the pod's and the container's `securityContext` and the
image's user into what the shim applies before it execs the container
command (see shim.py):

- **user**: `runAsUser`/`runAsGroup` (container first, then pod), else the
  image's `USER`; without a group, the user's primary group in the image's
  (here: the host's) `/etc/passwd`, else 0. Supplementary groups: the user's
  groups in `/etc/group`, `supplementalGroups`, then `fsGroup`.
- **runAsNonRoot**: refused before anything starts when the user would be
  root, or when the image names its user and no `runAsUser` is given (the
  kubelet cannot tell then); the kubelet's messages, reason
  `CreateContainerConfigError`.
- **capabilities**: containerd's default set, `add` and `drop` (`ALL` in
  either applied first), everything when `privileged`. They bound the
  process (its bounding set); a root process also holds them (effective and
  permitted), a non-root one holds none, as with containerd and Docker.
- **allowPrivilegeEscalation: false**: `no_new_privs`.
- **seccompProfile**: `RuntimeDefault` installs a filter (`seccomp_filter`),
  `Unconfined` (the default) none; `Localhost` profiles are refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Obj = Mapping[str, Any]

CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
    "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
    "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
    "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
    "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)  # fmt: skip
CAP = {name: number for number, name in enumerate(CAPABILITIES)}
# containerd's (and Docker's) default for a container that is not privileged.
_DEFAULT = "CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP SETPCAP"
DEFAULT_CAPABILITIES = frozenset(
    CAP[n] for n in (*_DEFAULT.split(), "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE")
)
ALL_CAPABILITIES = frozenset(range(len(CAPABILITIES)))

RUNTIME_DEFAULT = "RuntimeDefault"
UNCONFINED = "Unconfined"


class ContainerConfigError(ValueError):
    """The container cannot be created as specified (the kubelet's reason is
    `CreateContainerConfigError`; the container is not started)."""

    reason = "CreateContainerConfigError"


@dataclass(frozen=True)
class ImageUser:
    """The image's `USER`: a numeric uid (`name` empty) or a user name, and a group."""

    uid: int | None
    name: str = ""
    group: str = ""

    @classmethod
    def parse(cls, user: str) -> ImageUser:
        name, _, group = (user or "0").partition(":")
        if name.isdigit():
            return cls(int(name), "", group)
        return cls(None, name, group)


@dataclass(frozen=True)
class Security:
    """What the shim applies (see `to_json`)."""

    uid: int
    gid: int
    groups: tuple[int, ...]
    capabilities: frozenset[int]
    no_new_privs: bool = False
    seccomp: str = UNCONFINED

    @property
    def effective_capabilities(self) -> frozenset[int]:
        """What the process holds: a non-root process holds none."""
        return self.capabilities if self.uid == 0 else frozenset()

    def to_json(self) -> dict[str, Any]:
        """The shim's `security` (the seccomp filter is added by the caller)."""
        return {
            "uid": self.uid,
            "gid": self.gid,
            "groups": list(self.groups),
            "capabilities": sorted(self.capabilities),
            "effective": sorted(self.effective_capabilities),
            "no_new_privs": self.no_new_privs,
        }


def pod_name(pod: Obj) -> str:
    """The kubelet's `format.Pod`: name_namespace(uid)."""
    meta = pod.get("metadata", {})
    return f"{meta.get('name')}_{meta.get('namespace')}({meta.get('uid')})"


def _pick(key: str, ctr_sc: Obj, pod_sc: Obj) -> Any:
    value = ctr_sc.get(key)
    return pod_sc.get(key) if value is None else value


def capability_number(name: str) -> int:
    """`NET_ADMIN` or `CAP_NET_ADMIN` (any case), as containerd accepts them."""
    key = name.upper().removeprefix("CAP_")
    if key not in CAP:
        raise ContainerConfigError(f"unknown capability {name!r}")
    return CAP[key]


def capabilities(ctr_sc: Obj) -> frozenset[int]:
    """The container's capability set, in containerd's order: add ALL, drop ALL,
    then each added, then each dropped."""
    if ctr_sc.get("privileged"):
        return ALL_CAPABILITIES
    spec = ctr_sc.get("capabilities") or {}
    add, drop = list(spec.get("add") or []), list(spec.get("drop") or [])
    caps = set(DEFAULT_CAPABILITIES)
    if any(c.upper() == "ALL" for c in add):
        caps |= ALL_CAPABILITIES
    if any(c.upper() == "ALL" for c in drop):
        caps.clear()
    caps |= {capability_number(c) for c in add if c.upper() != "ALL"}
    caps -= {capability_number(c) for c in drop if c.upper() != "ALL"}
    return frozenset(caps)


def cap_mask(caps: Iterable[int]) -> int:
    return sum(1 << c for c in set(caps))


def seccomp_type(pod_sc: Obj, ctr_sc: Obj) -> str:
    """`RuntimeDefault` or `Unconfined` (privileged containers are unconfined)."""
    if ctr_sc.get("privileged"):
        return UNCONFINED
    profile = _pick("seccompProfile", ctr_sc, pod_sc) or {}
    kind = str(profile.get("type") or UNCONFINED)
    if kind == "Localhost":
        where = profile.get("localhostProfile", "")
        raise ContainerConfigError(
            f"seccomp profile Localhost {where!r}: the local node agent has no profile store;"
            " use RuntimeDefault or Unconfined"
        )
    if kind not in (RUNTIME_DEFAULT, UNCONFINED):
        raise ContainerConfigError(f"unknown seccomp profile type {kind!r}")
    return kind


def _entry(db: list[list[str]], column: int, value: str) -> list[str] | None:
    return next((f for f in db if len(f) > 3 and f[column] == value), None)


def verify_run_as_non_root(
    pod: Obj, container: Obj, image: ImageUser, run_as_user: int | None
) -> None:
    """The kubelet's `verifyRunAsNonRoot`, with its messages."""
    pod_sc = pod.get("spec", {}).get("securityContext") or {}
    ctr_sc = container.get("securityContext") or {}
    if not _pick("runAsNonRoot", ctr_sc, pod_sc):
        return
    where = f'(pod: "{pod_name(pod)}", container: {container["name"]})'
    if run_as_user is not None:
        if run_as_user == 0:
            raise ContainerConfigError(f"container's runAsUser breaks non-root policy {where}")
        return
    if image.uid == 0:
        raise ContainerConfigError(f"container has runAsNonRoot and image will run as root {where}")
    if image.uid is None:
        raise ContainerConfigError(
            f"container has runAsNonRoot and image has non-numeric user ({image.name}),"
            f" cannot verify user is non-root {where}"
        )


def resolve(
    pod: Obj,
    container: Obj,
    image_user: str,
    passwd: list[list[str]],
    group: list[list[str]],
) -> Security:
    """Everything the shim applies to `container` of `pod` (see the module doc)."""
    pod_sc = pod.get("spec", {}).get("securityContext") or {}
    ctr_sc = container.get("securityContext") or {}
    image = ImageUser.parse(image_user)
    run_as_user = _pick("runAsUser", ctr_sc, pod_sc)
    run_as_group = _pick("runAsGroup", ctr_sc, pod_sc)
    verify_run_as_non_root(pod, container, image, run_as_user)
    name = image.name
    if run_as_user is not None:
        uid = int(run_as_user)
        found = _entry(passwd, 2, str(uid))
        name = found[0] if found else ""
    elif image.uid is not None:
        uid = image.uid
        found = _entry(passwd, 2, str(uid))
        name = found[0] if found else ""
    else:
        found = _entry(passwd, 0, image.name)
        if found is None:
            raise ContainerConfigError(
                f"unable to find user {image.name}: no matching entries in passwd file"
            )
        uid = int(found[2])
    if run_as_group is not None:
        gid = int(run_as_group)
    elif run_as_user is None and image.group:
        gid = _group_id(image.group, group)
    else:
        gid = int(found[3]) if found else 0  # containerd: the user's group, else 0
    groups = [int(f[2]) for f in group if len(f) > 3 and name and name in f[3].split(",")]
    groups += [int(g) for g in pod_sc.get("supplementalGroups") or []]
    if pod_sc.get("fsGroup") is not None:
        groups.append(int(pod_sc["fsGroup"]))
    return Security(
        uid=uid,
        gid=gid,
        groups=tuple(dict.fromkeys(groups)),
        capabilities=capabilities(ctr_sc),
        no_new_privs=ctr_sc.get("allowPrivilegeEscalation") is False,
        seccomp=seccomp_type(pod_sc, ctr_sc),
    )


def _group_id(name: str, group: list[list[str]]) -> int:
    if name.isdigit():
        return int(name)
    found = next((f for f in group if len(f) > 2 and f[0] == name), None)
    if found is None:
        raise ContainerConfigError(
            f"unable to find group {name}: no matching entries in group file"
        )
    return int(found[2])


def read_db(layer: Path | None, db: str) -> list[list[str]]:
    """`/etc/passwd` or `/etc/group` as the container sees it: the image's, else the host's."""
    for base in (*((layer / "etc",) if layer else ()), Path("/etc")):
        path = base / db
        if path.is_file():
            return [line.split(":") for line in path.read_text().splitlines() if ":" in line]
    return []
