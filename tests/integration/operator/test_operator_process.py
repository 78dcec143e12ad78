"""`navigator operator` as a process: kopf wakes the reconcile, the Lease
elects one of two replicas, and a spec change reaches the StatefulSet; a
leader frozen (SIGSTOP) long enough to lose the Lease writes nothing once it
runs again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Namespace
from lightkube.types import PatchType
from opkube import cluster_manifest, members, report

from navigator.operator.core.kube import CassandraClusterResource
from navigator.testing.operator import OperatorProcess
from navigator.testing.prom import free_port, scrape, total

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture
def operators(
    local_cluster: Any, namespace: str, navigator_crds: None, tmp_path: Path
) -> Iterator[list[str]]:
    """Two operator replicas sharing one Lease in the test namespace, both
    watching only that namespace."""
    replicas = [
        OperatorProcess(
            local_cluster.kubeconfig,
            tmp_path / f"{name}.log",
            namespace,
            identity=name,
            resync=5,
            lease_seconds=6,
            namespaces=(namespace,),
        ).start()
        for name in ("op-a", "op-b")
    ]
    try:
        yield [r.identity for r in replicas]
    finally:
        for r in replicas:
            r.stop()
            print(f"--- {r.identity}:\n{r.tail()}")


async def until(check: Any, limit: float = 60) -> Any:
    deadline = time.monotonic() + limit
    while True:
        try:
            if got := await check():
                return got
        except Exception:  # not there yet
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.3)


async def test_one_of_two_replicas_acts_and_follows_changes(
    aclient: AsyncClient, namespace: str, operators: list[str]
) -> None:
    obj: Any = CassandraClusterResource(cluster_manifest("demo", namespace, replicas=2))
    started = time.monotonic()
    await aclient.create(obj)

    async def sts_replicas() -> int | None:
        sts = await aclient.get(StatefulSet, "demo-rack1", namespace=namespace)
        return sts.spec.replicas if sts.spec else None

    async def created() -> bool:
        return await sts_replicas() is not None

    await until(created)
    first_write = time.monotonic() - started
    lease = await aclient.get(Lease, "navigator-operator", namespace=namespace)
    assert lease.spec is not None
    assert lease.spec.holderIdentity in operators

    async def grown() -> bool:
        await report(aclient, namespace, await members(aclient, namespace, "demo"))
        return await sts_replicas() == 2

    await until(grown, limit=90)

    async def settled() -> bool:
        got = await aclient.get(CassandraClusterResource, "demo", namespace=namespace)
        st = got.to_dict().get("status") or {}
        return st.get("readyMembers") == "0/2" and "operation" not in st

    await until(settled)
    await aclient.patch(
        CassandraClusterResource,
        "demo",
        {"spec": {"paused": True}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )

    async def paused() -> bool:
        got = await aclient.get(CassandraClusterResource, "demo", namespace=namespace)
        return (got.to_dict().get("status") or {}).get("phase") == "Paused"

    await until(paused)
    print(f"\ncreate -> StatefulSet written: {first_write:.2f} s")


async def test_a_namespaced_operator_leaves_other_namespaces_alone(
    aclient: AsyncClient, namespace: str, operators: list[str]
) -> None:
    """--namespace: a cluster elsewhere gets no StatefulSet and no status,
    while one in the watched namespace is reconciled meanwhile."""
    other = f"{namespace}-other"
    await aclient.create(Namespace(metadata=ObjectMeta(name=other)))
    try:
        await aclient.create(CassandraClusterResource(cluster_manifest("elsewhere", other)))
        await aclient.create(CassandraClusterResource(cluster_manifest("here", namespace)))

        async def here_reconciled() -> bool:
            await aclient.get(StatefulSet, "here-rack1", namespace=namespace)
            got = await aclient.get(CassandraClusterResource, "here", namespace=namespace)
            return bool((got.to_dict().get("status") or {}).get("observedGeneration"))

        await until(here_reconciled)
        await asyncio.sleep(3)  # more than a wake-up's latency, in case one was coming
        untouched = await aclient.get(CassandraClusterResource, "elsewhere", namespace=other)
        assert not untouched.to_dict().get("status")
        assert [s async for s in aclient.list(StatefulSet, namespace=other)] == []
    finally:
        await aclient.delete(Namespace, other)


LEASE_SECONDS = 4
# With the leader's answers SLOW late, a spec change reaches it (its watch)
# SLOW after it was made, and the pass it wakes sends its first write three
# answers or more later (the cluster, its children, the objects it applies):
# frozen FREEZE_AFTER after the change, the leader has started that pass
# (from ~0.6 s) and written nothing (until ~2.1 s).
SLOW = 0.5
FREEZE_AFTER = 1.3
WRITES = "navigator_operator_api_writes_total"  # the Lease's own writes are not counted
RECONCILES = "navigator_operator_reconciles_total"
IS_LEADER = "navigator_operator_is_leader"
SSD, NVME, HDD = {"disk": "ssd"}, {"disk": "nvme"}, {"disk": "hdd"}


class SlowLink:
    """A TCP relay to the API server on a thread of its own that can hold
    back what the server sends by `delay` seconds. TLS passes through as
    bytes: the client still talks to, and verifies, the API server."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.target_port = host, port
        self.delay = 0.0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> SlowLink:
        self._thread.start()
        serving = asyncio.start_server(self._relay, self.host, 0)
        self._server = asyncio.run_coroutine_threadsafe(serving, self._loop).result(timeout=5)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(
            self._pump(client_r, server_w, lambda: 0.0),
            self._pump(server_r, client_w, lambda: self.delay),
            return_exceptions=True,
        )

    @staticmethod
    async def _pump(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: Callable[[], float]
    ) -> None:
        """Copy reader to writer, each chunk `delay()` (as it was when the
        chunk came) after it came, in order."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def send() -> None:
            while (item := await queue.get()) is not None:
                due, chunk = item
                await asyncio.sleep(max(0.0, due - loop.time()))
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.create_task(send())
        try:
            while chunk := await reader.read(1 << 16):
                queue.put_nowait((loop.time() + delay(), chunk))
        finally:
            queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await sender
            writer.close()


@dataclass
class Replica:
    op: OperatorProcess
    link: SlowLink  # between this replica and the API server


@pytest.fixture
def replicas(
    local_cluster: Any, namespace: str, navigator_crds: None, tmp_path: Path
) -> Iterator[dict[str, Replica]]:
    """Two replicas on a short Lease, by identity, each with its metrics on
    a port of its own and its own SlowLink to the API server. No periodic
    resync within a test: every pass is woken by a change. A replica left
    stopped is continued first (a stopped process does not act on SIGTERM)."""
    text = Path(local_cluster.kubeconfig).read_text()
    found = re.search(r"server: https://([^:\s]+):(\d+)", text)
    assert found, "the admin kubeconfig names its server"
    host, port = found.groups()
    metrics_ports: set[int] = set()
    while len(metrics_ports) < 2:
        metrics_ports.add(free_port())
    out: dict[str, Replica] = {}
    try:
        for name, metrics_port in zip(("op-a", "op-b"), sorted(metrics_ports), strict=True):
            link = SlowLink(host, int(port)).start()
            kubeconfig = tmp_path / f"{name}.kubeconfig"
            kubeconfig.write_text(
                text.replace(found.group(0), f"server: https://{host}:{link.port}")
            )
            op = OperatorProcess(
                kubeconfig,
                tmp_path / f"{name}.log",
                namespace,
                identity=name,
                resync=600,
                lease_seconds=LEASE_SECONDS,
                namespaces=(namespace,),
                metrics_port=metrics_port,
            )
            out[name] = Replica(op, link)
            op.start()
        yield out
    finally:
        for r in out.values():
            if r.op.proc is not None and r.op.proc.poll() is None:
                os.kill(r.op.pid, signal.SIGCONT)
            r.op.stop()
            print(f"--- {r.op.identity}:\n{r.op.tail()}")
        for r in out.values():
            r.link.stop()


async def metrics_of(op: OperatorProcess) -> dict[str, float]:
    return await asyncio.to_thread(scrape, op.metrics_port)


async def lease_holder(client: AsyncClient, namespace: str) -> str | None:
    lease = await client.get(Lease, "navigator-operator", namespace=namespace)
    return lease.spec.holderIdentity if lease.spec else None


def node_selector(sts: dict[str, Any]) -> dict[str, str] | None:
    return ((sts.get("spec") or {}).get("template") or {}).get("spec", {}).get("nodeSelector")


async def select_nodes(
    client: AsyncClient, namespace: str, name: str, selector: dict[str, str]
) -> None:
    """A spec change the StatefulSet carries: the pool's nodeSelector."""
    pool = {"name": "rack1", "replicas": 1, "nodeSelector": selector}
    await client.patch(
        CassandraClusterResource,
        name,
        {"spec": {"nodePools": [pool]}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )


async def applied(client: AsyncClient, namespace: str, name: str, selector: dict[str, str]) -> str:
    """Wait until the pool's StatefulSet has `selector`; its resourceVersion then."""

    async def check() -> str | None:
        sts = (await client.get(StatefulSet, f"{name}-rack1", namespace=namespace)).to_dict()
        return str(sts["metadata"]["resourceVersion"]) if node_selector(sts) == selector else None

    return str(await until(check, limit=15))


async def settled(client: AsyncClient, namespace: str, name: str) -> None:
    """The pool's member reports as its pilot would, until the cluster's
    status has caught up with the spec and no operation is in progress."""

    async def check() -> bool:
        await report(client, namespace, await members(client, namespace, name))
        got = (await client.get(CassandraClusterResource, name, namespace=namespace)).to_dict()
        st = got.get("status") or {}
        done = st.get("observedGeneration") == got["metadata"]["generation"]
        return done and "operation" not in st

    await until(check)


async def quiet_writes(op: OperatorProcess) -> float:
    """The replica's write count once a second went by without a write while it leads."""

    async def check() -> float | None:
        first = total(await metrics_of(op), WRITES)
        await asyncio.sleep(1.0)
        now = await metrics_of(op)
        return total(now, WRITES) if total(now, WRITES) == first and now[IS_LEADER] else None

    return float(await until(check, limit=20))


@contextlib.asynccontextmanager
async def history(
    client: AsyncClient, res: Any, namespace: str, name: str, since: str | None
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every version of one object after resourceVersion `since`, as the
    block runs (a watch from that version replays what came in between)."""
    seen: list[dict[str, Any]] = []

    async def record() -> None:
        fields = {"metadata.name": name}
        async for _, obj in client.watch(
            res, namespace=namespace, fields=fields, resource_version=since
        ):
            seen.append(obj.to_dict())

    task = asyncio.create_task(record())
    try:
        yield seen
        await asyncio.sleep(1.0)  # the watch catches up with the last writes
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass
class Sampled:
    holders: set[str | None]
    gauges: set[float]  # the resumed replica's is_leader
    refused_after: float | None  # when its log said a pass ended for want of the Lease


async def sample(
    client: AsyncClient, namespace: str, op: OperatorProcess, log_offset: int, seconds: float
) -> Sampled:
    started = time.monotonic()
    out = Sampled(set(), set(), None)
    while time.monotonic() < started + seconds:
        out.holders.add(await lease_holder(client, namespace))
        out.gauges.add((await metrics_of(op))[IS_LEADER])
        if out.refused_after is None and "no longer leading" in op.log.read_text()[log_offset:]:
            out.refused_after = time.monotonic() - started
        await asyncio.sleep(0.2)
    return out


async def freeze(replica: Replica, moment: str, change: Callable[[], Awaitable[None]]) -> None:
    """SIGSTOP the replica, with `change` made before (mid-pass: while its
    answers come slowly, so it is frozen inside the pass the change woke,
    after its reads, before its first write) or after (between passes)."""
    if moment == "mid-pass":
        replica.link.delay = SLOW
        await change()
        await asyncio.sleep(FREEZE_AFTER)
        os.kill(replica.op.pid, signal.SIGSTOP)
        replica.link.delay = 0.0
    else:
        os.kill(replica.op.pid, signal.SIGSTOP)
        await change()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("moment", ["between-passes", "mid-pass"])
async def test_a_leader_frozen_past_its_lease_does_not_act_when_resumed(
    aclient: AsyncClient, namespace: str, replicas: dict[str, Replica], moment: str
) -> None:
    """The leader is frozen with SIGSTOP, between passes or in the middle of
    one (its reads of a spec change done, its write not yet sent); the other
    replica takes the Lease over and applies that change and a second one.
    Continued, with a third change waking it, the old leader knows from its
    own monotonic clock that its term is over: it makes no write (its write
    counter stays where it was before the freeze; a pass it was in ends at
    its first write, NotLeader), its is_leader gauge says 0, the Lease stays
    with the new leader, and the StatefulSet and the cluster's status only
    ever move forward (watched from before the resume)."""
    name = "demo"
    await aclient.create(CassandraClusterResource(cluster_manifest(name, namespace, replicas=1)))
    await settled(aclient, namespace, name)
    leader_id = await lease_holder(aclient, namespace)
    assert leader_id in replicas
    leader = replicas[leader_id]
    (other_id,) = set(replicas) - {leader_id}
    before = await quiet_writes(leader.op)
    assert before > 0, "the leader created the cluster's children"
    other_before = total(await metrics_of(replicas[other_id].op), WRITES)
    assert other_before == 0, "the standby wrote nothing while it did not lead"

    await freeze(leader, moment, lambda: select_nodes(aclient, namespace, name, SSD))
    stopped = time.monotonic()

    async def taken_over() -> bool:
        return await lease_holder(aclient, namespace) == other_id

    await until(taken_over, limit=3 * LEASE_SECONDS)
    takeover = time.monotonic() - stopped
    await applied(aclient, namespace, name, SSD)
    first_apply = time.monotonic() - stopped
    await select_nodes(aclient, namespace, name, NVME)
    since = await applied(aclient, namespace, name, NVME)
    cluster = await aclient.get(CassandraClusterResource, name, namespace=namespace)
    cluster_since = cluster.metadata.resourceVersion if cluster.metadata else None

    log_offset = leader.op.log.stat().st_size
    async with (
        history(aclient, StatefulSet, namespace, f"{name}-rack1", since) as sts_history,
        history(aclient, CassandraClusterResource, namespace, name, cluster_since) as statuses,
    ):
        os.kill(leader.op.pid, signal.SIGCONT)
        resumed = await metrics_of(leader.op)
        await select_nodes(aclient, namespace, name, HDD)
        seen = await sample(aclient, namespace, leader.op, log_offset, 2 * LEASE_SECONDS)
        await applied(aclient, namespace, name, HDD)
    end = await metrics_of(leader.op)
    other_end = total(await metrics_of(replicas[other_id].op), WRITES)
    resumed_log = leader.op.log.read_text()[log_offset:]

    assert resumed[IS_LEADER] == 0, "right after the resume it knows its term is over"
    assert seen.gauges == {0.0}, "it never believed it led again"
    assert seen.holders == {other_id}, "the Lease stayed with the new leader"
    # (A write sent before the freeze would count after the resume too: were
    # this to fail in mid-pass, see whether FREEZE_AFTER came too late.)
    assert total(resumed, WRITES) == before, "nothing written while frozen or on waking"
    assert total(end, WRITES) == before, "nothing written after the resume"
    assert other_end > other_before, "the new leader applied the changes"
    assert "elected leader" not in resumed_log
    if moment == "mid-pass":
        assert f"no longer leading: the pass of {namespace}/{name} ends here" in resumed_log
    selectors = [node_selector(s) for s in sts_history]
    assert HDD in selectors, selectors
    assert all(s in (NVME, HDD) for s in selectors), f"nothing older came back: {selectors}"
    latest = selectors[selectors.index(HDD) :]
    assert latest == [HDD] * len(latest), f"nothing reverted the latest: {selectors}"
    generations = [(c.get("status") or {}).get("observedGeneration") for c in statuses]
    assert generations == sorted(generations), f"the status never went back: {generations}"

    print(
        f"\n[{moment}] SIGSTOP -> the other replica holds the Lease: {takeover:.2f} s"
        f" (lease {LEASE_SECONDS} s, renewed every {LEASE_SECONDS / 3:.2f} s)"
        f"\nSIGSTOP -> the pending change applied by the new leader: {first_apply:.2f} s"
        f"\nresumed replica: writes {before:g} before the freeze, {total(resumed, WRITES):g}"
        f" right after SIGCONT, {total(end, WRITES):g} at the end;"
        f" reconciles {total(resumed, RECONCILES):g} -> {total(end, RECONCILES):g};"
        f" its pass refused (log) {seen.refused_after} s after SIGCONT"
        f"\nnew leader: writes {other_before:g} -> {other_end:g}"
        f"\nStatefulSet nodeSelector history: {selectors}"
        f"\ncluster status observedGeneration history: {generations}"
        f"\nresumed replica's log after SIGCONT: {resumed_log!r}"
    )
