"""Pruning a member's decommission intents (issue 13: intents were never pruned,
so a member refused 16 times could never be asked again)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from navigator.operator.core.intents import MAX_INTENTS, with_new_intent, with_replace

pytestmark = pytest.mark.unit


def test_refused_and_failed_intents_make_room_for_the_new_one() -> None:
    phases = {"g1": "Refused", "g2": "Failed", "g3": "Succeeded", "g4": "Running"}
    assert with_new_intent(["g1", "g2", "g3", "g4", "g5"], phases, "g6") == (
        "g3",
        "g4",
        "g5",
        "g6",
    )


def test_a_member_refused_many_times_can_still_be_asked() -> None:
    ids: tuple[str, ...] = ()
    for generation in range(1, 40):
        ids = with_new_intent(ids, dict.fromkeys(ids, "Refused"), f"g{generation}")
    assert ids == ("g39",)


def test_asking_again_with_the_same_id_does_not_repeat_it() -> None:
    assert with_new_intent(["g1"], {}, "g1") == ("g1",)


@given(
    st.lists(st.integers(0, 60), unique=True, max_size=40),
    st.dictionaries(
        st.integers(0, 60), st.sampled_from(["Running", "Succeeded", "Failed", "Refused"])
    ),
)
def test_never_more_than_the_crd_allows_and_the_new_one_always_last(
    numbers: list[int], answered: dict[int, str]
) -> None:
    ids = [f"g{n}" for n in numbers]
    phases = {f"g{n}": phase for n, phase in answered.items()}
    kept = with_new_intent(ids, phases, "new")
    assert len(kept) <= MAX_INTENTS
    assert kept[-1] == "new"
    assert not {phases.get(i) for i in kept[:-1]} & {"Refused", "Failed"}


def test_a_replace_intent_stays_until_it_succeeded() -> None:
    r1 = {"id": "replace-a", "address": "10.0.0.1", "hostID": "h"}
    r2 = {"id": "replace-b", "address": "10.0.0.1", "hostID": "h"}
    assert with_replace([r1], {"replace-a": "Running"}, r2) == [r1, r2]
    assert with_replace([r1], {"replace-a": "Succeeded"}, r2) == [r2]
    assert with_replace([r1], {}, r1) == [r1]  # asked again: not twice
    assert with_replace([r1], {"replace-a": "Succeeded"}) == []
