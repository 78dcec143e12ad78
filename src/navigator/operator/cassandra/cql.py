"""The operator's CQL: replicate the system keyspaces, set up the superuser.

Side effects only; `navigator.operator.cassandra.auth` decides when. The driver is
synchronous, so each call runs in a thread, against one member at a time
(a white-listed address: no other coordinator is tried behind our back),
with short timeouts. A password never leaves this module: not in a log
line, an exception message or a return value (`CqlFailed` carries the
driver's message with any password in it masked).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from navigator.operator.cassandra.auth import DEFAULT_ROLE, SYSTEM_KEYSPACES

log = logging.getLogger(__name__)

CQL_PORT = 9042
CONNECT_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 30.0
# Roles are read through a cache (roles_validity, 2 s by default) and at
# LOCAL_QUORUM: a role just created may take a moment to log in everywhere.
LOGIN_ATTEMPTS, LOGIN_PAUSE_S = 5, 2.0


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


DEFAULT_CREDENTIALS = Credentials(DEFAULT_ROLE, DEFAULT_ROLE)


class CqlFailed(Exception):
    """What went wrong, in words safe to log and show."""


class LoginRefused(CqlFailed):
    pass


def quote_identifier(name: str) -> str:
    """A CQL identifier as a quoted name (any role name is safe in it)."""
    return '"' + name.replace('"', '""') + '"'


def _mask(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def ssl_context(ca: str) -> ssl.SSLContext:
    """TLS to a member, its certificate verified against the cluster's CA.
    Not its name: the operator connects by pod IP, and a member's
    certificate names its stable DNS names, not an address that changes."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=ca)
    return context


@contextmanager
def session(
    address: str, credentials: Credentials | None, port: int = CQL_PORT, ca: str = ""
) -> Iterator[Any]:
    """A session on `address` alone, logged in as `credentials` (None: no
    login), over TLS verified against `ca` (PEM) when given."""
    from cassandra.auth import PlainTextAuthProvider  # type: ignore[import-untyped]
    from cassandra.cluster import (  # type: ignore[import-untyped]
        EXEC_PROFILE_DEFAULT,
        Cluster,
        ExecutionProfile,
        NoHostAvailable,
    )
    from cassandra.policies import WhiteListRoundRobinPolicy  # type: ignore[import-untyped]

    profile = ExecutionProfile(
        load_balancing_policy=WhiteListRoundRobinPolicy([address]),
        request_timeout=REQUEST_TIMEOUT_S,
    )
    auth = (
        PlainTextAuthProvider(username=credentials.username, password=credentials.password)
        if credentials
        else None
    )
    cluster = Cluster(
        [address],
        port=port,
        auth_provider=auth,
        ssl_context=ssl_context(ca) if ca else None,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=CONNECT_TIMEOUT_S,
        control_connection_timeout=CONNECT_TIMEOUT_S,
        max_schema_agreement_wait=60,
    )
    secrets = [credentials.password] if credentials else []
    try:
        try:
            sess = cluster.connect()
        except NoHostAvailable as err:
            text = _mask(str(err), secrets)
            if "AuthenticationFailed" in text or "Bad credentials" in text.lower():
                user = credentials.username if credentials else "(none)"
                raise LoginRefused(f"{address}: login as {user} refused") from None
            raise CqlFailed(f"{address}: cannot connect: {text}") from None
        try:
            yield sess
        except CqlFailed:
            raise
        except Exception as err:  # the driver's errors: masked and named
            raise CqlFailed(
                f"{address}: {type(err).__name__}: {_mask(str(err), secrets)}"
            ) from None
    finally:
        cluster.shutdown()


def _first_session(
    addresses: Sequence[str], logins: Sequence[Credentials | None], port: int, ca: str = ""
) -> tuple[str, Credentials | None]:
    """The first (address, login) that connects; else the last error
    (`LoginRefused` when the last attempt was a refused login)."""
    last: CqlFailed = CqlFailed("no member address to connect to")
    for address in addresses:
        for login in logins:
            try:
                with session(address, login, port, ca):
                    return address, login
            except LoginRefused as err:
                last = err
            except CqlFailed as err:
                last = err
                break  # this member does not answer: try the next one
    raise last


