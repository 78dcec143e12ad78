"""Dead-node replacement, decided (pure).

A member whose data is gone (its volume was lost, deleted or wiped, or its
node is gone for good and it was rescheduled onto a new volume) comes back
with an empty volume. Its pilot sees that the cluster's status records a
host ID for it, so it does not bootstrap as a new node (which would leave
the old host ID behind as a dead node owning nothing); it holds, and reports
why (`Pilot.status.start`: plan Hold, volumeEmpty).

The operator then asks it, through a `Replace` intent, to start with
`replace_address_first_boot` of its old address: it takes over the old
node's tokens and streams their data from the other replicas. Only when the
evidence is unambiguous (`replaced_host_is_down`: every other member serves
and still holds the old host ID as down), only one at a time, and never
while another topology change runs (decommissions come first in `decide`;
scale-out, scale-in and rollouts wait for every member to be Up/Normal).

A member whose volume lived on a node that is gone for good (its Node
object deleted: `operator.lostvolume`) cannot come back where it was: its
pod stays unschedulable. On the same evidence (its old host ID down in every
peer's view), the operator deletes its claim and pod (`ReleaseLostVolume`),
and it comes back on a new volume, as above.

A member that is merely down is never replaced automatically: that is a
user's decision, asked by annotating its pod `navigator.dev/replace=true`
(`navigator replace`): on the same evidence, its claim and pod are deleted
and it comes back as above. The annotation goes with the pod, so the request
is served once. A member its peers see up is never wiped.
"""

from __future__ import annotations

from navigator.operator.cassandra import predicates as p
from navigator.operator.cassandra.actions import Action, ReleaseLostVolume, RequestReplace, Wait
from navigator.operator.cassandra.observed import Member, Observed

REPLACE = "Replace"


def replace_intent_id(member: Member) -> str:
    """One intent per incarnation of the member: its pod's UID."""
    uid = member.pod.uid if member.pod else ""
    return f"replace-{uid}"


def next_replacement(observed: Observed) -> Action | None:
    """The replacement to ask for or wait on, or None."""
    running = next((m for m in observed.members() if m.replacing), None)
    if running is not None:
        reason = f"{running.name} is replacing its old self: streaming its data from the replicas"
        return Wait(p.REPLACEMENT_COMPLETES, reason, REPLACE, running.name)
    lost = next((m for m in observed.members() if m.to_release), None)
    target = lost or next((m for m in observed.members() if m.awaiting_replacement), None)
    if target is None:
        return None
    gates = (p.others_up_normal(observed, target), p.replaced_host_is_down(observed, target))
    if block := next((b for b in gates if b is not None), None):
        return Wait(block.rule, block.reason, REPLACE, target.name)
    if lost is not None:
        return ReleaseLostVolume(lost.pool, lost.name, lost.to_release)
    address = p.replaced_address(observed, target)
    if not address:
        reason = f"no serving member knows the address of host {target.recorded_host_id}"
        return Wait(p.REPLACED_HOST_IS_DOWN, reason, REPLACE, target.name)
    return RequestReplace(
        target.pool, target.name, replace_intent_id(target), address, target.recorded_host_id
    )
