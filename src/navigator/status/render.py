"""Renderers of the status view: rich renderables for people, plain dicts for
`-o json`. Pure: times are relative to an injected `now`.

`to_text` captures a renderable as plain text (no colours) at a fixed width,
which is what the tests compare and what a pipe receives.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from navigator.api.common import Operation
from navigator.status.view import RESTART_STALLED, ClusterView, MemberView, RolloutView

PHASE_STYLE = {
    "Ready": "green",
    "Progressing": "yellow",
    "Degraded": "red",
    "Unavailable": "red",
    "Paused": "blue",
}
NONE = "-"
SHORT_REVISION = 7  # like a short git hash: enough to tell revisions apart


def short(revision: str) -> str:
    return revision[:SHORT_REVISION] or NONE


def state_style(state: str) -> str:
    if state.startswith("D"):
        return "bold red"
    if state == "UN":
        return "green"
    return "bold yellow" if state.startswith("U") else "dim"


def age(started_at: str, now: datetime | None) -> str:
    """How long ago an RFC 3339 time was, e.g. 4m10s; empty when unknown."""
    if not started_at or now is None:
        return ""
    try:
        then = datetime.fromisoformat(started_at.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m" if hours < 48 else f"{hours // 24}d{hours % 24}h"


def phase_text(view: ClusterView) -> Text:
    phase = view.phase or "NoStatus"
    return Text(phase, style=PHASE_STYLE.get(phase, "dim"))


def operation_lines(
    op: Operation | None, now: datetime | None, *, stalled: bool = False
) -> list[Text]:
    """The operation in progress and, when held, the rule it waits for (in
    red when it halted a rollout)."""
    if op is None:
        return [Text.assemble(("Operation  ", "bold"), ("none (settled)", "dim"))]
    since = f", started {op.started_at}" if op.started_at else ""
    ago = age(op.started_at or "", now)
    since += f" ({ago} ago)" if ago else ""
    lines = [
        Text.assemble(("Operation  ", "bold"), (f"{op.type} {op.target}".strip(), "yellow"), since)
    ]
    if op.blocked_by is not None:
        lines.append(
            Text.assemble(
                ("Waiting on ", "bold"),
                (op.blocked_by.rule, "bold red" if stalled else "bold magenta"),
                (f": {op.blocked_by.reason}", "red" if stalled else ""),
            )
        )
    return lines


def rollout_line(rollout: RolloutView) -> Text:
    """Progress of a rollout, e.g. `Rollout    Upgrade  1/3 members updated
    current demo-rack1-2`, then STALLED when a restarted member did not come back."""
    line = Text.assemble(
        ("Rollout    ", "bold"),
        (rollout.type or NONE, "yellow"),
        f"  {rollout.updated}/{rollout.members} members updated",
    )
    if rollout.current:
        line.append(f"  current {rollout.current}")
    if rollout.stalled:
        line.append("  ").append("STALLED", style="bold red")
    return line


def header(view: ClusterView, now: datetime | None) -> Group:
    generation = ""
    if view.generation is not None:
        observed = view.observed_generation
        generation = f"   generation {view.generation}"
        if observed is not None and observed != view.generation:
            generation += f" (status describes {observed})"
    title = Text.assemble(
        ("CassandraCluster ", "bold"),
        (f"{view.namespace}/{view.name}", "bold cyan"),
        f"   Cassandra {view.version}   ",
        phase_text(view),
        f"   ready {view.ready_members or NONE}",
        generation,
        ("   paused" if view.paused else "", "blue"),
    )
    stalled = view.rollout is not None and view.rollout.stalled
    lines = operation_lines(view.operation, now, stalled=stalled)
    if view.rollout is not None:  # between what is happening and what it waits on
        lines.insert(1, rollout_line(view.rollout))
    return Group(title, *lines)


def pools_table(view: ClusterView) -> Table:
    table = Table(title="Pools", title_justify="left", box=None, header_style="bold")
    for column in ("POOL", "DATACENTER", "RACK"):
        table.add_column(column)
    for column in ("DESIRED", "EXISTING", "READY", "UPDATED"):
        table.add_column(column, justify="right")
    table.add_column("REVISION", no_wrap=True)
    for p in view.pools:
        table.add_row(
            p.name,
            p.datacenter or NONE,
            p.rack or NONE,
            str(p.desired),
            str(p.replicas),
            str(p.ready),
            str(p.updated),
            short(p.revision),
        )
    return table


def member_note(m: MemberView) -> str:
    """What is happening to the member, in a few words."""
    note = m.activity
    if m.decommission is not None:
        d = m.decommission
        attempt = f", attempt {d.attempts}" if d.attempts else ""
        note += f" (intent {d.intent} {d.phase}{attempt})"
        note += f": {d.message}" if d.message and d.phase in ("Failed", "Refused") else ""
    if m.last_error:
        note += f"; last error: {m.last_error}" if note else f"last error: {m.last_error}"
    return note.strip()


def _ready(value: bool | None, *, no: str = "red") -> Text:
    if value is None:
        return Text(NONE, style="dim")
    return Text("yes", style="green") if value else Text("no", style=no)


def _note_style(m: MemberView) -> str:
    if m.last_error or m.activity == RESTART_STALLED:
        return "red"
    return "yellow" if m.leaving or m.rolling else ""


def members_table(view: ClusterView) -> Table:
    table = Table(title="Members", title_justify="left", box=None, header_style="bold")
    table.add_column("MEMBER", no_wrap=True)
    table.add_column("POOL")
    table.add_column("DC")
    table.add_column("RACK")
    table.add_column("STATE", no_wrap=True)
    table.add_column("MODE")
    table.add_column("LOAD", justify="right", no_wrap=True)
    table.add_column("READY")
    table.add_column("REVISION", no_wrap=True)
    table.add_column("UPDATED")
    table.add_column("HOST ID", no_wrap=True)
    table.add_column("NOTE", overflow="fold")
    for m in view.members:
        note = member_note(m)
        table.add_row(
            Text(m.name, style="bold yellow" if m.leaving or m.rolling else ""),
            m.pool or NONE,
            m.datacenter or NONE,
            m.rack or NONE,
            Text(m.state, style=state_style(m.state)),
            m.mode or NONE,
            m.load or NONE,
            _ready(m.ready),
            short(m.revision),
            _ready(m.updated, no="yellow"),  # not updated yet is a rollout's normal
            m.host_id or NONE,
            Text(note, style=_note_style(m)),
        )
    if not view.members:
        table.add_row(Text("no members yet", style="dim"), *[""] * (len(table.columns) - 1))
    return table


def conditions_table(view: ClusterView) -> Table:
    table = Table(title="Conditions", title_justify="left", box=None, header_style="bold")
    for column in ("TYPE", "STATUS", "REASON", "MESSAGE"):
        table.add_column(column, overflow="fold")
    for c in view.conditions:
        table.add_row(c.type, c.status, c.reason, c.message)
    return table


def cluster_renderable(view: ClusterView, now: datetime | None = None) -> RenderableType:
    """The detailed view of one cluster."""
    parts: list[RenderableType] = [header(view, now), Text(""), pools_table(view), Text("")]
    parts.append(members_table(view))
    if view.conditions:
        parts += [Text(""), conditions_table(view)]
    return Group(*parts)


def state_counts(view: ClusterView) -> str:
    """Members by state, e.g. `3 UN, 1 UL`, normal first."""
    counts = Counter(m.state for m in view.members)
    order = sorted(counts, key=lambda s: (s != "UN", s))
    return ", ".join(f"{counts[s]} {s}" for s in order) or NONE


def summary_renderable(
    views: Sequence[ClusterView], *, all_namespaces: bool = False, now: datetime | None = None
) -> RenderableType:
    """One row per cluster."""
    table = Table(box=None, header_style="bold")
    columns = ["NAME", "VERSION", "PHASE", "READY", "MEMBERS", "OPERATION", "WAITING ON"]
    for column in ["NAMESPACE", *columns] if all_namespaces else columns:
        table.add_column(column, overflow="fold", no_wrap=column in ("NAME", "MEMBERS"))
    for v in views:
        op = v.operation
        operation = f"{op.type} {op.target}".strip() if op else NONE
        if v.rollout is not None:
            operation += f", {v.rollout.updated}/{v.rollout.members} updated"
        ago = age(op.started_at or "", now) if op else ""
        operation += f" ({ago})" if ago else ""
        waiting = f"{op.blocked_by.rule}: {op.blocked_by.reason}" if op and op.blocked_by else NONE
        row: list[Text | str] = [
            v.name,
            v.version,
            phase_text(v),
            v.ready_members or NONE,
            state_counts(v),
            operation,
            waiting,
        ]
        table.add_row(*([v.namespace, *row] if all_namespaces else row))
    return table


def to_text(renderable: RenderableType, width: int = 160) -> str:
    """Plain text of a renderable, as a pipe or a test sees it."""
    console = Console(file=io.StringIO(), width=width, color_system=None, record=True)
    console.print(renderable)
    lines = console.export_text(styles=False).splitlines()
    return "".join(f"{line.rstrip()}\n" for line in lines)


def cluster_json(view: ClusterView) -> dict[str, Any]:
    """The machine form of one cluster (see docs/status.md for the schema)."""
    op = view.operation
    return {
        "name": view.name,
        "namespace": view.namespace,
        "version": view.version,
        "phase": view.phase,
        "readyMembers": view.ready_members,
        "desiredMembers": view.desired_members,
        "paused": view.paused,
        "generation": view.generation,
        "observedGeneration": view.observed_generation,
        "operation": None
        if op is None
        else {
            "type": op.type,
            "target": op.target,
            "startedAt": op.started_at or None,
            "blockedBy": op.blocked_by.model_dump() if op.blocked_by else None,
        },
        "rollout": rollout_json(view.rollout),
        "pools": [
            {
                "name": p.name,
                "datacenter": p.datacenter,
                "rack": p.rack,
                "desiredReplicas": p.desired,
                "replicas": p.replicas,
                "readyReplicas": p.ready,
                "updatedReplicas": p.updated,
                "revision": p.revision,
            }
            for p in view.pools
        ],
        "members": [member_json(m) for m in view.members],
        "conditions": [asdict(c) for c in view.conditions],
    }


def rollout_json(rollout: RolloutView | None) -> dict[str, Any] | None:
    if rollout is None:
        return None
    return {
        "type": rollout.type,
        "updatedMembers": rollout.updated,
        "members": rollout.members,
        "currentMember": rollout.current,
        "stalled": rollout.stalled,
    }


def member_json(m: MemberView) -> dict[str, Any]:
    d = m.decommission
    return {
        "name": m.name,
        "pool": m.pool,
        "datacenter": m.datacenter,
        "rack": m.rack,
        "state": m.state,
        "operationMode": m.mode,
        "load": m.load,
        "hostID": m.host_id,
        "version": m.version,
        "ready": m.ready,
        "revision": m.revision,
        "updated": m.updated,
        "activity": m.activity,
        "leaving": m.leaving,
        "decommission": None
        if d is None
        else {"intent": d.intent, "phase": d.phase, "message": d.message, "attempts": d.attempts},
        "lastError": m.last_error or None,
    }


def clusters_json(views: Sequence[ClusterView]) -> dict[str, Any]:
    return {"items": [cluster_json(v) for v in views]}
