"""Pod network sandboxes: a network namespace per pod, joined to the bridge.

Each pod gets ``eth0`` (one end of a veth pair whose other end is a port of
the bridge in the cluster's bridge namespace), an address from its node's pod
CIDR with the pod network's prefix (so pods on every node are on-link), and a
default route via the host's address on the pod network.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ipaddress
import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

from navigator.local.network import BRIDGE

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class SandboxError(RuntimeError):
    pass


async def ip(*args: str, check: bool = True) -> str:
    proc = await asyncio.create_subprocess_exec(
        "ip", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if check and proc.returncode != 0:
        raise SandboxError(f"ip {' '.join(args)}: {err.decode().strip()}")
    return out.decode()


@dataclass(frozen=True)
class Sandbox:
    """One pod's network namespace and its address."""

    netns: str  # name under /run/netns
    bridge_netns: str
    port: str  # the bridge-side veth name
    address: str
    prefix_len: int
    gateway: str

    @property
    def path(self) -> str:
        return f"/run/netns/{self.netns}"

    async def create(self) -> None:
        await self.destroy()
        await ip("netns", "add", self.netns)
        await ip("-n", self.netns, "link", "set", "lo", "up")
        await ip(
            "-n", self.bridge_netns, "link", "add", self.port, "type", "veth",
            "peer", "name", "eth0", "netns", self.netns,
        )  # fmt: skip
        await ip("-n", self.bridge_netns, "link", "set", self.port, "master", BRIDGE, "up")
        await ip(
            "-n", self.netns, "addr", "add", f"{self.address}/{self.prefix_len}", "dev", "eth0"
        )
        await ip("-n", self.netns, "link", "set", "eth0", "up")
        await ip("-n", self.netns, "route", "add", "default", "via", self.gateway)

    async def destroy(self) -> None:
        await kill_netns_processes(self.netns)
        await ip("netns", "del", self.netns, check=False)
        await ip("-n", self.bridge_netns, "link", "del", self.port, check=False)


async def kill_netns_processes(netns: str) -> None:
    for pid in (await ip("netns", "pids", netns, check=False)).split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


async def list_netns(prefix: str) -> list[str]:
    out = await ip("netns", "list", check=False)
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(prefix)]


def socket_in(netns_path: str, family: int = socket.AF_INET) -> socket.socket:
    """A TCP socket created inside another network namespace.

    A socket keeps the namespace it was created in, so probes and hooks run
    "from inside the pod" while the agent's own thread returns to the host
    namespace right away.
    """
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(netns_path, os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {netns_path}")
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:  # pragma: no cover - fatal
                os.abort()
    finally:
        os.close(own)
        os.close(target)
    sock.setblocking(False)
    return sock


async def open_connection_in(
    netns_path: str, port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection to `port` on the loopback of another network namespace
    (IPv4, then IPv6, as containerd's port-forward does)."""
    loop = asyncio.get_running_loop()
    failures = []
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        sock = socket_in(netns_path, family)
        try:
            await loop.sock_connect(sock, (host, port))
        except OSError as err:  # asyncio words it "Connect call failed"; say why, as Go does
            sock.close()
            why = os.strerror(err.errno).lower() if err.errno else str(err)
            failures.append(f"dial tcp {host}:{port}: connect: {why}")
            continue
        return await asyncio.open_connection(sock=sock)
    raise OSError(f"failed to connect to localhost:{port} inside the pod: {', '.join(failures)}")


class AddressPool:
    """Pod addresses of one node's pod CIDR, leased through files (survive restarts)."""

    def __init__(self, cidr: str, directory: Path) -> None:
        self.network = ipaddress.ip_network(cidr)
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def allocate(self, owner: str, preferred: str | None = None) -> str:
        """`preferred` when it is in this pool and free (a pod that already has an
        address in its status keeps it: the API server refuses to change a pod's
        IPs once set); otherwise the next free address after the last one handed
        out (round robin, like host-local IPAM): a just-released address is not
        reused while peers may still have its old MAC address in their
        neighbour caches."""
        for existing in self._leases():
            if existing.read_text() == owner:
                return existing.name
        if preferred and self._take(preferred, owner):
            return preferred
        hosts = list(self.network.hosts())[1:]  # .1 is left out, like a gateway would be
        last = self.directory / ".last"
        start = 0
        with contextlib.suppress(OSError, ValueError):
            start = hosts.index(ipaddress.ip_address(last.read_text().strip())) + 1
        for host in hosts[start:] + hosts[:start]:
            path = self.directory / str(host)
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(owner)
            last.write_text(str(host))
            return str(host)
        raise SandboxError(f"no free pod address in {self.network}")

    def _take(self, address: str, owner: str) -> bool:
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(address) in list(self.network.hosts())[1:]:
                try:
                    fd = os.open(self.directory / address, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                except FileExistsError:
                    return False
                with os.fdopen(fd, "w") as fh:
                    fh.write(owner)
                return True
        return False

    def _leases(self) -> list[Path]:
        return [p for p in self.directory.iterdir() if not p.name.startswith(".")]

    def release(self, owner: str) -> None:
        for existing in self._leases():
            if existing.read_text() == owner:
                existing.unlink(missing_ok=True)

    def clear(self) -> None:
        for existing in self._leases():
            existing.unlink(missing_ok=True)
