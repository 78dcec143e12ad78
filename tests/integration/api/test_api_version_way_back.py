"""`spec.version` may go back to a version a member still runs, checked by the real API server.

The rule sits on the root of the CassandraCluster schema (field rules cannot see
status) and reads the status the operator last wrote (`oldSelf.status.members`).
Status is written here the way the operator writes it: through `/status`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("navigator_crds")]

BACK = "version can only go back to a version a member still runs (status.members[].version)"
OLDER_MAJOR = "cannot go back to an older major version"
SKIP_MAJOR = "cannot skip a major version"


def cluster(version: str, replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "navigator.dev/v1alpha1",
        "kind": "CassandraCluster",
        "metadata": {"name": "c"},
        "spec": {"version": version, "nodePools": [{"name": "r", "replicas": replicas}]},
    }


def apply(local: Any, ns: str, obj: dict[str, Any], *, check: bool = True) -> Any:
    return local.kubectl(
        "apply", "--server-side", "--field-manager=test", "-n", ns, "-f", "-",
        input=json.dumps(obj), check=check,
    )  # fmt: skip


def stored(local: Any, ns: str) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(
        local.kubectl("get", "cass", "c", "-n", ns, "-o", "json").stdout
    )
    return obj


def write_status(local: Any, ns: str, status: dict[str, Any], *, check: bool = True) -> Any:
    """A merge patch of /status (lists are replaced whole), as the operator writes it."""
    return local.kubectl(
        "patch", "cass", "c", "-n", ns, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}), check=check,
    )  # fmt: skip


def members(*versions: str) -> dict[str, Any]:
    return {
        "members": [
            {"name": f"c-r-{i}", "pool": "r", "state": "UN", "version": v}
            for i, v in enumerate(versions)
        ]
    }


def refused(local: Any, ns: str, version: str, *fragments: str) -> None:
    """Setting `version` is refused with every fragment, and nothing is stored."""
    before = stored(local, ns)
    proc = apply(local, ns, cluster(version), check=False)
    assert proc.returncode != 0, f"{version} was accepted"
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr
    assert "spec.version: Invalid value" in proc.stderr, proc.stderr  # the error's fieldPath
    after = stored(local, ns)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def accepted(local: Any, ns: str, version: str) -> None:
    apply(local, ns, cluster(version))
    assert stored(local, ns)["spec"]["version"] == version


@pytest.mark.parametrize("target", ["5.0.7", "5.1.0", "5.10.0", "6.0.0"])
@pytest.mark.parametrize("status", [None, members("5.0.6", "5.0.6")], ids=["no-status", "status"])
def test_upgrades_are_accepted(
    local_cluster: Any, namespace: str, target: str, status: dict[str, Any] | None
) -> None:
    apply(local_cluster, namespace, cluster("5.0.6"))
    if status is not None:
        write_status(local_cluster, namespace, status)
    accepted(local_cluster, namespace, target)


def test_skipping_a_major_is_refused_even_if_a_member_runs_it(
    local_cluster: Any, namespace: str
) -> None:
    apply(local_cluster, namespace, cluster("5.0.6"))
    write_status(local_cluster, namespace, members("5.0.6", "7.0.0"))
    refused(local_cluster, namespace, "7.0.0", "spec.version", SKIP_MAJOR)


@pytest.mark.parametrize(
    "status",
    [
        None,
        {"phase": "Progressing"},  # a status without members
        {"members": []},
        {"members": [{"name": "c-r-0"}, {"name": "c-r-1"}]},  # members that report no version
    ],
    ids=["no-status", "no-members", "empty-members", "members-without-version"],
)
def test_downgrade_without_a_member_on_that_version_is_refused(
    local_cluster: Any, namespace: str, status: dict[str, Any] | None
) -> None:
    apply(local_cluster, namespace, cluster("5.0.6"))
    accepted(local_cluster, namespace, "5.0.7")
    if status is not None:
        write_status(local_cluster, namespace, status)
    refused(local_cluster, namespace, "5.0.6", "spec.version", BACK)


def test_going_back_to_the_version_a_member_still_runs(local_cluster: Any, namespace: str) -> None:
    """An upgrade 5.0.6 -> 5.0.7 whose image cannot be pulled: the way back is open."""
    apply(local_cluster, namespace, cluster("5.0.6"))
    write_status(local_cluster, namespace, members("5.0.6", "5.0.6"))
    accepted(local_cluster, namespace, "5.0.7")
    write_status(local_cluster, namespace, members("5.0.6", ""))  # c-r-1 cannot start
    accepted(local_cluster, namespace, "5.0.6")
    # Forward again, and back again while one member already runs the new version.
    accepted(local_cluster, namespace, "5.0.7")
    write_status(local_cluster, namespace, members("5.0.6", "5.0.7"))
    accepted(local_cluster, namespace, "5.0.6")


def test_going_back_across_minors_to_a_version_a_member_runs(
    local_cluster: Any, namespace: str
) -> None:
    apply(local_cluster, namespace, cluster("5.0.9"))
    write_status(local_cluster, namespace, members("5.0.9", "5.0.9"))
    accepted(local_cluster, namespace, "5.1.2")
    accepted(local_cluster, namespace, "5.0.9")


def test_downgrade_to_a_version_no_member_runs_is_refused(
    local_cluster: Any, namespace: str
) -> None:
    apply(local_cluster, namespace, cluster("5.0.6"))
    write_status(local_cluster, namespace, members("5.0.6", "5.0.6"))
    accepted(local_cluster, namespace, "5.0.8")
    write_status(local_cluster, namespace, members("5.0.6", "5.0.8"))
    refused(local_cluster, namespace, "5.0.7", "spec.version", BACK)
    refused(local_cluster, namespace, "5.0.5", "spec.version", BACK)
    accepted(local_cluster, namespace, "5.0.6")  # what c-r-0 still runs


def test_downgrade_across_a_major_is_refused_even_if_a_member_runs_it(
    local_cluster: Any, namespace: str
) -> None:
    apply(local_cluster, namespace, cluster("5.0.9"))
    write_status(local_cluster, namespace, members("5.0.9", "5.0.9"))
    accepted(local_cluster, namespace, "6.0.0")
    write_status(local_cluster, namespace, members("5.0.9", "6.0.0"))
    refused(local_cluster, namespace, "5.0.9", "spec.version", OLDER_MAJOR)
    proc = apply(local_cluster, namespace, cluster("5.0.9"), check=False)
    assert BACK not in proc.stderr, "a cross-major downgrade names the major rule only"


def test_status_writes_are_unaffected(local_cluster: Any, namespace: str) -> None:
    """A status write keeps the spec, so the version rule always passes, whatever status says."""
    apply(local_cluster, namespace, cluster("5.0.6"))
    write_status(local_cluster, namespace, members("5.0.6", "5.0.6"))
    accepted(local_cluster, namespace, "5.0.7")
    write_status(local_cluster, namespace, members("5.0.6", "5.0.7"))
    accepted(local_cluster, namespace, "5.0.6")
    # spec.version (5.0.6) is now older than what every member reports, then no member
    # reports a version, then members and status go away: each write is accepted.
    for status in (
        members("5.0.7", "5.0.7"),
        members("", ""),
        {"members": [], "phase": "Degraded"},
        {"members": None, "phase": None},
    ):
        write_status(local_cluster, namespace, status)
    got = stored(local_cluster, namespace)
    assert got["spec"]["version"] == "5.0.6"
    assert "members" not in got.get("status", {})
    # Changes to the rest of the spec and to metadata still go through.
    obj = cluster("5.0.6", replicas=3)
    obj["metadata"]["labels"] = {"team": "data"}
    apply(local_cluster, namespace, obj)
    got = stored(local_cluster, namespace)
    assert got["spec"]["nodePools"][0]["replicas"] == 3
    assert got["metadata"]["labels"] == {"team": "data"}


def test_the_way_back_is_judged_on_the_old_status_not_the_request(
    local_cluster: Any, namespace: str
) -> None:
    """A user cannot open the way back by sending a status with the spec: the main
    resource ignores status, and the rule reads what the operator last wrote."""
    apply(local_cluster, namespace, cluster("5.0.6"))
    accepted(local_cluster, namespace, "5.0.7")
    obj = cluster("5.0.6")
    obj["status"] = members("5.0.6")
    proc = local_cluster.kubectl(
        "replace", "-n", namespace, "-f", "-",
        input=json.dumps({**obj, "metadata": stored(local_cluster, namespace)["metadata"]}),
        check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert BACK in proc.stderr, proc.stderr
