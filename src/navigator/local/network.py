"""The pod network's host side: a bridge living in its own network namespace,
joined to the host by one veth pair.

Measured on these machines: a bridge in the root network namespace does not
forward; a bridge inside its own namespace does. Pods (node agent) attach
their veths to the same bridge. The host end of the veth carries the host's
address on the pod network, which the API server advertises.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from dataclasses import dataclass

BRIDGE = "br0"  # inside the namespace, so the name never collides
UPLINK_VETH = "uplink"  # the bridge namespace's end of the host veth


class NetworkError(RuntimeError):
    pass


@dataclass(frozen=True)
class PodNetwork:
    netns: str
    host_veth: str
    host_ip: str
    pod_cidr: str

    @property
    def host_cidr(self) -> str:
        prefix = ipaddress.ip_network(self.pod_cidr).prefixlen
        return f"{self.host_ip}/{prefix}"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    if shutil.which("ip") is None:
        raise NetworkError("the 'ip' command (Debian package iproute2) is required")
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def netns_exists(name: str) -> bool:
    out = _ip("netns", "list").stdout
    return any(line.split()[0] == name for line in out.splitlines() if line.strip())


def link_exists(name: str, netns: str | None = None) -> bool:
    args = ("-n", netns) if netns else ()
    return _ip(*args, "link", "show", name, check=False).returncode == 0


def ensure(net: PodNetwork) -> None:
    """Create the bridge namespace, bridge and host veth (idempotent)."""
    if not netns_exists(net.netns):
        _ip("netns", "add", net.netns)
    _ip("-n", net.netns, "link", "set", "lo", "up")
    if not link_exists(BRIDGE, net.netns):
        _ip("-n", net.netns, "link", "add", BRIDGE, "type", "bridge")
    _ip("-n", net.netns, "link", "set", BRIDGE, "up")
    if not link_exists(net.host_veth):
        _ip("-n", net.netns, "link", "del", UPLINK_VETH, check=False)
        _ip(
            "link",
            "add",
            net.host_veth,
            "type",
            "veth",
            "peer",
            "name",
            UPLINK_VETH,
            "netns",
            net.netns,
        )
    _ip("-n", net.netns, "link", "set", UPLINK_VETH, "master", BRIDGE)
    _ip("-n", net.netns, "link", "set", UPLINK_VETH, "up")
    addrs = _ip("-o", "addr", "show", "dev", net.host_veth).stdout
    if net.host_cidr not in addrs:
        _ip("addr", "add", net.host_cidr, "dev", net.host_veth)
    _ip("link", "set", net.host_veth, "up")


def teardown(net: PodNetwork) -> None:
    """Remove the host veth and the bridge namespace, if present."""
    if link_exists(net.host_veth):
        _ip("link", "del", net.host_veth, check=False)
    if netns_exists(net.netns):
        _ip("netns", "del", net.netns, check=False)
