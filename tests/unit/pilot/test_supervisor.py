"""The database child's output: passed through unchanged, last lines kept."""

from __future__ import annotations

import io

import pytest

from navigator.pilot.core import supervisor

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]


async def test_output_passes_through_and_the_last_lines_are_kept() -> None:
    out = io.BytesIO()
    script = "for i in $(seq 1 250); do echo line $i; done; echo oops >&2; printf tail"
    child = await supervisor.start(["sh", "-c", script], out=out)
    assert await child.wait() == 0
    words = await child.last_words()
    lines = out.getvalue().decode().split("\n")
    assert lines[0] == "line 1"
    assert lines[-2:] == ["oops", "tail"]
    assert len(words) == supervisor.TAIL_LINES
    assert words[-3:] == ["line 250", "oops", "tail"]


async def test_an_overlong_line_is_replaced_by_a_note_and_output_goes_on() -> None:
    out = io.BytesIO()
    size = supervisor.LINE_LIMIT + 10
    script = f"head -c {size} /dev/zero | tr '\\0' x; echo; echo after"
    child = await supervisor.start(["sh", "-c", script], out=out)
    await child.wait()
    words = await child.last_words()
    assert words[-1] == "after"
    assert any("longer than 1 MiB was dropped" in w for w in words)
    assert len(out.getvalue()) < 1000
