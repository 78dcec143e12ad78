"""Probes and lifecycle hooks (httpGet, tcpSocket, exec), run from inside the pod.

TCP connections are made from a socket created in the pod's network
namespace; exec runs in the container's namespaces through nsenter, as the container's
user with its capabilities (see `runtime.exec_in`).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from navigator.local.agent import netns, runtime
from navigator.local.agent.kube import Obj


@dataclass(frozen=True)
class Target:
    """Where a probe or hook runs: the pod's network and the container's PID 1."""

    netns_path: str
    pod_ip: str
    ports: dict[str, int]  # named container ports
    init_pid: int | None
    env: dict[str, str]
    process: dict[str, Any] | None = None  # how exec runs (see `runtime.exec_in`)


def _port(value: int | str, target: Target) -> int:
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    if value not in target.ports:
        raise ValueError(f"no container port named {value!r}")
    return target.ports[value]


async def tcp(target: Target, host: str, port: int, within: float) -> tuple[bool, str]:
    sock = netns.socket_in(target.netns_path)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (host, port)), within)
    except (OSError, TimeoutError) as err:
        return False, f"dial tcp {host}:{port}: {_why(err)}"
    finally:
        sock.close()
    return True, ""


async def http_get(
    target: Target, host: str, port: int, path: str, headers: list[Obj], within: float
) -> tuple[bool, str]:
    sock = netns.socket_in(target.netns_path)
    loop = asyncio.get_running_loop()
    writer = None
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (host, port)), within)
        reader, writer = await asyncio.open_connection(sock=sock)
        lines = [f"GET {path or '/'} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
        lines += [f"{h['name']}: {h['value']}" for h in headers]
        lines.append("User-Agent: kube-probe/navigator")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), within)
    except (OSError, TimeoutError) as err:
        sock.close()
        return False, f'Get "http://{host}:{port}{path}": {_why(err)}'
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    parts = status_line.decode(errors="replace").split()
    code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    if 200 <= code < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {code}"


def _why(err: BaseException) -> str:
    if isinstance(err, TimeoutError):
        return "i/o timeout"
    if isinstance(err, ConnectionRefusedError):
        return "connect: connection refused"
    return str(err) or type(err).__name__


async def run_handler(handler: Obj, target: Target, within: float) -> tuple[bool, str]:
    """One probe or hook handler; returns (success, message)."""
    try:
        if "exec" in handler:
            if target.init_pid is None:
                return False, "container is not running"
            argv = handler["exec"].get("command", [])
            code, out = await runtime.exec_in(
                target.init_pid, argv, target.env, within, target.process
            )
            text = out.decode(errors="replace").strip()
            return code == 0, (text or f"command exited with {code}") if code else ""
        if "httpGet" in handler:
            h = handler["httpGet"]
            host = h.get("host") or target.pod_ip
            port = _port(h["port"], target)
            return await http_get(
                target, host, port, h.get("path", "/"), h.get("httpHeaders", []), within
            )
        if "tcpSocket" in handler:
            t = handler["tcpSocket"]
            return await tcp(
                target, t.get("host") or target.pod_ip, _port(t["port"], target), within
            )
        if "sleep" in handler:
            await asyncio.sleep(min(float(handler["sleep"]["seconds"]), within))
            return True, ""
    except (ValueError, OSError) as err:
        return False, str(err)
    return False, "unsupported handler"
