"""What every object the operator writes shares: a manifest is a plain dict,
written with one field manager."""

from __future__ import annotations

from typing import Any

Manifest = dict[str, Any]
FIELD_MANAGER = "navigator-operator"
