"""Pods bound to this node: one worker per pod, driven by a watch.

A `PodWorker` owns one pod's whole life: sandbox (network namespace and
address), volumes, init containers in order, app containers with probes,
restarts with crash-loop back-off, graceful termination, status reports and,
once everything has stopped, the final deletion of the pod object.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import signal
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx2

from navigator.local.agent import cgroups, clock, netns, runtime
from navigator.local.agent.config import AgentConfig
from navigator.local.agent.env import command_line, container_env, expand
from navigator.local.agent.events import Recorder
from navigator.local.agent.kube import ApiError, Kube, Obj, pod_path
from navigator.local.agent.probes import Target, run_handler
from navigator.local.agent.status import ContainerState, PodRuntime, Terminated, pod_status
from navigator.local.agent.volumes import Mount, VolumeBuilder, VolumeError
from navigator.local.images import Image, ImageNotFound, load_image

log = logging.getLogger(__name__)

BACKOFF_INITIAL = 10.0
BACKOFF_MAX = 300.0
STATUS_RETRY = 2.0
SETUP_RETRY = 2.0
MIN_KILL_GRACE = 2.0
VOLUME_SYNC = 60.0
CONFIG_ERROR = "CreateContainerConfigError"


def hostname_of(pod: Obj) -> str:
    return str(pod["spec"].get("hostname") or pod["metadata"]["name"])[:63]


def hosts_file(pod: Obj, ip: str, domain: str) -> str:
    host = hostname_of(pod)
    sub = pod["spec"].get("subdomain")
    ns = pod["metadata"]["namespace"]
    names = f"{host}.{sub}.{ns}.svc.{domain}\t{host}" if sub else host
    lines = [
        "# Kubernetes-managed hosts file (Navigator node agent).",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        f"{ip}\t{names}",
    ]
    for alias in pod["spec"].get("hostAliases", []):
        lines.append(f"{alias['ip']}\t{' '.join(alias.get('hostnames', []))}")
    return "\n".join(lines) + "\n"


def resolv_conf(pod: Obj, dns_ip: str, domain: str) -> str:
    ns = pod["metadata"]["namespace"]
    search = [f"{ns}.svc.{domain}", f"svc.{domain}", domain]
    cfg = pod["spec"].get("dnsConfig", {})
    search += cfg.get("searches", [])
    servers = [dns_ip] if pod["spec"].get("dnsPolicy") != "None" else []
    servers += cfg.get("nameservers", [])
    lines = [f"search {' '.join(search)}", *(f"nameserver {s}" for s in servers)]
    lines.append("options ndots:5")
    return "\n".join(lines) + "\n"


def grace_period(pod: Obj) -> float:
    meta = pod["metadata"]
    if meta.get("deletionGracePeriodSeconds") is not None:
        return float(meta["deletionGracePeriodSeconds"])
    return float(pod["spec"].get("terminationGracePeriodSeconds", 30))


def exit_reason(code: int) -> str:
    if code == 0:
        return "Completed"
    return "Error"


class PodWorker:
    """Runs one pod until it is deleted (or the agent stops)."""

    def __init__(self, manager: PodManager, pod: Obj) -> None:
        self.m = manager
        self.cfg = manager.cfg
        self.pod = pod
        self.uid: str = pod["metadata"]["uid"]
        self.ns: str = pod["metadata"]["namespace"]
        self.name: str = pod["metadata"]["name"]
        self.dir: Path = self.cfg.pods_dir / self.uid
        self.sandbox: netns.Sandbox | None = None
        self.volumes: VolumeBuilder | None = None
        self.mounts_by_volume: dict[str, str] = {}
        spec = pod["spec"]
        self.rt = PodRuntime(
            pod_ip=None,
            host_ip=self.cfg.node_ip,
            start_time=None,
            init=[ContainerState(c["name"], c["image"]) for c in spec.get("initContainers", [])],
            app=[ContainerState(c["name"], c["image"]) for c in spec.get("containers", [])],
        )
        self.procs: dict[str, runtime.ContainerProcess] = {}
        self.envs: dict[str, dict[str, str]] = {}
        self.processes: dict[str, dict[str, Any]] = {}  # how exec probes and hooks run
        self.stop_requested = asyncio.Event()
        self.kill_now = False  # agent shutdown or object gone: no grace, no API calls
        self.gone = False  # the pod object no longer exists
        self.dirty = asyncio.Event()
        self.last_sent: str = ""
        self.restarting: dict[str, asyncio.Event] = {}

    # -- inputs -------------------------------------------------------------

    def update(self, pod: Obj) -> None:
        self.pod = pod
        if pod["metadata"].get("deletionTimestamp"):
            self.stop_requested.set()

    def force_stop(self, *, gone: bool) -> None:
        self.kill_now = True
        self.gone = self.gone or gone
        self.stop_requested.set()
        for proc in self.procs.values():
            proc.signal(signal.SIGKILL)

    @property
    def deleting(self) -> bool:
        return bool(self.pod["metadata"].get("deletionTimestamp"))

    def event(self, kind: str, reason: str, message: str, container: str = "") -> None:
        if not self.kill_now:
            self.m.recorder.emit(self.pod, kind, reason, message, container)

    def changed(self) -> None:
        self.dirty.set()

    def state(self, name: str) -> ContainerState:
        for c in (*self.rt.init, *self.rt.app):
            if c.name == name:
                return c
        raise KeyError(name)

    def log_path(self, container: str, restart: int) -> Path:
        return self.dir / "logs" / container / f"{restart}.log"

    # -- the pod's life -----------------------------------------------------

    async def run(self) -> None:
        reporter = asyncio.create_task(self._report_loop())
        syncer = asyncio.create_task(self._sync_volumes())
        try:
            ready = not self.stop_requested.is_set() and await self._setup()
            if ready and await self._run_init_containers():
                await self._run_app_containers()
            await self._stop_all()
            self.changed()
            await self._flush_status()
            self._cleanup_sandbox()
            await self.stop_requested.wait()
        finally:
            for task in (reporter, syncer):
                task.cancel()
            await asyncio.gather(reporter, syncer, return_exceptions=True)
            await self._cleanup()
        if not self.kill_now and not self.gone:
            await self._delete_object()

    async def _setup(self) -> bool:
        """Sandbox, pod files and volumes; retried until they work or the pod goes."""
        self.rt.start_time = clock.rfc3339()
        while not self.stop_requested.is_set():
            try:
                await self._setup_once()
                return True
            except (VolumeError, netns.SandboxError, ApiError, OSError) as err:
                reason = "FailedMount" if isinstance(err, VolumeError) else "FailedCreatePodSandBox"
                self.event("Warning", reason, str(err))
                log.warning("%s/%s: %s", self.ns, self.name, err)
            await self._sleep(SETUP_RETRY)
        return False

    async def _setup_once(self) -> None:
        if self.sandbox is None:
            recorded = (self.pod.get("status") or {}).get("podIP")
            ip = self.m.addresses.allocate(self.uid, preferred=recorded)
            sandbox = netns.Sandbox(
                netns=f"{self.cfg.netns_prefix}{self.uid[:8]}",
                bridge_netns=self.cfg.bridge_netns,
                port=f"v{self.cfg.node_name.rsplit('-', 1)[-1]}-{self.uid[:10]}",
                address=ip,
                prefix_len=self.cfg.pod_prefix_len,
                gateway=self.cfg.host_ip,
            )
            await sandbox.create()
            self.sandbox = sandbox
            self.rt.pod_ip = ip
            self.rt.sandbox_ready = True
            self.changed()
        ip = self.sandbox.address
        etc = self.dir / "etc"
        etc.mkdir(parents=True, exist_ok=True)
        domain = self.cfg.cluster_domain
        (etc / "hosts").write_text(hosts_file(self.pod, ip, domain))
        (etc / "resolv.conf").write_text(resolv_conf(self.pod, self.cfg.dns_ip, domain))
        (etc / "hostname").write_text(hostname_of(self.pod) + "\n")
        self.volumes = VolumeBuilder(self.m.kube, self.pod, self.dir, ip)
        self.mounts_by_volume = await self.volumes.build_all(self.fs_group)

    @property
    def fs_group(self) -> int | None:
        group = self.pod["spec"].get("securityContext", {}).get("fsGroup")
        return int(group) if group is not None else None

    async def _sync_volumes(self) -> None:
        """Keep configMap, secret and projected volumes (tokens) current."""
        while True:
            await asyncio.sleep(VOLUME_SYNC)
            if self.volumes is None:
                continue
            try:
                await self.volumes.refresh(self.fs_group)
            except (VolumeError, ApiError, httpx2.HTTPError, OSError) as err:
                log.warning("%s/%s: volume sync: %s", self.ns, self.name, err)

    async def _run_init_containers(self) -> bool:
        policy = self.pod["spec"].get("restartPolicy", "Always")
        for spec in self.pod["spec"].get("initContainers", []):
            while True:
                code = await self._run_once(spec, self.state(spec["name"]))
                if code == 0:
                    break
                if code is None or policy == "Never" or self.stop_requested.is_set():
                    return False
                await self._crash_backoff(spec["name"])
                if self.stop_requested.is_set():
                    return False
        return True

    async def _run_app_containers(self) -> None:
        """Until every container is done for good or the pod is asked to stop."""
        tasks = {
            asyncio.create_task(self._container_loop(c)) for c in self.pod["spec"]["containers"]
        }
        stop = asyncio.create_task(self.stop_requested.wait())
        pending: set[asyncio.Task[Any]] = set(tasks)
        while pending and not self.stop_requested.is_set():
            _, pending = await asyncio.wait({*pending, stop}, return_when=asyncio.FIRST_COMPLETED)
            pending.discard(stop)
        if self.stop_requested.is_set():
            await self._stop_all()
        await asyncio.gather(*tasks, return_exceptions=True)
        stop.cancel()
        self.rt.will_restart = False

    async def _container_loop(self, spec: Obj) -> None:
        policy = self.pod["spec"].get("restartPolicy", "Always")
        name = spec["name"]
        while not self.stop_requested.is_set():
            code = await self._run_once(spec, self.state(name))
            if self.stop_requested.is_set():
                return
            if code is not None and (policy == "Never" or (policy == "OnFailure" and code == 0)):
                return
            await self._crash_backoff(name)

    async def _crash_backoff(self, name: str) -> None:
        st = self.state(name)
        delay = self.m.backoff.next(f"{self.uid}/{name}")
        if st.waiting and st.waiting_reason == CONFIG_ERROR:
            # Never started: the kubelet retries and the reason stays (no crash loop).
            await self._sleep(max(delay, SETUP_RETRY))
            return
        if delay > 0:
            st.waiting, st.running_since = True, None
            st.waiting_reason = "CrashLoopBackOff"
            st.waiting_message = (
                f"back-off {delay:.0f}s restarting failed container={name} "
                f"pod={self.name}_{self.ns}({self.uid})"
            )
            self.changed()
            self.event("Warning", "BackOff", "Back-off restarting failed container", name)
            await self._sleep(delay)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop_requested.wait(), seconds)

    async def _image(self, spec: Obj, st: ContainerState) -> Image | None:
        """The container's image, or None after reporting why it cannot be had."""
        ref = spec["image"]
        key = f"image/{self.uid}/{spec['name']}"
        while not self.stop_requested.is_set():
            try:
                image = load_image(ref, self.cfg.image_root)
                self.m.backoff.reset(key)
                return image
            except (ImageNotFound, ValueError) as err:
                st.waiting, st.running_since = True, None
                st.waiting_reason = "ErrImagePull"
                st.waiting_message = str(err)
                self.changed()
                self.event(
                    "Warning", "Failed", f'Failed to pull image "{ref}": {err}', spec["name"]
                )
                self.event("Warning", "Failed", "Error: ErrImagePull", spec["name"])
                await self._sleep(1.0)
                delay = max(self.m.backoff.next(key), BACKOFF_INITIAL)
                st.waiting_reason = "ImagePullBackOff"
                st.waiting_message = f'Back-off pulling image "{ref}"'
                self.changed()
                self.event("Normal", "BackOff", f'Back-off pulling image "{ref}"', spec["name"])
                await self._sleep(delay)
        return None

    async def _run_once(self, spec: Obj, st: ContainerState) -> int | None:
        """Start the container, supervise it until it exits; its exit code (None: not started)."""
        image = await self._image(spec, st)
        if image is None or self.sandbox is None:
            return None
        name = spec["name"]
        # As the kubelet: restartCount counts containers started again, so it
        # moves when the next one starts, not when the last one exited.
        again = st.last_terminated is not None
        st.restart_count += again
        try:
            proc, env = await self._start(spec, st, image)
        except (VolumeError, ApiError, ValueError, OSError) as err:
            st.restart_count -= again
            st.waiting, st.waiting_reason, st.waiting_message = (
                True,
                CONFIG_ERROR,
                str(err),
            )
            self.changed()
            self.event("Warning", "Failed", f"Error: {err}", name)
            return 1
        started = time.monotonic()
        probes = asyncio.create_task(self._supervise(spec, st, proc, env))
        code = await proc.wait()
        probes.cancel()
        await asyncio.gather(probes, return_exceptions=True)
        self.procs.pop(name, None)
        if time.monotonic() - started > 2 * BACKOFF_MAX:
            self.m.backoff.reset(f"{self.uid}/{name}")
        now = clock.rfc3339()
        term = Terminated(code, exit_reason(code), st.running_since or now, now)
        group = self.cgroup(spec)
        if group.oom_killed():
            # Killed by the kernel (unshare reports that as 1, see runtime.wait).
            term.exit_code, term.reason = 128 + signal.SIGKILL, "OOMKilled"
            code = term.exit_code
        group.remove()
        if code == 128 and self._start_error(proc.log_path):
            term.reason, term.message = "StartError", self._start_error(proc.log_path)
        st.terminated, st.running_since, st.ready, st.started = term, None, False, False
        st.waiting = False
        st.last_terminated = term
        will_restart = not self.stop_requested.is_set() and self._restarts(spec, code)
        if will_restart:
            st.waiting, st.waiting_reason, st.waiting_message = True, "ContainerCreating", ""
        self.changed()
        return code

    def _restarts(self, spec: Obj, code: int) -> bool:
        policy = self.pod["spec"].get("restartPolicy", "Always")
        is_init = any(c["name"] == spec["name"] for c in self.pod["spec"].get("initContainers", []))
        if is_init:
            return code != 0 and policy != "Never"
        return policy == "Always" or (policy == "OnFailure" and code != 0)

    @staticmethod
    def _start_error(log: Path) -> str:
        with contextlib.suppress(OSError):
            for line in reversed(log.read_text(errors="replace").splitlines()):
                if line.startswith("container start failed:"):
                    return line.split(":", 1)[1].strip()
        return ""

    async def _start(
        self, spec: Obj, st: ContainerState, image: Image
    ) -> tuple[runtime.ContainerProcess, dict[str, str]]:
        assert self.sandbox is not None
        name = spec["name"]
        pod_for_env = {**self.pod, "status": self._status_now()}
        host = hostname_of(self.pod)
        env = await container_env(self.cfg, self.m.kube, pod_for_env, spec, image, host)
        argv = [expand(a, env) for a in command_line(spec, image)]
        if not argv:
            raise ValueError("no command specified")
        sec = runtime.security_for(self.pod, spec, image)
        cdir = self.dir / "containers" / name
        scratch = cdir / "scratch"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        shim_spec = {
            "netns": self.sandbox.path,
            "hostname": host,
            "rootfs": str(cdir / "rootfs"),
            "scratch": str(scratch),
            "layer": str(image.layer),
            "mounts": [m.to_json() for m in self._mounts(spec)],
            "argv": argv,
            "env": env,
            "cwd": spec.get("workingDir") or image.working_dir or "/",
            "security": sec,
        }
        group = self.cgroup(spec)
        shim_spec["cgroups"] = group.create() if group.limits.any else []
        log_path = self.log_path(name, st.restart_count)
        log_path.unlink(missing_ok=True)
        self.event(
            "Normal", "Pulled", f'Container image "{image.ref}" already present on machine', name
        )
        proc = await runtime.start(shim_spec, cdir, log_path)
        self.event("Normal", "Created", f"Created container: {name}", name)
        self.procs[name] = proc
        self.envs[name] = env
        self.processes[name] = {
            key: shim_spec[key] for key in ("rootfs", "cwd", "security", "cgroups")
        }
        st.container_id = f"navigator://{self.uid[:8]}-{name}-{st.restart_count}"
        st.image_id = f"navigator-local://{image.ref}"
        st.waiting, st.waiting_message = False, ""
        st.running_since = clock.rfc3339()
        st.terminated = None
        st.started = "startupProbe" not in spec
        st.ready = st.started and "readinessProbe" not in spec
        self.changed()
        return proc, env

    def cgroup(self, spec: Obj) -> cgroups.ContainerGroup:
        name = f"{self.m.cgroup_prefix}{self.uid}-{spec['name']}"
        return cgroups.ContainerGroup(name, cgroups.limits_of(spec))

    def _mounts(self, spec: Obj) -> list[Mount]:
        etc = self.dir / "etc"
        mounts = [
            Mount(str(etc / "hosts"), "/etc/hosts"),
            Mount(str(etc / "resolv.conf"), "/etc/resolv.conf"),
            Mount(str(etc / "hostname"), "/etc/hostname"),
        ]
        for vm in spec.get("volumeMounts", []):
            source = self.mounts_by_volume.get(vm["name"])
            if source is None:
                raise VolumeError(f"volume {vm['name']!r} is not defined in the pod")
            if vm.get("subPath"):
                sub = Path(source) / vm["subPath"]
                if not sub.exists():
                    sub.mkdir(parents=True)
                # A file of an API-backed volume is a link through `..data`:
                # mount the version it names now, as a kubelet does.
                source = str(sub.resolve() if sub.is_symlink() else sub)
            mounts.append(Mount(source, vm["mountPath"], bool(vm.get("readOnly"))))
        return mounts

    async def running_target(self, container: str) -> Target | None:
        """Where `kubectl exec` into `container` runs; None unless it is running
        (a container just started is waited for: its status says Running a
        moment before its command has replaced the shim)."""
        specs = [*self.pod["spec"].get("initContainers", []), *self.pod["spec"]["containers"]]
        spec = next((c for c in specs if c["name"] == container), None)
        proc = self.procs.get(container)
        if spec is None or proc is None or self.sandbox is None:
            return None
        if not await proc.wait_init_pid(within=10.0):
            return None
        return self.target(spec)

    def target(self, spec: Obj) -> Target:
        assert self.sandbox is not None
        ports = {p["name"]: p["containerPort"] for p in spec.get("ports", []) if p.get("name")}
        proc = self.procs.get(spec["name"])
        return Target(
            netns_path=self.sandbox.path,
            pod_ip=self.sandbox.address,
            ports=ports,
            init_pid=proc.init_pid() if proc else None,
            env=self.envs.get(spec["name"], {}),
            process=self.processes.get(spec["name"]),
        )

    async def _supervise(
        self, spec: Obj, st: ContainerState, proc: runtime.ContainerProcess, env: dict[str, str]
    ) -> None:
        """postStart, then startup, liveness and readiness probes until the container exits."""
        name = spec["name"]
        await proc.wait_init_pid()
        self.event("Normal", "Started", f"Started container {name}", name)
        hook = spec.get("lifecycle", {}).get("postStart")
        if hook:
            ok, msg = await run_handler(hook, self.target(spec), grace_period(self.pod))
            if not ok:
                self.event("Warning", "FailedPostStartHook", msg, name)
                await self.kill_container(spec, "FailedPostStartHook")
                return
        if "startupProbe" in spec:
            if not await self._probe(spec, st, "startupProbe"):
                return
            st.started = True
            st.ready = "readinessProbe" not in spec
            self.changed()
        kinds = [k for k in ("livenessProbe", "readinessProbe") if k in spec]
        await asyncio.gather(*(self._probe(spec, st, k) for k in kinds))

    async def _probe(self, spec: Obj, st: ContainerState, kind: str) -> bool:
        """Run one probe for ever; startup returns True once it passes.
        Liveness/startup failure kills the container (it restarts per policy)."""
        probe = spec.get(kind)
        if probe is None:
            return True
        name = spec["name"]
        label = kind.removesuffix("Probe").capitalize()
        period = float(probe.get("periodSeconds", 10))
        timeout = float(probe.get("timeoutSeconds", 1))
        need_ok = int(probe.get("successThreshold", 1))
        need_fail = int(probe.get("failureThreshold", 3))
        await asyncio.sleep(float(probe.get("initialDelaySeconds", 0)))
        oks = fails = 0
        while True:
            ok, msg = await run_handler(probe, self.target(spec), timeout)
            oks, fails = (oks + 1, 0) if ok else (0, fails + 1)
            if not ok:
                self.event("Warning", "Unhealthy", f"{label} probe failed: {msg}", name)
            if kind == "readinessProbe":
                ready = (oks >= need_ok) or (st.ready and fails < need_fail)
                if ready != st.ready:
                    st.ready = ready
                    self.changed()
            elif kind == "startupProbe" and ok:
                return True
            elif fails >= need_fail:
                why = "liveness" if kind == "livenessProbe" else "startup"
                self.event(
                    "Normal",
                    "Killing",
                    f"Container {name} failed {why} probe, will be restarted",
                    name,
                )
                await self.kill_container(spec, f"{label}ProbeFailed")
                return False
            await asyncio.sleep(period)

    async def kill_container(self, spec: Obj, why: str) -> None:
        """preStop, SIGTERM, and SIGKILL once the grace period is over."""
        name = spec["name"]
        proc = self.procs.get(name)
        if proc is None or proc.proc.returncode is not None:
            return
        grace = 0.0 if self.kill_now else grace_period(self.pod)
        deadline = time.monotonic() + grace
        hook = spec.get("lifecycle", {}).get("preStop")
        if hook and grace > 0:
            ok, msg = await run_handler(hook, self.target(spec), grace)
            if not ok:
                self.event("Warning", "FailedPreStopHook", f"PreStopHook failed: {msg}", name)
        if not self.kill_now:
            self.event("Normal", "Killing", f"Stopping container {name}", name)
        proc.signal(signal.SIGTERM if grace > 0 else signal.SIGKILL)
        remaining = max(deadline - time.monotonic(), MIN_KILL_GRACE if grace > 0 else 0.0)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), remaining)
        except TimeoutError:
            proc.signal(signal.SIGKILL)
            await proc.wait()
        log.info("%s/%s: container %s stopped (%s)", self.ns, self.name, name, why)

    async def _stop_all(self) -> None:
        specs = {c["name"]: c for c in self.pod["spec"].get("containers", [])}
        specs.update({c["name"]: c for c in self.pod["spec"].get("initContainers", [])})
        await asyncio.gather(
            *(self.kill_container(specs[n], "pod stopped") for n in list(self.procs))
        )
        for st in (*self.rt.init, *self.rt.app):
            st.ready = False
            if st.waiting and st.terminated is None and st.running_since is None:
                continue
            st.waiting = False

    # -- status ---------------------------------------------------------------

    def _status_now(self) -> Obj:
        return pod_status(self.pod, self.rt, clock.rfc3339())

    async def _report_loop(self) -> None:
        while True:
            await self.dirty.wait()
            self.dirty.clear()
            await self._flush_status()
            await asyncio.sleep(0.05)

    async def _flush_status(self) -> None:
        if self.kill_now or self.gone:
            return
        status = self._status_now()
        text = json.dumps(status, sort_keys=True)
        if text == self.last_sent:
            return
        body = {"metadata": {"uid": self.uid}, "status": status}
        try:
            updated = await self.m.kube.patch(pod_path(self.ns, self.name, "status"), body)
            self.last_sent = text
            self.pod = updated or self.pod
        except ApiError as err:
            if err.status in (404, 409):
                self.gone = err.status == 404
                return
            log.warning("%s/%s: status update failed: %s", self.ns, self.name, err)
            await self._retry_status_later()
        except httpx2.HTTPError as err:
            log.warning("%s/%s: status update failed: %s", self.ns, self.name, err)
            await self._retry_status_later()

    async def _retry_status_later(self) -> None:
        """A refused status is retried after a pause, not in a tight loop."""
        await asyncio.sleep(STATUS_RETRY)
        self.dirty.set()

    # -- the end --------------------------------------------------------------

    def _cleanup_sandbox(self) -> None:
        self.rt.sandbox_ready = False

    async def _cleanup(self) -> None:
        for proc in list(self.procs.values()):
            proc.signal(signal.SIGKILL)
            await proc.wait()
        cgroups.sweep(f"{self.m.cgroup_prefix}{self.uid}-")
        if self.sandbox is not None:
            await self.sandbox.destroy()
        self.m.addresses.release(self.uid)
        shutil.rmtree(self.dir, ignore_errors=True)

    async def _delete_object(self) -> None:
        if not self.deleting:
            return
        options = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": self.uid},
        }
        try:
            await self.m.kube.delete(pod_path(self.ns, self.name), options)
        except ApiError as err:
            if err.status not in (404, 409):
                log.warning("%s/%s: final delete failed: %s", self.ns, self.name, err)


