"""Issue 15's TLS, end to end, on real Cassandra pods: a cluster of three
members with client and internode encryption on (and auth, the default).

In file order: create → a plaintext CQL client and one trusting another CA
are refused, one trusting the cluster's CA logs in (and Cassandra lists its
connection as TLS) → members talk to each other over TLS, as each member's
own log says of every connection it made or accepted → the pool's
certificates renewed while the data checker writes: every member serves the
new certificate within minutes, no pod restarts, nothing lost.

Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import datetime as dt
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from cassandra.cluster import NoHostAvailable  # type: ignore[import-untyped]
from cryptography import x509

from navigator.checker.connection import ssl_context_for
from navigator.operator.cassandra.tls import new_ca
from navigator.testing import faults as f
from navigator.testing.members import eventually

from .conftest import Env, cql_login, is_settled, manifest, pool, writing

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

NAME = "secure"
POOL = "rack1"
MEMBERS = [f"{NAME}-{POOL}-{i}" for i in range(3)]
JOIN = 420.0  # seconds a member may take to join and settle on two shared cores
CQL_PORT = 9042


def tls_status(env: Env) -> dict[str, Any]:
    return dict((env.cassandra(NAME).get("status") or {}).get("tls") or {})


def served_certificate(address: str, ca: Path) -> x509.Certificate:
    """The certificate a member presents on its CQL port (a new connection)."""
    context = ssl_context_for(ca)
    with (
        socket.create_connection((address, CQL_PORT), timeout=10) as raw,
        context.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def pod_ip(env: Env, member: str) -> str:
    return str(((env.get("pod", member) or {}).get("status") or {}).get("podIP") or "")


def incarnations(env: Env) -> dict[str, tuple[str, int]]:
    """Per member: its pod's uid and its container's restart count."""
    out = {}
    for member in MEMBERS:
        pod = env.get("pod", member) or {}
        statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
        out[member] = (pod["metadata"]["uid"], int(statuses[0].get("restartCount") or 0))
    return out


def test_create_three_members_with_tls(operator_env: Env) -> None:
    env = operator_env
    started = time.monotonic()
    obj = manifest(NAME, [pool(POOL, 3)])
    obj["spec"]["tls"] = {"clientEncryption": True, "internodeEncryption": True}
    env.apply(obj)
    eventually(
        lambda: is_settled(env.cassandra(NAME), 3) and tls_status(env).get("ready"),
        timeout=3 * JOIN,
        interval=3,
        what="3 members Up/Normal with TLS ready",
    )
    tls = tls_status(env)
    assert tls["issuer"] == f"Secret {NAME}-ca", tls
    env.record("TLS: create 3 members", time.monotonic() - started, None)


def test_only_a_client_that_trusts_the_cluster_ca_gets_in(
    operator_env: Env, tmp_path: Path
) -> None:
    env = operator_env
    address = pod_ip(env, MEMBERS[0])
    with pytest.raises(NoHostAvailable):  # plaintext: the port speaks TLS only
        cql_login(address, env.credentials(NAME))
    other = tmp_path / "other-ca.crt"
    other.write_text(new_ca("someone-else", dt.datetime.now(dt.UTC))[0])
    with pytest.raises(NoHostAvailable):  # the members' certificates are not its CA's
        cql_login(address, env.credentials(NAME), ssl_context_for(other))
    ca = env.ca_file(NAME)
    assert ca is not None
    session = cql_login(address, env.credentials(NAME), ssl_context_for(ca))
    try:
        rows = list(
            session.execute("SELECT username, ssl_enabled, ssl_protocol FROM system_views.clients")
        )
    finally:
        session.cluster.shutdown()
    login = env.credentials(NAME)
    assert login is not None
    ours = [r for r in rows if r.username == login[0]]
    assert ours, rows
    assert all(r.ssl_enabled for r in ours), ours
    print(f"\nCassandra lists our connections as TLS: {sorted({r.ssl_protocol for r in ours})}")


def test_members_talk_to_each_other_over_tls(operator_env: Env) -> None:
    """Each member's own log names the encryption of every internode
    connection it opened or accepted; none is unencrypted."""
    env = operator_env
    for member in MEMBERS:
        jvm = f.pod_processes(env.namespace, member).database
        assert jvm is not None, member
        lines = []
        for log in Path(f"/proc/{jvm}/root/var/log/cassandra").glob("*.log"):
            lines += [
                line
                for line in log.read_text(errors="replace").splitlines()
                if "encryption = " in line
            ]
        assert lines, f"{member}: no internode connection logged"
        assert not [line for line in lines if "encryption = unencrypted" in line], member
        assert all("encryption = encrypted(" in line for line in lines), member
        print(f"{member}: {len(lines)} internode connections, e.g. {lines[-1][-120:]}")


def test_renewed_certificates_are_served_without_a_restart(operator_env: Env) -> None:
    """The pool's certificates made anew (its Secret deleted: what docs/security.md
    says to do to rotate them now): every member serves its new certificate
    on new connections, no pod restarts, and the writes carry on."""
    env = operator_env
    ca = env.ca_file(NAME)
    assert ca is not None
    before = {m: served_certificate(pod_ip(env, m), ca).serial_number for m in MEMBERS}
    lives = incarnations(env)
    notes: list[str] = []
    with writing(env, NAME, "TLS: certificates renewed", notes=notes):
        started = time.monotonic()
        env.kubectl("delete", "secret", f"{NAME}-{POOL}-tls")
        # The operator reads Secrets, it does not watch them: any change to
        # the cluster brings the next pass sooner than the resync.
        env.kubectl("annotate", "cassandracluster", NAME, f"e2e.navigator.dev/poke={time.time()}")

        def renewed() -> bool:
            now = {m: served_certificate(pod_ip(env, m), ca).serial_number for m in MEMBERS}
            return all(now[m] != before[m] for m in MEMBERS)

        eventually(renewed, timeout=300, interval=5, what="every member serving a new certificate")
        took = time.monotonic() - started
        notes.append(f"every member served its new certificate {took:.0f} s after the Secret went")
    assert incarnations(env) == lives  # no pod replaced, no container restarted
    print(f"\nrenewed without a restart in {took:.0f} s")
