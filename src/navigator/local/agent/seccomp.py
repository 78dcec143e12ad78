"""The seccomp filter the node agent installs for `seccompProfile: RuntimeDefault`.

containerd's and Docker's default profile is an allowlist of about 350 system
calls, with a few allowed only to holders of a capability or with certain
arguments. This filter is its mirror image, a denylist: the calls that profile
refuses to a container without the capability are refused here too, with
the same errors, and everything else is allowed. It is a classic BPF program
(`program`), built here and installed by the shim just before the container
command runs (after `no_new_privs` when that is set, else while the shim still
holds CAP_SYS_ADMIN). Pure: `evaluate` runs a program on one call, for tests.

Refused (EPERM unless said otherwise), unless the capability in brackets is
in the container's set:

- kernel modules, kexec, reboot, swap: `init_module`, `finit_module`,
  `delete_module` [SYS_MODULE], `kexec_load`, `kexec_file_load`, `reboot`
  [SYS_BOOT], `swapon`, `swapoff`;
- mounts and namespaces: `mount`, `umount2`, `pivot_root`, the new mount API
  (`open_tree`, `move_mount`, `fsopen`, `fsconfig`, `fsmount`, `fspick`,
  `mount_setattr`), `unshare`, `setns`, `clone` with a namespace flag,
  `clone3` (ENOSYS, so the C library falls back to `clone`) [SYS_ADMIN];
- kernel interfaces: `bpf` [SYS_ADMIN or BPF], `perf_event_open` [SYS_ADMIN
  or PERFMON], `userfaultfd`, `keyctl`, `add_key`, `request_key`,
  `lookup_dcookie`, `quotactl`, `quotactl_fd`, `fanotify_init`, `syslog`
  [SYS_ADMIN or SYSLOG], `io_uring_setup`, `io_uring_enter`,
  `io_uring_register`, `open_by_handle_at` [DAC_READ_SEARCH], `acct`
  [SYS_PACCT], `sethostname`, `setdomainname` [SYS_ADMIN], `vhangup`
  [SYS_TTY_CONFIG];
- clocks: `settimeofday`, `clock_settime`, `clock_adjtime` [SYS_TIME];
- NUMA: `mbind`, `set_mempolicy`, `get_mempolicy`, `move_pages` [SYS_NICE];
- x86-64 only: `iopl`, `ioperm` [SYS_RAWIO] and the obsolete `uselib`,
  `ustat`, `sysfs`, `_sysctl`, `create_module`, `get_kernel_syms`,
  `query_module`, `nfsservctl`, `afs_syscall`;
- `personality` with any argument but 0x0, 0x8, 0x20000, 0x20008 and
  0xffffffff (the low 32 bits are compared);
- every call of another ABI (i386 or x32 on x86-64, 32-bit ARM on arm64).

Not done (the runtime default does these): the `socket(AF_VSOCK)` refusal,
argument checks beyond `clone` and `personality`, and the profile's own
exceptions for very old kernels. Only x86-64 and arm64 are known; on other
machines `program` raises, and the agent refuses the container.
"""

from __future__ import annotations

import errno
import platform
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from navigator.local.agent.security import CAP

# Classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
LD_W_ABS = 0x20
JEQ_K = 0x15
JGE_K = 0x35
JSET_K = 0x45
RET_K = 0x06
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
# struct seccomp_data: nr at 0, arch at 4, args at 16 (8 bytes each, little-endian).
OFF_NR, OFF_ARCH, OFF_ARG0 = 0, 4, 16
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET.
CLONE_NAMESPACES = 0x7E020000
PERSONALITY_ALLOWED = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

Insn = tuple[int, int, int, int]  # code, jt, jf, k


@dataclass(frozen=True)
class Arch:
    name: str
    audit: int  # AUDIT_ARCH_*
    numbers: dict[str, int]
    foreign_from: int | None = None  # numbers at or above: another ABI (x32)


_COMMON = {
    # name: (x86-64, arm64); None where the call does not exist.
    "acct": (163, 89), "add_key": (248, 217), "bpf": (321, 280),
    "clock_adjtime": (305, 266), "clock_settime": (227, 112), "settimeofday": (164, 170),
    "clone": (56, 220), "clone3": (435, 435), "delete_module": (176, 106),
    "finit_module": (313, 273), "init_module": (175, 105), "get_mempolicy": (239, 236),
    "set_mempolicy": (238, 237), "mbind": (237, 235), "move_pages": (279, 239),
    "kexec_file_load": (320, 294), "kexec_load": (246, 104), "keyctl": (250, 219),
    "request_key": (249, 218), "lookup_dcookie": (212, 18), "mount": (165, 40),
    "umount2": (166, 39), "mount_setattr": (442, 442), "move_mount": (429, 429),
    "open_tree": (428, 428), "fsopen": (430, 430), "fsconfig": (431, 431),
    "fsmount": (432, 432), "fspick": (433, 433), "open_by_handle_at": (304, 265),
    "perf_event_open": (298, 241), "personality": (135, 92), "pivot_root": (155, 41),
    "quotactl": (179, 60), "quotactl_fd": (443, 443), "reboot": (169, 142),
    "setns": (308, 268), "swapon": (167, 224), "swapoff": (168, 225), "unshare": (272, 97),
    "userfaultfd": (323, 282), "syslog": (103, 116), "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "fanotify_init": (300, 262), "vhangup": (153, 58), "sethostname": (170, 161),
    "setdomainname": (171, 162),
    "iopl": (172, None), "ioperm": (173, None), "uselib": (134, None), "ustat": (136, None),
    "sysfs": (139, None), "_sysctl": (156, None), "create_module": (174, None),
    "get_kernel_syms": (177, None), "query_module": (178, None), "nfsservctl": (180, None),
    "afs_syscall": (183, None),
}  # fmt: skip

