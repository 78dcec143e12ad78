"""Container shim: turns one spec file into one running container process.

The node agent runs it as PID 1 of fresh mount, UTS, IPC and PID namespaces
inside the pod's network namespace::

    nsenter --net=POD_NETNS -- unshare --mount --uts --ipc --pid --fork
        --kill-child --propagation private -- python -I shim.py SPEC_JSON

(standard library only, so it starts fast and never imports the agent). It
records its host PID, assembles the root file system (image layer + host root
via overlayfs, /proc, /dev, /sys, volumes), sets the hostname, chroots, becomes
the container's process (`become`: seccomp filter, capability bounding set,
user and groups, held capabilities, no_new_privs, as `security.resolve`
decided) and execs the container command, which replaces it.
`shim.py --exec SPEC_JSON`, run through `nsenter` in a running container's
namespaces, does the same for an exec probe or hook.
`unshare` stays outside as the container's parent (about 1 MiB) and exits with
its status; the agent signals PID 1 directly.

Every mount lives in the container's private mount namespace, so nothing is
left on the host when the container's processes are gone.
"""

from __future__ import annotations

# os.execvpe imports `warnings` lazily; after setuid the interpreter's own
# library may be out of reach, so it is imported up front.
import ctypes
import fcntl
import json
import os
import sys
import termios
import warnings  # noqa: F401

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
SKIP_TOP = {"proc", "sys", "dev", "tmp", "lost+found"}

_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    rc = _libc.mount(
        source.encode(),
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    _check(rc, f"mount {source} on {target} ({fstype or 'bind'})")


def bind(source: str, target: str, *, readonly: bool = False, recursive: bool = False) -> None:
    flags = MS_BIND | (MS_REC if recursive else 0)
    mount(source, target, None, flags, None)
    if readonly:
        mount("none", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)


def _protected(path: str, protected: list[str]) -> bool:
    """Is `path` an ancestor of (or equal to) a path overlayfs must not overlap?"""
    prefix = path.rstrip("/") + "/"
    return any(p == path or p.startswith(prefix) for p in protected)


def in_root(root: str, path: str) -> str:
    """`path` inside the container's root, following symlinks as the container would
    (an absolute link target is relative to `root`, never the host)."""
    parts = [p for p in path.split("/") if p and p != "."]
    resolved = root
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            resolved = os.path.dirname(resolved) if resolved != root else root
            continue
        candidate = os.path.join(resolved, part)
        if os.path.islink(candidate) and hops < 40:
            hops += 1
            link = os.readlink(candidate)
            parts = [p for p in link.split("/") if p and p != "."] + parts
            if link.startswith("/"):
                resolved = root
            continue
        resolved = candidate
    return resolved


def _make_target(target: str, like: str) -> None:
    if os.path.isdir(like) and not os.path.islink(like):
        os.makedirs(target, exist_ok=True)
    elif not os.path.lexists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w"):
            pass


def assemble(
    target: str, host: str, layer: str | None, scratch: str, protected: list[str], top: bool
) -> None:
    """Lay `layer` over `host` at `target`, one directory entry at a time.

    overlayfs refuses layers that are ancestors of one another (the host root
    is an ancestor of everything), so each top-level directory gets its own
    overlay; a directory that contains the image store or the scratch space
    is descended into instead.
    """
    names = set(os.listdir(host)) if os.path.isdir(host) else set()
    if layer and os.path.isdir(layer):
        names |= set(os.listdir(layer))
    for name in sorted(names):
        if top and name in SKIP_TOP:
            continue
        h, t = os.path.join(host, name), os.path.join(target, name)
        lay = os.path.join(layer, name) if layer else None
        if lay and not os.path.lexists(lay):
            lay = None
        _entry(t, h, lay, os.path.join(scratch, name), protected, top)


def _entry(t: str, h: str, lay: str | None, scratch: str, protected: list[str], top: bool) -> None:
    src = lay if lay else h
    if os.path.islink(src):
        os.symlink(os.readlink(src), t)
        return
    if not os.path.isdir(src):
        _make_target(t, src)
        bind(src, t)
        return
    os.makedirs(t, exist_ok=True)
    host_is_dir = os.path.isdir(h) and not os.path.islink(h)
    if lay is None and not top:
        bind(h, t)
        return
    if lay is None and _protected(h, protected):
        bind(h, t)
        return
    if lay is not None and host_is_dir and _protected(h, protected):
        assemble(t, h, lay, scratch, protected, top=False)
        return
    lowers = [x for x in (lay, h if host_is_dir else None) if x]
    upper, work = os.path.join(scratch, "upper"), os.path.join(scratch, "work")
    os.makedirs(upper, exist_ok=True)
    os.makedirs(work, exist_ok=True)
    opts = f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work}"
    mount("overlay", t, "overlay", 0, opts)


