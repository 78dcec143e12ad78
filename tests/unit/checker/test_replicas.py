"""Per-replica verification against a fake driver: every read goes to one owner alone, and
anything that could let another replica answer makes that replica "could not verify"."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from navigator.checker import replicas
from navigator.checker.connection import REPLICA_PROFILE
from navigator.checker.replicas import ReplicaSettings, verify_replicas
from navigator.checker.report import ReplicaRead
from navigator.checker.schema import Table, value_for

pytestmark = pytest.mark.unit

WRITER = uuid.UUID(int=7)
TABLE = Table("ks", "t", shards=4)
ROWS = list(range(40))  # 10 per shard
FAST = ReplicaSettings(attempts=2, retry_delay=0, settle_timeout=0, recheck_delay=0)


@dataclass(eq=False)
class Host:
    address: str
    host_id: uuid.UUID = field(default_factory=uuid.uuid4)
    is_up: bool = True


@dataclass
class Row:
    seq: int = 0
    value: str = ""
    count: int = 0
    host_id: Any = None
    files: int = 0


class Result:
    def __init__(self, pages: list[list[Row]], coordinator: Host) -> None:
        self._pages = iter(pages)
        self.current_rows = next(self._pages)
        self._next = next(self._pages, None)
        self.response_future = type("Future", (), {"coordinator_host": coordinator})()

    @property
    def has_more_pages(self) -> bool:
        return self._next is not None

    def fetch_next_page(self) -> None:
        self.current_rows, self._next = self._next or [], next(self._pages, None)

    def __iter__(self) -> Iterator[Row]:
        return iter(self.current_rows)

    def one(self) -> Row | None:
        return self.current_rows[0] if self.current_rows else None


class Bound:
    def __init__(self, values: tuple[Any, ...]) -> None:
        self.values = values
        self.routing_key = values[1]  # the fake token map is keyed by shard


class Prepared:
    consistency_level: Any = None
    fetch_size: Any = None
    is_idempotent: Any = None

    def bind(self, values: tuple[Any, ...]) -> Bound:
        return Bound(values)


class Cluster:
    """Three hosts (a, b, c), each owning every shard (RF 3 on 3 nodes)."""

    def __init__(self, hosts: list[Host]) -> None:
        self.hosts = hosts
        self.metadata = self
        self.refreshed = 0

    def refresh_nodes(self, force_token_rebuild: bool = False) -> None:
        self.refreshed += 1

    def get_replicas(self, keyspace: str, routing_key: int) -> list[Host]:
        assert keyspace == TABLE.keyspace
        return list(self.hosts)

    def all_hosts(self) -> list[Host]:
        return list(self.hosts)


class Session:
    """What each host holds; counts local reads; can lie about who answered."""

    def __init__(self, hosts: list[Host]) -> None:
        self.data = {h.address: set(ROWS) for h in hosts}
        self.local_reads = dict.fromkeys(self.data, 0)
        self.answered_by: dict[str, Host] = {}  # address → the host that (claims to) answer
        self.served_elsewhere: set[str] = set()  # reads not counted on the replica itself
        self.failing: set[str] = set()
        self.hints: list[Row] = []  # pending_hints rows on every node
        self.reads: list[tuple[str, str, int]] = []  # (address, profile, shard)
        self.on_read: Any = None
        self.page_size = 1000

    def prepare(self, query: str) -> Prepared:
        assert query == TABLE.select_shard()
        return Prepared()

    def execute(
        self,
        query: Any,
        params: Any = None,
        *,
        host: Host,
        execution_profile: str,
        timeout: float | None = None,
    ) -> Result:
        assert execution_profile == REPLICA_PROFILE
        if query == replicas.PENDING_HINTS:
            return Result([list(self.hints)], host)
        if query == replicas.LOCAL_READS:
            return Result([[Row(count=self.local_reads[host.address])]], host)
        if host.address in self.failing:
            raise OSError("connection refused")
        writer, shard = query.values
        self.reads.append((host.address, execution_profile, shard))
        if self.on_read:
            self.on_read(host, shard)
        seqs = sorted(s for s in self.data[host.address] if TABLE.shard_of(s) == shard)
        rows = [Row(seq, value_for(str(writer), seq)) for seq in seqs]
        pages = [rows[i : i + self.page_size] for i in range(0, len(rows), self.page_size)] or [[]]
        if host.address not in self.served_elsewhere:
            self.local_reads[host.address] += len(pages)
        return Result(pages, self.answered_by.get(host.address, host))


@pytest.fixture
def hosts() -> list[Host]:
    return [Host("10.0.0.1"), Host("10.0.0.2"), Host("10.0.0.3")]


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replicas.time, "sleep", lambda _s: None)


def run(session: Session, cluster: Cluster, settings: ReplicaSettings = FAST) -> list[ReplicaRead]:
    read = verify_replicas(session, cluster, TABLE, WRITER, ROWS, ROWS, settings)
    return sorted(read.replicas, key=lambda r: r.address)


def test_each_owner_is_read_alone_for_every_partition(hosts: list[Host]) -> None:
    session, cluster = Session(hosts), Cluster(hosts)
    reads = run(session, cluster)
    assert cluster.refreshed == 1  # a fresh token map
    assert sorted(session.reads) == sorted(
        (h.address, REPLICA_PROFILE, shard) for h in hosts for shard in range(TABLE.shards)
    )
    assert all(r.verified and r.found == set(ROWS) and r.owned == set(ROWS) for r in reads)
    assert [r.host_id for r in reads] == [str(h.host_id) for h in hosts]


def test_rows_missing_on_one_replica_are_reported_for_that_replica(hosts: list[Host]) -> None:
    session = Session(hosts)
    session.data["10.0.0.2"] -= {3, 17}
    a, b, c = run(session, Cluster(hosts))
    assert b.verified
    assert b.missing(frozenset(ROWS)) == {3, 17}
    assert not a.missing(frozenset(ROWS))
    assert not c.missing(frozenset(ROWS))
    # read again before reporting: the first pass, then only the short replica
    assert [address for address, _, _ in session.reads].count("10.0.0.2") == 2 * TABLE.shards
    assert [address for address, _, _ in session.reads].count("10.0.0.1") == TABLE.shards


def test_a_row_that_arrives_before_the_recheck_is_not_missing(hosts: list[Host]) -> None:
    session = Session(hosts)
    session.data["10.0.0.3"].discard(5)

    def hint_delivered(host: Host, shard: int) -> None:
        if host.address == "10.0.0.1":  # any read after the first pass on c
            return
        if len(session.reads) > 3 * TABLE.shards:
            session.data["10.0.0.3"].add(5)

    session.on_read = hint_delivered
    assert all(not r.missing(frozenset(ROWS)) for r in run(session, Cluster(hosts)))


def test_a_replica_that_lacks_rows_is_read_again_until_the_settle_time_is_up(
    hosts: list[Host], monkeypatch: pytest.MonkeyPatch
) -> None:
    session = Session(hosts)
    session.data["10.0.0.3"] -= {5, 6, 7}
    late = {2: 5, 4: 6}  # rows that arrive (a hint delivered) before the n-th re-read; 7 never
    clock = [0.0]
    sleeps: list[float] = []

    def wait(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds
        if len(sleeps) in late:
            session.data["10.0.0.3"].add(late[len(sleeps)])

    monkeypatch.setattr(replicas.time, "sleep", wait)
    monkeypatch.setattr(replicas.time, "monotonic", lambda: clock[0])
    settings = replace(FAST, settle_timeout=60, recheck_delay=10)
    *_, c = run(session, Cluster(hosts), settings)
    assert c.missing(frozenset(ROWS)) == {7}
    # a re-read every 10 s while anything is missing, even when nothing changed
    # between two reads (a hint may still be in a coordinator's memory), until 60 s
    assert sleeps == [10] * 6
    assert [a for a, _, _ in session.reads].count("10.0.0.3") == 7 * TABLE.shards


def test_a_replica_that_gets_everything_is_not_read_again(
    hosts: list[Host], monkeypatch: pytest.MonkeyPatch
) -> None:
    session = Session(hosts)
    session.data["10.0.0.3"].discard(5)
    sleeps: list[float] = []

    def wait(seconds: float) -> None:
        sleeps.append(seconds)
        session.data["10.0.0.3"].add(5)

    monkeypatch.setattr(replicas.time, "sleep", wait)
    *_, c = run(session, Cluster(hosts), replace(FAST, settle_timeout=60, recheck_delay=10))
    assert not c.missing(frozenset(ROWS))
    assert sleeps == [10]


def test_a_down_replica_is_not_read_and_cannot_be_verified(hosts: list[Host]) -> None:
    hosts[2].is_up = False
    session = Session(hosts)
    a, b, c = run(session, Cluster(hosts))
    assert c.error == "down"
    assert c.unreadable == set(ROWS)
    assert "10.0.0.3" not in {address for address, _, _ in session.reads}
    assert a.verified
    assert b.verified


def test_reads_that_keep_failing_leave_the_replica_unverified(hosts: list[Host]) -> None:
    session = Session(hosts)
    session.failing.add("10.0.0.1")
    a, *_ = run(session, Cluster(hosts))
    assert not a.verified
    assert a.unreadable == set(ROWS)
    assert a.error is not None
    assert "4 of 4 partitions unreadable" in a.error


def test_an_answer_from_another_coordinator_proves_nothing(hosts: list[Host]) -> None:
    session = Session(hosts)
    session.answered_by["10.0.0.1"] = hosts[1]
    a, *_ = run(session, Cluster(hosts))
    assert not a.verified
    assert a.error is not None
    assert "answered by" in a.error


def test_reads_served_by_another_replica_prove_nothing(hosts: list[Host]) -> None:
    # The coordinator was right, but its local-read counter did not move: the
    # coordinator asked another replica (speculative retry, dynamic snitch).
    session = Session(hosts)
    session.served_elsewhere.add("10.0.0.2")
    session.data["10.0.0.2"] -= {1}  # ...so what it lacks is not reported as missing
    _, b, _ = run(session, Cluster(hosts))
    assert not b.verified
    assert b.error == "only 0 of 4 reads were served by the replica itself"
    assert b.unreadable == {1}
    assert not b.missing(frozenset(ROWS))


def test_every_page_counts_as_one_local_read(hosts: list[Host]) -> None:
    session = Session(hosts)
    session.page_size = 3  # 10 rows per partition: 4 pages each
    reads = run(session, Cluster(hosts))
    assert all(r.verified and r.found == set(ROWS) for r in reads)
    assert session.local_reads["10.0.0.1"] == 4 * TABLE.shards


def test_waits_for_hints_to_replicas_before_reading(
    hosts: list[Host], monkeypatch: pytest.MonkeyPatch
) -> None:
    session = Session(hosts)
    session.hints = [Row(host_id=hosts[2].host_id, files=2)]
    polls: list[float] = []

    def poll(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 2:  # delivered while we wait
            session.hints = []

    def read_only_when_delivered(_host: Host, _shard: int) -> None:
        assert not session.hints

    monkeypatch.setattr(replicas.time, "sleep", poll)
    session.on_read = read_only_when_delivered
    reads = run(session, Cluster(hosts), ReplicaSettings(settle_timeout=60))
    assert len(polls) == 2
    assert all(r.verified for r in reads)


def test_settle_reports_what_is_still_pending(hosts: list[Host]) -> None:
    hosts[0].is_up = False
    session = Session(hosts)
    session.hints = [Row(host_id=hosts[1].host_id, files=1), Row(host_id=uuid.uuid4(), files=3)]
    waiting = replicas.settle(session, Cluster(hosts), hosts, timeout=0)
    assert waiting == [
        "10.0.0.1 is down",
        "hints for 10.0.0.2 on 10.0.0.2",
        "hints for 10.0.0.2 on 10.0.0.3",
    ]
