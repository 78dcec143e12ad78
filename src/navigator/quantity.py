"""Kubernetes resource quantities ("1Gi", "500m", "1e3", 2): one parser for
the operator, its builders and the node agent."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

_QUANTITY = re.compile(
    r"([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE])?"
)
_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def quantity(value: Any) -> Decimal | None:
    """The exact value of a Kubernetes quantity ("1Gi", "500m", 2, "1e3"), or None."""
    match = _QUANTITY.fullmatch(str(value).strip()) if isinstance(value, str | int) else None
    if match is None:
        return None
    number, suffix = Decimal(match[1]), match[2] or ""
    if suffix in _SUFFIX:
        return number * _SUFFIX[suffix]
    if suffix in _DECIMAL:
        return number.scaleb(_DECIMAL[suffix])
    return number.scaleb(int(suffix[1:])) if suffix else number


def require_quantity(value: Any) -> Decimal:
    """`quantity`, or ValueError naming the value."""
    parsed = quantity(value)
    if parsed is None:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    return parsed