def build_rootfs(spec: dict) -> str:  # type: ignore[type-arg]
    root = str(spec["rootfs"])
    os.makedirs(root, exist_ok=True)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755")
    protected = [spec["scratch"], *([spec["layer"]] if spec.get("layer") else [])]
    assemble(root, "/", spec.get("layer"), spec["scratch"], protected, top=True)
    for name in ("proc", "sys", "dev", "tmp"):
        os.makedirs(os.path.join(root, name), exist_ok=True)
    mount("proc", os.path.join(root, "proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    mount("sysfs", os.path.join(root, "sys"), "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV, None)
    bind("/dev", os.path.join(root, "dev"), recursive=True)
    mount("tmpfs", os.path.join(root, "tmp"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for m in spec.get("mounts", []):
        target = in_root(root, m["target"])
        _make_target(target, m["source"])
        bind(m["source"], target, readonly=m.get("readonly", False))
    return root


def child(spec: dict, pidfile: int) -> None:  # type: ignore[type-arg]
    pid = host_pid()
    name = spec["hostname"].encode()
    _check(_libc.sethostname(name, len(name)), "sethostname")
    root = build_rootfs(spec)
    os.chroot(root)
    os.chdir(spec.get("cwd") or "/")
    become(spec["security"])
    env = spec["env"]
    argv = spec["argv"]
    os.write(pidfile, str(pid).encode())
    os.close(pidfile)
    os.execvpe(argv[0], argv, env)


PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECCOMP_MODE_FILTER = 2
CAP_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _prctl(option: int, arg: int = 0, what: str = "prctl") -> None:
    zero = ctypes.c_ulong(0)
    _check(_libc.prctl(option, ctypes.c_ulong(arg), zero, zero, zero), what)


def _capsets() -> tuple[int, int]:
    """This process's (effective, permitted) sets, as 64-bit masks."""
    header, data = _CapHeader(CAP_VERSION_3, 0), (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(header), data), "capget")
    eff = data[0].effective | data[1].effective << 32
    prm = data[0].permitted | data[1].permitted << 32
    return eff, prm


def _capset(mask: int) -> None:
    """effective = permitted = `mask`, inheritable empty."""
    header, data = _CapHeader(CAP_VERSION_3, 0), (_CapData * 2)()
    for i in (0, 1):
        word = (mask >> (32 * i)) & 0xFFFFFFFF
        data[i].effective, data[i].permitted, data[i].inheritable = word, word, 0
    _check(_libc.capset(ctypes.byref(header), data), "capset")


def _seccomp(program: list[list[int]]) -> None:
    insns = (_SockFilter * len(program))(*(_SockFilter(*i) for i in program))
    prog = _SockFprog(len(program), insns)
    zero = ctypes.c_ulong(0)
    rc = _libc.prctl(
        PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(prog), zero, zero
    )
    _check(rc, "seccomp filter")


def _last_cap() -> int:
    with open("/proc/sys/kernel/cap_last_cap") as fh:
        return int(fh.read())


def become(sec: dict) -> None:  # type: ignore[type-arg]
    """Turn this (root) process into the container's: seccomp filter, capability
    bounding set, user and groups, capabilities held, no_new_privs. The order is
    runc's: a filter without no_new_privs needs CAP_SYS_ADMIN, so it comes first;
    the bounding set is dropped while CAP_SETPCAP is still held."""
    keep = set(sec["capabilities"])
    nnp = bool(sec.get("no_new_privs"))
    program = sec.get("seccomp")
    if program and not nnp:
        _seccomp(program)
    for cap in range(_last_cap() + 1):
        if cap not in keep:
            _prctl(PR_CAPBSET_DROP, cap, f"drop capability {cap} from the bounding set")
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, "clear ambient capabilities")
    os.setgroups([int(g) for g in sec.get("groups", [])])
    os.setgid(int(sec["gid"]))
    os.setuid(int(sec["uid"]))  # not root: the kernel clears the held sets
    _, permitted = _capsets()
    _capset(sum(1 << c for c in sec.get("effective", [])) & permitted)
    if nnp:
        _prctl(PR_SET_NO_NEW_PRIVS, 1, "no_new_privs")
    if program and nnp:
        _seccomp(program)


def host_pid() -> int:
    """This process's PID as the host sees it (the first NSpid entry)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("NSpid:"):
                return int(line.split()[1])
    return os.getpid()


def exec_main(spec: dict) -> None:  # type: ignore[type-arg]
    """`--exec SPEC_JSON`, run by `nsenter` in a running container's namespaces
    (exec probes, hooks, `kubectl exec`): into its cgroups and root, then the
    same identity as the container's command, then exec."""
    try:
        if spec.get("tty"):  # `kubectl exec -t`: stdin is a terminal; make it ours
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        for procs in spec.get("cgroups", []):
            with open(procs, "w") as fh:
                fh.write("0")
        os.chroot(spec["rootfs"])
        os.chdir(spec.get("cwd") or "/")
        become(spec["security"])
        argv = spec["argv"]
        os.execvpe(argv[0], argv, spec["env"])
    except BaseException as err:
        print(f"exec failed: {err}", file=sys.stderr, flush=True)
        os._exit(126 if not isinstance(err, FileNotFoundError) else 127)


def main() -> None:
    if sys.argv[1] == "--exec":
        exec_main(json.loads(sys.argv[2]))
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    # The PID is published only once the container is fully set up (just before
    # exec), so hooks and exec probes never run in a half-built container.
    pidfile = os.open(spec["pidfile"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for procs in spec.get("cgroups", []):  # limits apply before the container runs
            with open(procs, "w") as fh:
                fh.write("0")  # "this process" (our own PID is 1 in here)
        child(spec, pidfile)
    except BaseException as err:  # reported as the container's start error
        print(f"container start failed: {err}", file=sys.stderr, flush=True)
        os._exit(128)


if __name__ == "__main__":
    main()