def replicate(
    addresses: Sequence[str],
    logins: Sequence[Credentials | None],
    keyspaces: Sequence[str],
    factors: Sequence[tuple[str, int]],
    port: int = CQL_PORT,
    ca: str = "",
) -> None:
    """ALTER KEYSPACE each of `keyspaces` to NetworkTopologyStrategy `factors`."""
    address, login = _first_session(addresses, logins, port, ca)
    options = ", ".join(f"'{dc}': {rf}" for dc, rf in factors)
    with session(address, login, port, ca) as sess:
        for keyspace in keyspaces:
            sess.execute(
                f"ALTER KEYSPACE {quote_identifier(keyspace)} WITH replication ="
                f" {{'class': 'NetworkTopologyStrategy', {options}}}"
            )
    log.info(
        "system keyspaces replicated",
        extra={"keyspaces": list(keyspaces), "factors": dict(factors), "via": address},
    )


def set_up_superuser(
    addresses: Sequence[str],
    superuser: Credentials,
    operator: Credentials,
    port: int = CQL_PORT,
    ca: str = "",
) -> str:
    """Make `superuser` a login superuser, `operator` the operator's own
    least-privileged role, and drop the default account. Idempotent: each
    step checks first or may be repeated. Returns what was done, in words."""
    done: list[str] = []
    try:
        address, _ = _first_session(addresses, [superuser], port, ca)
    except LoginRefused:
        # Not (yet) this password: only the default account can set it.
        address, _ = _first_session(addresses, [DEFAULT_CREDENTIALS], port, ca)
        name = quote_identifier(superuser.username)
        with session(address, DEFAULT_CREDENTIALS, port, ca) as sess:
            sess.execute(
                f"CREATE ROLE IF NOT EXISTS {name} WITH SUPERUSER = true AND LOGIN = true"
                " AND PASSWORD = %s",
                (superuser.password,),
            )
            sess.execute(
                f"ALTER ROLE {name} WITH SUPERUSER = true AND LOGIN = true AND PASSWORD = %s",
                (superuser.password,),
            )
        done.append(f"created superuser {superuser.username}")
        _login_eventually(address, superuser, port, ca)
    with session(address, superuser, port, ca) as sess:
        done.append(_operator_role(sess, operator))
        row = sess.execute(
            "SELECT role FROM system_auth.roles WHERE role = %s", (DEFAULT_ROLE,)
        ).one()
        if row is not None and superuser.username != DEFAULT_ROLE:
            sess.execute(f"DROP ROLE IF EXISTS {quote_identifier(DEFAULT_ROLE)}")
            done.append(f"dropped the default account {DEFAULT_ROLE}")
    log.info("superuser set up", extra={"superuser": superuser.username, "via": address})
    return "; ".join(done) or "superuser verified"


def _operator_role(sess: Any, operator: Credentials) -> str:
    """The operator's login: no superuser, ALTER on the system keyspaces it
    keeps replicated, nothing else (its password set again each time)."""
    name = quote_identifier(operator.username)
    sess.execute(
        f"CREATE ROLE IF NOT EXISTS {name} WITH SUPERUSER = false AND LOGIN = true"
        " AND PASSWORD = %s",
        (operator.password,),
    )
    sess.execute(
        f"ALTER ROLE {name} WITH SUPERUSER = false AND LOGIN = true AND PASSWORD = %s",
        (operator.password,),
    )
    for keyspace in SYSTEM_KEYSPACES:
        sess.execute(f"GRANT ALTER ON KEYSPACE {quote_identifier(keyspace)} TO {name}")
    return f"role {operator.username} may alter {', '.join(SYSTEM_KEYSPACES)}"


def _login_eventually(address: str, credentials: Credentials, port: int, ca: str = "") -> None:
    for attempt in range(LOGIN_ATTEMPTS):
        try:
            with session(address, credentials, port, ca):
                return
        except LoginRefused:
            if attempt == LOGIN_ATTEMPTS - 1:
                raise
            time.sleep(LOGIN_PAUSE_S)


async def replicate_async(*args: Any, **kwargs: Any) -> None:
    await asyncio.to_thread(replicate, *args, **kwargs)


async def set_up_superuser_async(*args: Any, **kwargs: Any) -> str:
    return await asyncio.to_thread(set_up_superuser, *args, **kwargs)
