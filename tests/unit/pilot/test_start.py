"""How a member starts (`pilot.cassandra.start.plan`): seeds only from members
that joined, never itself on an empty volume, and a lost volume waits to be
replaced instead of bootstrapping as a new node."""

from __future__ import annotations

from pathlib import Path

import pytest

from navigator.pilot.cassandra.start import (
    MAX_SEEDS,
    JoinedMember,
    StartInputs,
    cluster_view,
    pending_replace,
    plan,
    volume_empty,
)
from navigator.pilot.core.intents import Intent, Outcome, Phase

pytestmark = pytest.mark.unit

ME, FOUNDER = "c-r1-1", "c-r1-0"
JOINED = (JoinedMember("c-r1-0", "h0", "10.0.0.1"), JoinedMember("c-r2-0", "h2", "10.0.0.3"))


def inputs(**kw: object) -> StartInputs:
    base: dict[str, object] = {
        "me": ME,
        "my_address": "10.0.0.2",
        "founder": FOUNDER,
        "volume_empty": True,
        "recorded_host_id": "",
        "joined": JOINED,
    }
    return StartInputs(**{**base, **kw})  # type: ignore[arg-type]


def test_a_new_member_bootstraps_from_joined_members_never_from_itself() -> None:
    start = plan(inputs())
    assert (start.plan, start.seeds) == ("Join", ("10.0.0.1", "10.0.0.3"))
    assert "10.0.0.2" not in start.seeds


def test_with_no_joined_member_only_the_founder_starts_and_seeds_itself() -> None:
    assert plan(inputs(joined=())).plan == "Hold"
    founder = plan(inputs(me=FOUNDER, my_address="10.0.0.1", joined=()))
    assert (founder.plan, founder.seeds) == ("Found", ("10.0.0.1",))


def test_the_founder_with_an_empty_volume_in_a_cluster_that_joined_bootstraps() -> None:
    others = (JoinedMember("c-r2-0", "h2", "10.0.0.3"),)
    start = plan(inputs(me=FOUNDER, my_address="10.0.0.1", joined=others))
    assert (start.plan, start.seeds) == ("Join", ("10.0.0.3",))


def test_joined_members_without_an_address_are_no_seeds() -> None:
    down = (JoinedMember("c-r1-0", "h0", ""),)
    assert plan(inputs(joined=down)).plan == "Hold"


def test_a_member_that_had_joined_and_lost_its_volume_waits_to_be_replaced() -> None:
    start = plan(inputs(recorded_host_id="h1"))
    assert start.plan == "Hold"
    assert "h1" in start.reason
    assert start.volume_empty
    assert start.report()["volumeEmpty"] is True


def test_asked_to_replace_it_starts_as_the_replacement_of_the_old_address() -> None:
    replace = Intent("replace-1", "Replace", address="10.0.0.7", host_id="h1")
    start = plan(inputs(recorded_host_id="h1", replace=replace))
    assert (start.plan, start.replacing, start.intent) == ("Replace", "10.0.0.7", "replace-1")
    assert start.seeds == ("10.0.0.1", "10.0.0.3")
    assert plan(inputs(replace=replace, joined=())).plan == "Hold"


def test_a_restart_on_its_own_data_may_list_itself() -> None:
    start = plan(inputs(volume_empty=False, recorded_host_id="h1"))
    assert start.plan == "Join"
    assert "10.0.0.2" in start.seeds
    alone = plan(inputs(volume_empty=False, recorded_host_id="h1", joined=()))
    assert (alone.plan, alone.seeds) == ("Join", ("10.0.0.2",))
    # Data but never recorded as joined, and nobody to ask: hold.
    assert plan(inputs(volume_empty=False, joined=())).plan == "Hold"


def test_seeds_are_capped() -> None:
    many = tuple(JoinedMember(f"m{i}", f"h{i}", f"10.0.1.{i}") for i in range(9))
    assert len(plan(inputs(joined=many)).seeds) == MAX_SEEDS


def test_pending_replace_ignores_finished_ones() -> None:
    r1, r2 = Intent("r1", "Replace", "a"), Intent("r2", "Replace", "b")
    done = {"r1": Outcome("r1", "Replace", Phase.SUCCEEDED)}
    assert pending_replace((r1, r2), done) == r2
    assert pending_replace((r1,), done) is None
    assert pending_replace((Intent("d", "Decommission"),), {}) is None


def test_volume_empty(tmp_path: Path) -> None:
    assert volume_empty(tmp_path)
    (tmp_path / "data" / "system").mkdir(parents=True)
    assert volume_empty(tmp_path)
    (tmp_path / "data" / "system" / "local-1").mkdir()
    assert not volume_empty(tmp_path)


def test_cluster_view_reads_the_founder_and_who_joined() -> None:
    cluster = {
        "apiVersion": "navigator.dev/v1alpha1",
        "kind": "CassandraCluster",
        "metadata": {"name": "c", "namespace": "ns"},
        "spec": {
            "version": "5.0.6",
            "nodePools": [
                {"name": "r0", "replicas": 0},
                {"name": "r1", "replicas": 2},
            ],
        },
        "status": {
            "members": [
                {"name": "c-r1-0", "hostID": "h0", "state": "UN"},
                {"name": "c-r1-1", "hostID": "h1", "state": "DN"},
                {"name": "c-r1-2", "hostID": "h2", "state": "UJ"},
                {"name": "c-r1-3", "state": "Unknown"},
            ]
        },
    }
    view = cluster_view(cluster)
    assert view.founder == "c-r1-0"
    assert view.joined == (("c-r1-0", "h0"), ("c-r1-1", "h1"))
    assert view.recorded == {"c-r1-0": "h0", "c-r1-1": "h1", "c-r1-2": "h2"}