class Backoff:
    """Per-key exponential back-off: 0 (the first restart is immediate), 10 s, 20 s, ... 5 min."""

    def __init__(self, initial: float = BACKOFF_INITIAL, cap: float = BACKOFF_MAX) -> None:
        self.initial, self.cap = initial, cap
        self.delays: dict[str, float] = {}

    def next(self, key: str) -> float:
        if key not in self.delays:
            self.delays[key] = 0.0
            return 0.0
        current = self.delays[key]
        self.delays[key] = self.initial if current == 0 else min(current * 2, self.cap)
        return self.delays[key]

    def reset(self, key: str) -> None:
        self.delays.pop(key, None)


class PodManager:
    """Watches the pods bound to this node and keeps one worker per pod."""

    def __init__(self, cfg: AgentConfig, kube: Kube, pod_cidr: str) -> None:
        self.cfg = cfg
        self.kube = kube
        self.recorder = Recorder(kube, cfg.node_name)
        self.addresses = netns.AddressPool(pod_cidr, cfg.state_dir / "addresses")
        self.backoff = Backoff()
        self.workers: dict[str, PodWorker] = {}
        self.cgroup_prefix = f"{cfg.bridge_netns}-{cfg.node_name}-"
        self.tasks: dict[str, asyncio.Task[None]] = {}

    async def clean_leftovers(self) -> None:
        """A previous agent's pods on this node: their processes and namespaces go."""
        for name in await netns.list_netns(self.cfg.netns_prefix):
            await netns.kill_netns_processes(name)
            await netns.ip("netns", "del", name, check=False)
        shutil.rmtree(self.cfg.pods_dir, ignore_errors=True)
        cgroups.sweep(self.cgroup_prefix)
        self.addresses.clear()

    async def run(self) -> None:
        """Watch this node's pods (after `clean_leftovers`)."""
        selector = f"spec.nodeName={self.cfg.node_name}"
        async for kind, pod in self.kube.watch("/api/v1/pods", fieldSelector=selector):
            if kind == "SYNCED":
                self.forget_missing(set(pod["uids"]))
                continue
            self.handle(kind, pod)

    def forget_missing(self, existing: set[str]) -> None:
        """Pods deleted while the watch was down: their containers go at once."""
        for uid, worker in list(self.workers.items()):
            if uid not in existing:
                worker.force_stop(gone=True)

    def handle(self, kind: str, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        worker = self.workers.get(uid)
        if kind == "DELETED":
            if worker is not None:
                worker.force_stop(gone=True)
            return
        if worker is not None:
            worker.update(pod)
            return
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            if pod["metadata"].get("deletionTimestamp"):
                self._spawn(uid, self._delete_finished(pod))
            return
        worker = PodWorker(self, pod)
        worker.update(pod)
        self.workers[uid] = worker
        self._spawn(uid, self._run(worker))

    def _spawn(self, uid: str, job: Coroutine[Any, Any, None]) -> None:
        if uid not in self.tasks:
            self.tasks[uid] = asyncio.create_task(job)

    async def _delete_finished(self, pod: Obj) -> None:
        """A pod that had finished before this agent started: only the object is left."""
        meta = pod["metadata"]
        options = {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}}
        with contextlib.suppress(ApiError):
            await self.kube.delete(pod_path(meta["namespace"], meta["name"]), options)
        self.tasks.pop(meta["uid"], None)

    async def _run(self, worker: PodWorker) -> None:
        try:
            await worker.run()
        except Exception:
            log.exception("pod %s/%s: worker failed", worker.ns, worker.name)
        finally:
            self.workers.pop(worker.uid, None)
            self.tasks.pop(worker.uid, None)
            self.recorder.forget(worker.uid)

    def find(self, namespace: str, name: str) -> PodWorker | None:
        for worker in self.workers.values():
            if worker.ns == namespace and worker.name == name:
                return worker
        return None

    async def shutdown(self) -> None:
        for worker in list(self.workers.values()):
            worker.force_stop(gone=False)
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