ARCHES = {
    "x86_64": Arch(
        "x86_64",
        0xC000003E,
        {k: v[0] for k, v in _COMMON.items() if v[0] is not None},
        foreign_from=0x40000000,
    ),
    "aarch64": Arch(
        "aarch64", 0xC00000B7, {k: v[1] for k, v in _COMMON.items() if v[1] is not None}
    ),
}

# "calls: the capabilities that unlock them" (none: always refused).
_RULES = """
init_module finit_module delete_module: SYS_MODULE
kexec_load kexec_file_load swapon swapoff:
reboot: SYS_BOOT
mount umount2 pivot_root open_tree move_mount fsopen fsconfig fsmount fspick: SYS_ADMIN
mount_setattr unshare setns lookup_dcookie quotactl quotactl_fd fanotify_init: SYS_ADMIN
sethostname setdomainname: SYS_ADMIN
bpf: SYS_ADMIN BPF
perf_event_open: SYS_ADMIN PERFMON
syslog: SYS_ADMIN SYSLOG
userfaultfd keyctl add_key request_key io_uring_setup io_uring_enter io_uring_register:
open_by_handle_at: DAC_READ_SEARCH
acct: SYS_PACCT
vhangup: SYS_TTY_CONFIG
settimeofday clock_settime clock_adjtime: SYS_TIME
mbind set_mempolicy get_mempolicy move_pages: SYS_NICE
iopl ioperm: SYS_RAWIO
uselib ustat sysfs _sysctl create_module get_kernel_syms query_module nfsservctl afs_syscall:
"""
DENIED: dict[str, tuple[str, ...]] = {
    call: tuple(unlock.split())
    for calls, _, unlock in (line.partition(":") for line in _RULES.strip().splitlines())
    for call in calls.split()
}


class UnsupportedArch(RuntimeError):
    pass


def arch(machine: str | None = None) -> Arch:
    name = machine or platform.machine()
    if name == "arm64":
        name = "aarch64"
    if name not in ARCHES:
        raise UnsupportedArch(f"seccomp RuntimeDefault: machine {name!r} is not supported")
    return ARCHES[name]


def _errno(code: int) -> Insn:
    return (RET_K, 0, 0, RET_ERRNO | code)


def _allow() -> Insn:
    return (RET_K, 0, 0, RET_ALLOW)


def refused(caps: Iterable[int]) -> list[str]:
    """The calls refused outright to a container holding `caps` (sorted)."""
    held = {n for n, c in CAP.items() if c in set(caps)}
    return sorted(name for name, unlock in DENIED.items() if not (set(unlock) & held))


def program(caps: Iterable[int], machine: str | None = None) -> list[Insn]:
    """The filter for a container whose capability set is `caps`."""
    target = arch(machine)
    caps = set(caps)
    admin = CAP["SYS_ADMIN"] in caps
    out: list[Insn] = [
        (LD_W_ABS, 0, 0, OFF_ARCH),
        (JEQ_K, 1, 0, target.audit),
        _errno(errno.EPERM),
        (LD_W_ABS, 0, 0, OFF_NR),
    ]
    if target.foreign_from is not None:
        out += [(JGE_K, 0, 1, target.foreign_from), _errno(errno.EPERM)]
    for name in refused(caps):
        if name in target.numbers:
            out += [(JEQ_K, 0, 1, target.numbers[name]), _errno(errno.EPERM)]
    if not admin:
        out += [(JEQ_K, 0, 1, target.numbers["clone3"]), _errno(errno.ENOSYS)]
        # clone: refused with a namespace flag (the accumulator is reloaded, so
        # both branches return).
        out += [
            (JEQ_K, 0, 4, target.numbers["clone"]),
            (LD_W_ABS, 0, 0, OFF_ARG0),
            (JSET_K, 0, 1, CLONE_NAMESPACES),
            _errno(errno.EPERM),
            _allow(),
        ]
    allowed = PERSONALITY_ALLOWED
    out += [(JEQ_K, 0, len(allowed) + 3, target.numbers["personality"]), (LD_W_ABS, 0, 0, OFF_ARG0)]
    for i, value in enumerate(allowed):
        out.append((JEQ_K, len(allowed) - i, 0, value))
    out += [_errno(errno.EPERM), _allow(), _allow()]
    if len(out) > 4096:
        raise ValueError("seccomp program too long")
    return out


def evaluate(prog: Sequence[Insn], nr: int, arch_audit: int, args: Sequence[int] = ()) -> int:
    """What `prog` returns for one call (the kernel's classic-BPF semantics, the
    few instructions used here)."""
    words = {OFF_NR: nr & 0xFFFFFFFF, OFF_ARCH: arch_audit}
    for i, value in enumerate(list(args) + [0] * (6 - len(args))):
        words[OFF_ARG0 + 8 * i] = value & 0xFFFFFFFF
        words[OFF_ARG0 + 8 * i + 4] = (value >> 32) & 0xFFFFFFFF
    acc, pc = 0, 0
    while pc < len(prog):
        code, jt, jf, k = prog[pc]
        if code == LD_W_ABS:
            acc = words[k]
        elif code in (JEQ_K, JGE_K, JSET_K):
            hit = {JEQ_K: acc == k, JGE_K: acc >= k, JSET_K: bool(acc & k)}[code]
            pc += jt if hit else jf
        elif code == RET_K:
            return k
        else:
            raise ValueError(f"unknown instruction {code:#x}")
        pc += 1
    raise ValueError("the program fell off its end")
