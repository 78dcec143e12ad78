"""The node agent process: register the node, then run its loops until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from navigator.local.agent.config import AgentConfig
from navigator.local.agent.kube import Kube, tls_context
from navigator.local.agent.node import NodeHeartbeat

log = logging.getLogger("navigator.agent")


async def run(cfg: AgentConfig) -> None:
    from navigator.local.agent.pods import PodManager
    from navigator.local.agent.provisioner import Provisioner
    from navigator.local.agent.server import KubeletServer

    kube = Kube(
        cfg.server,
        tls_context(cfg.ca_file, cfg.cert_file, cfg.key_file),
        user_agent=f"navigator-agent/{cfg.node_name}",
    )
    provisioner_kube = Kube(
        cfg.server,
        tls_context(cfg.ca_file, cfg.provisioner_cert_file, cfg.provisioner_key_file),
        user_agent=f"navigator-provisioner/{cfg.node_name}",
    )
    heartbeat = NodeHeartbeat(cfg, kube)
    node = await heartbeat.register()  # NotReady until the heartbeat's first round
    cidr = await heartbeat.pod_cidr()
    log.info(
        "node %s registered (uid %s, pod CIDR %s)", cfg.node_name, node["metadata"]["uid"], cidr
    )
    pods = PodManager(cfg, kube, cidr)
    await pods.clean_leftovers()
    server = KubeletServer(cfg, pods)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # The heartbeat renews the Lease, then posts Ready: a Ready node has its
    # Lease, its pod CIDR and an agent that runs its pods.
    jobs: list[Coroutine[Any, Any, None]] = [
        heartbeat.run(),
        pods.run(),
        Provisioner(cfg, provisioner_kube).run(),
    ]
    tasks = [asyncio.create_task(job) for job in jobs]
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        if task is not waiter and task.exception() is not None:
            log.error("agent loop failed", exc_info=task.exception())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    log.info("stopping: killing pods, reporting the node NotReady")
    await pods.shutdown()
    await server.stop()
    with contextlib.suppress(Exception):
        await heartbeat.post_status(ready=False, message="node agent stopped")
    await kube.close()
    await provisioner_kube.close()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.exit("usage: python -m navigator.local.agent AGENT_CONFIG_JSON")
    cfg = AgentConfig.load(Path(args[0]))
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s %(levelname)s {cfg.node_name} %(name)s: %(message)s",
    )
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    asyncio.run(run(cfg))
