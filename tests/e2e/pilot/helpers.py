"""Helpers for the pilot e2e tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from navigator.testing.members import Member
from navigator.testing.pytest_plugin import LocalCluster


@dataclass
class PilotCluster:
    local: LocalCluster
    namespace: str
    members: list[Member]

    def kubectl(self, *args: str, **kw: Any) -> Any:
        return self.local.kubectl("-n", self.namespace, *args, **kw)

    def pilot(self, member: Member) -> dict[str, Any]:
        out = self.kubectl("get", "pilot", member.name, "-o", "json").stdout
        return dict(json.loads(out))

    def status(self, member: Member) -> dict[str, Any]:
        return dict(self.pilot(member).get("status") or {})

    def facts(self, member: Member) -> dict[str, Any]:
        return dict(self.status(member).get("facts") or {})

    def peer_states(self, member: Member) -> dict[str, str]:
        return {p["address"]: p["status"] for p in self.facts(member).get("peers", [])}

    def request(self, member: Member, intent_id: str, action: str) -> None:
        intents = list((self.pilot(member).get("spec") or {}).get("intents") or [])
        intents.append({"id": intent_id, "action": action})
        patch = json.dumps({"spec": {"intents": intents}})
        self.kubectl("patch", "pilot", member.name, "--type=merge", "-p", patch)

    def outcome(self, member: Member, intent_id: str) -> dict[str, Any]:
        for o in self.status(member).get("intents") or []:
            if o["id"] == intent_id:
                return dict(o)
        return {}
