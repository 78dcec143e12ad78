"""The node agent's securityContext: user, runAsNonRoot, capabilities,
no_new_privs, the RuntimeDefault seccomp filter, and fsGroup on volumes."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from navigator.local.agent import seccomp, shim
from navigator.local.agent.security import (
    CAP,
    DEFAULT_CAPABILITIES,
    ContainerConfigError,
    Security,
    capabilities,
    resolve,
)
from navigator.local.agent.volumes import requires_change, set_ownership

pytestmark = pytest.mark.unit

PASSWD = [
    ["root", "x", "0", "0", "root", "/root", "/bin/bash"],
    ["app", "x", "1000", "1000", "", "/home/app", "/bin/sh"],
    ["cassandra", "x", "999", "999", "", "/var/lib/cassandra", "/bin/sh"],
]
GROUP = [
    ["root", "x", "0", ""],
    ["app", "x", "1000", ""],
    ["audio", "x", "29", "app,other"],
]


def pod(pod_sc: dict[str, Any] | None = None, **ctr_sc: Any) -> tuple[dict[str, Any], Any]:
    container = {"name": "db", "securityContext": ctr_sc}
    obj = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u-1"},
        "spec": {"securityContext": pod_sc or {}, "containers": [container]},
    }
    return obj, container


def sec_of(image_user: str = "0", pod_sc: dict[str, Any] | None = None, **ctr: Any) -> Security:
    obj, container = pod(pod_sc, **ctr)
    return resolve(obj, container, image_user, PASSWD, GROUP)


def caps(*names: str) -> frozenset[int]:
    return frozenset(CAP[n] for n in names)


def test_the_user_comes_from_the_security_context_then_the_image() -> None:
    assert (sec_of().uid, sec_of().gid) == (0, 0)
    assert (sec_of("cassandra").uid, sec_of("cassandra").gid) == (999, 999)
    assert (sec_of("1000:29").uid, sec_of("1000:29").gid) == (1000, 29)
    # runAsUser without runAsGroup: that user's primary group, else 0 (containerd).
    assert sec_of(pod_sc={"runAsUser": 1000}).gid == 1000
    assert sec_of(pod_sc={"runAsUser": 4242}).gid == 0
    # The container's context wins over the pod's.
    s = sec_of(pod_sc={"runAsUser": 1000, "runAsGroup": 3000}, runAsUser=999)
    assert (s.uid, s.gid) == (999, 3000)
    # Supplementary: the user's groups in /etc/group, supplementalGroups, fsGroup.
    s = sec_of(pod_sc={"runAsUser": 1000, "supplementalGroups": [5], "fsGroup": 2000})
    assert s.groups == (29, 5, 2000)


def test_an_unknown_image_user_is_a_config_error_unless_run_as_user_is_given() -> None:
    with pytest.raises(ContainerConfigError, match="unable to find user nobody-here"):
        sec_of("nobody-here")
    assert sec_of("nobody-here", pod_sc={"runAsUser": 5}).uid == 5


@pytest.mark.parametrize(
    ("image_user", "pod_sc", "message"),
    [
        ("0", {"runAsNonRoot": True}, "container has runAsNonRoot and image will run as root"),
        ("", {"runAsNonRoot": True}, "container has runAsNonRoot and image will run as root"),
        ("1000", {"runAsNonRoot": True, "runAsUser": 0}, "container's runAsUser breaks non-root"),
        (
            "cassandra",
            {"runAsNonRoot": True},
            "container has runAsNonRoot and image has non-numeric user (cassandra), cannot"
            " verify user is non-root",
        ),
    ],
)
def test_run_as_non_root_refuses_root_with_the_kubelets_messages(
    image_user: str, pod_sc: dict[str, Any], message: str
) -> None:
    with pytest.raises(ContainerConfigError) as err:
        sec_of(image_user, pod_sc)
    assert str(err.value).startswith(message)
    assert str(err.value).endswith('(pod: "p_ns(u-1)", container: db)')
    assert err.value.reason == "CreateContainerConfigError"


def test_run_as_non_root_admits_non_root_users() -> None:
    assert sec_of("1000", {"runAsNonRoot": True}).uid == 1000
    assert sec_of("0", {"runAsNonRoot": True, "runAsUser": 999}).uid == 999
    # The container may relax the pod's rule.
    assert sec_of("0", {"runAsNonRoot": True}, runAsNonRoot=False).uid == 0


def test_capabilities_follow_containerd() -> None:
    assert capabilities({}) == DEFAULT_CAPABILITIES
    assert len(DEFAULT_CAPABILITIES) == 14
    assert capabilities({"capabilities": {"drop": ["ALL"]}}) == frozenset()
    only = capabilities({"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}})
    assert only == caps("NET_BIND_SERVICE")
    assert capabilities({"capabilities": {"add": ["ALL"], "drop": ["CAP_SYS_ADMIN"]}}) == (
        frozenset(range(len(CAP))) - caps("SYS_ADMIN")
    )
    assert capabilities({"capabilities": {"add": ["cap_net_admin"], "drop": ["MKNOD"]}}) == (
        (DEFAULT_CAPABILITIES | caps("NET_ADMIN")) - caps("MKNOD")
    )
    assert capabilities({"privileged": True}) == frozenset(range(len(CAP)))
    with pytest.raises(ContainerConfigError, match="unknown capability 'SUPERPOWER'"):
        capabilities({"capabilities": {"add": ["SUPERPOWER"]}})


def test_a_non_root_process_holds_no_capabilities_but_is_bounded_by_them() -> None:
    root = sec_of(capabilities={"add": ["NET_ADMIN"]})
    assert root.effective_capabilities == root.capabilities
    user = sec_of(pod_sc={"runAsUser": 1000}, capabilities={"add": ["NET_ADMIN"]})
    assert user.effective_capabilities == frozenset()
    assert CAP["NET_ADMIN"] in user.to_json()["capabilities"]
    assert user.to_json()["effective"] == []


def test_no_new_privs_and_seccomp_come_from_the_context() -> None:
    assert not sec_of().no_new_privs
    assert not sec_of(allowPrivilegeEscalation=True).no_new_privs
    assert sec_of(allowPrivilegeEscalation=False).no_new_privs
    assert sec_of().seccomp == "Unconfined"
    runtime_default = {"seccompProfile": {"type": "RuntimeDefault"}}
    assert sec_of(pod_sc=runtime_default).seccomp == "RuntimeDefault"
    assert sec_of(pod_sc=runtime_default, seccompProfile={"type": "Unconfined"}).seccomp == (
        "Unconfined"
    )
    assert sec_of(pod_sc=runtime_default, privileged=True).seccomp == "Unconfined"
    with pytest.raises(ContainerConfigError, match="Localhost"):
        sec_of(seccompProfile={"type": "Localhost", "localhostProfile": "x.json"})


X86 = seccomp.ARCHES["x86_64"]
ARM = seccomp.ARCHES["aarch64"]
ALLOW, EPERM = seccomp.RET_ALLOW, seccomp.RET_ERRNO | errno.EPERM


def run(prog: list[seccomp.Insn], name: str, *args: int, arch: seccomp.Arch = X86) -> int:
    return seccomp.evaluate(prog, arch.numbers[name], arch.audit, args)


@pytest.mark.parametrize("arch", [X86, ARM], ids=lambda a: a.name)
def test_the_runtime_default_filter_refuses_what_the_runtime_refuses(arch: seccomp.Arch) -> None:
    prog = seccomp.program(DEFAULT_CAPABILITIES, arch.name)
    for name in ("mount", "unshare", "setns", "bpf", "keyctl", "kexec_load", "init_module"):
        assert run(prog, name, arch=arch) == EPERM, name
    for name in ("setns", "personality", "clone"):
        assert name in arch.numbers
    assert run(prog, "clone3", arch=arch) == seccomp.RET_ERRNO | errno.ENOSYS
    # clone: threads and forks pass, new namespaces do not.
    assert run(prog, "clone", 0x3D0F00, arch=arch) == ALLOW  # pthread_create's flags
    assert run(prog, "clone", 0x01200011, arch=arch) == ALLOW  # fork
    assert run(prog, "clone", 0x10000000 | 0x11, arch=arch) == EPERM  # CLONE_NEWUSER
    assert run(prog, "clone", 0x40000000, arch=arch) == EPERM  # CLONE_NEWNET
    assert run(prog, "personality", 0, arch=arch) == ALLOW
    assert run(prog, "personality", 0xFFFFFFFF, arch=arch) == ALLOW
    assert run(prog, "personality", 0x0040000, arch=arch) == EPERM  # ADDR_NO_RANDOMIZE
    # Everything else passes: read (0 / 63), openat, execve, setuid...
    for nr in range(0, 300):
        if nr not in arch.numbers.values():
            assert seccomp.evaluate(prog, nr, arch.audit) == ALLOW, nr
    # Another ABI is refused.
    assert seccomp.evaluate(prog, 3, 0x40000003) == EPERM  # i386
    if arch is X86:
        assert seccomp.evaluate(prog, 0x40000000 | 1, arch.audit) == EPERM  # x32


def test_capabilities_unlock_their_calls_in_the_filter() -> None:
    admin = seccomp.program(DEFAULT_CAPABILITIES | caps("SYS_ADMIN"), "x86_64")
    for name in ("mount", "unshare", "setns", "bpf", "clone3"):
        assert run(admin, name) == ALLOW, name
    assert run(admin, "clone", 0x10000000) == ALLOW
    assert run(admin, "keyctl") == EPERM  # never unlocked
    timed = seccomp.program(caps("SYS_TIME"), "x86_64")
    assert run(timed, "settimeofday") == ALLOW
    assert "settimeofday" in seccomp.refused(DEFAULT_CAPABILITIES)
    assert "reboot" not in seccomp.refused(caps("SYS_BOOT"))


def test_an_unknown_machine_is_refused() -> None:
    with pytest.raises(seccomp.UnsupportedArch, match="riscv64"):
        seccomp.program(DEFAULT_CAPABILITIES, "riscv64")


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@needs_root
def test_the_shim_becomes_the_container_process() -> None:
    """`shim.become` in a child process: what /proc/self/status then says."""
    sec = sec_of(
        pod_sc={"runAsUser": 4242, "runAsGroup": 3000, "fsGroup": 2000},
        capabilities={"drop": ["ALL"]},
        allowPrivilegeEscalation=False,
    ).to_json()
    sec["seccomp"] = seccomp.program(frozenset())
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import shim;"
        "shim.become(json.loads(sys.argv[2]));"
        "print(open('/proc/self/status').read())"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code, str(Path(shim.__file__).parent), json.dumps(sec)],
        capture_output=True,
        text=True,
        check=True,
    )
    status = dict(line.split(":\t", 1) for line in done.stdout.splitlines() if ":\t" in line)
    assert status["Uid"].split() == ["4242"] * 4
    assert status["Gid"].split() == ["3000"] * 4
    assert status["Groups"].split() == ["2000"]
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[key], 16) == 0, key
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Seccomp"].strip() == "2"


@needs_root
def test_fs_group_gives_the_volume_to_the_group_like_the_kubelet(tmp_path: Path) -> None:
    root = tmp_path / "vol"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "file").write_text("x")
    (root / "sub" / "file").chmod(0o600)
    (root / "link").symlink_to("/etc/hostname")
    root.chmod(0o755)
    assert requires_change(root, 4321)
    set_ownership(root, 4321)
    for path in (root, root / "sub", root / "sub" / "file", root / "link"):
        assert path.lstat().st_gid == 4321, path
    assert stat.S_IMODE((root / "sub" / "file").stat().st_mode) == 0o660
    assert stat.S_IMODE((root / "sub").stat().st_mode) == 0o2775
    assert not requires_change(root, 4321)
    assert Path("/etc/hostname").stat().st_gid != 4321  # the link was not followed
    # OnRootMismatch: a right root means nothing is walked.
    (root / "new").write_text("y")
    os.chown(root / "new", -1, 0)
    set_ownership(root, 4321, policy="OnRootMismatch")
    assert (root / "new").stat().st_gid == 0
    set_ownership(root, 4321)
    assert (root / "new").stat().st_gid == 4321
    # Read-only volumes (configMap, secret, ...) get group read only.
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "key").write_text("k")
    (ro / "key").chmod(0o400)
    set_ownership(ro, 4321, readonly=True)
    assert stat.S_IMODE((ro / "key").stat().st_mode) == 0o440
