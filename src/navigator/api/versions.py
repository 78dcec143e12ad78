"""CEL for `major.minor.patch` version strings, shared by every database kind.

Each kind keeps its own pattern and messages (what it can run and why a step
is refused); the expressions that compare two versions live here once.
"""

from __future__ import annotations

from typing import Any

from navigator.api.common import rule

# A minor or a patch number: 0 or up to three digits without a leading zero.
_NUMBER = r"(0|[1-9][0-9]{0,2})"

SKIP_MAJOR_MESSAGE = "version cannot skip a major version: upgrade one major version at a time"


def pattern_from_major(first: int) -> str:
    """x.y.z with a major version of `first` (1 to 9) or later, up to 99."""
    if not 1 <= first <= 9:
        raise ValueError(f"the first major version must be 1 to 9, not {first}")
    return rf"^([{first}-9]|[1-9][0-9])\.{_NUMBER}\.{_NUMBER}$"


def cel_regex(pattern: str) -> str:
    """A regular expression as the body of a single-quoted CEL string."""
    return pattern.replace("\\", "\\\\")


def part(v: str, i: int) -> str:
    """CEL: the i-th number (0 major, 1 minor, 2 patch) of the x.y.z string `v`."""
    return f"int({v}.split('.')[{i}])"


def not_older(new: str, old: str) -> str:
    """CEL, for two versions of one major: new's y.z >= old's y.z, compared numerically."""
    (n1, n2), (o1, o2) = (part(new, i) for i in (1, 2)), (part(old, i) for i in (1, 2))
    return f"{n1} > {o1} || ({n1} == {o1} && {n2} >= {o2})"


def not_older_version(new: str, old: str) -> str:
    """CEL: version `new` is `old` or newer (major, then minor and patch)."""
    major, old_major = part(new, 0), part(old, 0)
    return f"{major} > {old_major} || ({major} == {old_major} && ({not_older(new, old)}))"


def guard(pattern: str, expr: str, new: str = "self", old: str = "oldSelf") -> str:
    """Evaluate a version rule only when both versions are well formed (the
    pattern's own rule reports a malformed one)."""
    p = cel_regex(pattern)
    return f"!{new}.matches('{p}') || !{old}.matches('{p}') || ({expr})"


def pattern_rule(pattern: str, message: str) -> dict[str, Any]:
    return rule(f"self.matches('{cel_regex(pattern)}')", message)


def no_skipped_major(pattern: str) -> dict[str, Any]:
    """A transition rule on the version field: at most one major version up."""
    return rule(
        guard(pattern, f"{part('self', 0)} - {part('oldSelf', 0)} <= 1"), SKIP_MAJOR_MESSAGE
    )
