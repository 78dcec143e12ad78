"""Container processes: `unshare` + the shim per container (see shim.py), tracked by the agent."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from navigator.local.agent import seccomp, security
from navigator.local.agent.kube import Obj
from navigator.local.images import Image

SHIM = Path(__file__).with_name("shim.py")


@dataclass
class ContainerProcess:
    """A running container: its shim (our child) and its PID 1 (the shim's child)."""

    proc: asyncio.subprocess.Process
    pidfile: Path
    log_path: Path
    sigkilled: bool = False

    def init_pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text())
        except (OSError, ValueError):
            return None

    async def wait_init_pid(self, within: float = 30.0) -> int | None:
        deadline = asyncio.get_running_loop().time() + within
        while self.proc.returncode is None and asyncio.get_running_loop().time() < deadline:
            pid = self.init_pid()
            if pid:
                return pid
            await asyncio.sleep(0.01)
        return self.init_pid()

    def signal(self, sig: int) -> None:
        """Signal PID 1 (before it is known: its parent, which then kills it)."""
        if self.proc.returncode is not None:
            return
        pid = self.init_pid()
        self.sigkilled = self.sigkilled or sig == signal.SIGKILL
        with contextlib.suppress(ProcessLookupError):
            if pid:
                os.kill(pid, sig)
            else:
                self.proc.send_signal(signal.SIGKILL)

    async def wait(self) -> int:
        """The container's exit code (128 + signal number when a signal ended it)."""
        code = await self.proc.wait()
        if code == 1 and self.sigkilled:
            # util-linux unshare cannot re-raise SIGKILL on itself and exits 1.
            return 128 + signal.SIGKILL
        return 128 - code if code < 0 else code


def security_for(pod: Obj, container: Obj, image: Image) -> dict[str, Any]:
    """The shim's `security`: user, groups, capabilities, no_new_privs and the
    seccomp filter (raises `ContainerConfigError` when the kubelet would refuse)."""
    sec = security.resolve(
        pod,
        container,
        image.user,
        security.read_db(image.layer, "passwd"),
        security.read_db(image.layer, "group"),
    )
    out = sec.to_json()
    if sec.seccomp == security.RUNTIME_DEFAULT:
        try:
            out["seccomp"] = seccomp.program(sec.capabilities)
        except seccomp.UnsupportedArch as err:
            raise security.ContainerConfigError(str(err)) from err
    return out


async def start(spec: dict[str, Any], directory: Path, log_path: Path) -> ContainerProcess:
    """Write the shim's spec and start it; output goes to `log_path`."""
    directory.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (small local file operation)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    pidfile = directory / "init.pid"
    pidfile.unlink(missing_ok=True)
    spec = {**spec, "pidfile": str(pidfile)}
    spec_path = directory / "spec.json"
    spec_path.write_text(json.dumps(spec))
    argv = [
        "nsenter", f"--net={spec['netns']}", "--",
        "unshare", "--mount", "--uts", "--ipc", "--pid", "--fork", "--kill-child",
        "--propagation", "private", "--",
        sys.executable, "-I", str(SHIM), str(spec_path),
    ]  # fmt: skip
    with log_path.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
            start_new_session=True,
        )  # fmt: skip
    return ContainerProcess(proc, pidfile, log_path)


def exec_command(
    pid: int,
    argv: list[str],
    env: dict[str, str],
    process: dict[str, Any] | None,
    *,
    tty: bool = False,
) -> list[str]:
    """The command line that runs `argv` in the container whose PID 1 is `pid`
    (see `exec_in`); with `tty`, the command's stdin is to be a terminal, which
    becomes its controlling terminal in a session of its own."""
    enter = ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p"]
    if process is None:
        return [*enter, "-r", "-w", "--", *argv]
    spec = json.dumps({**process, "argv": argv, "env": env, "tty": tty})
    return [*enter, "--", sys.executable, "-I", str(SHIM), "--exec", spec]


async def exec_in(
    pid: int,
    argv: list[str],
    env: dict[str, str],
    within: float,
    process: dict[str, Any] | None = None,
) -> tuple[int, bytes]:
    """Run `argv` inside a running container (exec probes, hooks): its namespaces,
    and with `process` (the container's root, working directory, cgroups and
    security, see `pods`) as the container's own user, capabilities, no_new_privs
    and seccomp filter, as runc does; without it as root in the container's root."""
    cmd = exec_command(pid, argv, env, process)
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), within)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return -1, b"timeout"
    return proc.returncode or 0, out
