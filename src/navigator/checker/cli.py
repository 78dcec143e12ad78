"""`navigator check-data`: write during an operation, then report what was lost.

Needs cassandra-driver, which is imported only when the command runs.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from navigator.checker.workload import DataChecker

PROGRESS_EVERY = 5.0


@click.command("check-data")
@click.option(
    "--contact-points",
    required=True,
    help="Comma-separated Cassandra addresses, e.g. 10.250.0.1,10.250.0.2.",
)
@click.option("--port", type=int, default=9042, show_default=True)
@click.option("--keyspace", default="navigator_check", show_default=True)
@click.option("--table", default="writes", show_default=True)
@click.option("--dc", default=None, help="Datacenter for the keyspace (default: detected).")
@click.option("--replication-factor", type=click.IntRange(min=1), default=3, show_default=True)
@click.option(
    "--duration",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Seconds to write; 0 (the default) writes until interrupted (Ctrl-C).",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=100.0,
    show_default=True,
    help="Writes per second.",
)
@click.option("--concurrency", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--write-consistency", default="QUORUM", show_default=True)
@click.option(
    "--read-consistency",
    default="AUTO",
    show_default=True,
    help="AUTO reads every replica of every row alone (at ONE) and reports missing copies "
    "per replica; a level (QUORUM, ALL...) reads the cluster at that level instead.",
)
@click.option(
    "--settle-timeout",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds to wait for every replica to be up and its hints delivered before verifying.",
)
@click.option("--request-timeout", type=float, default=10.0, show_default=True)
@click.option(
    "--username",
    envvar="NAVIGATOR_CQL_USERNAME",
    default=None,
    help="Role to log in as (env NAVIGATOR_CQL_USERNAME); the password comes from"
    " NAVIGATOR_CQL_PASSWORD or --password-file, never from the command line.",
)
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="File holding the password (else env NAVIGATOR_CQL_PASSWORD).",
)
@click.option(
    "--ssl-ca",
    envvar="NAVIGATOR_CQL_SSL_CA",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="PEM file of the CA that signed the members' certificates: connect over TLS and"
    " verify them against it (clusters with spec.tls.clientEncryption; env"
    " NAVIGATOR_CQL_SSL_CA).",
)
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text")
def check_data(
    contact_points: str,
    port: int,
    keyspace: str,
    table: str,
    dc: str | None,
    replication_factor: int,
    duration: float,
    rate: float,
    concurrency: int,
    write_consistency: str,
    read_consistency: str,
    settle_timeout: float,
    request_timeout: float,
    username: str | None,
    password_file: str | None,
    ssl_ca: Path | None,
    output: str,
) -> None:
    """Write uniquely identified rows continuously, then read them back from every replica.

    Exits 1 when an acknowledged row is missing on any replica that owns it,
    could not be checked, or the run cannot prove durability (see the report).
    """
    try:
        from navigator.checker.connection import ConnectionSettings, ssl_context_for
        from navigator.checker.workload import DataChecker, Settings
    except ImportError as err:
        raise click.ClickException(f"check-data needs cassandra-driver ({err})") from err
    try:
        settings = Settings(
            keyspace=keyspace,
            table=table,
            replication_factor=replication_factor,
            rate=rate,
            concurrency=concurrency,
            write_consistency=write_consistency,
            read_consistency=read_consistency,
            settle_timeout=settle_timeout,
            connection=ConnectionSettings(
                port=port,
                dc=dc,
                request_timeout=request_timeout,
                username=username,
                password=_password(username, password_file),
                ssl_ca=ssl_ca,
            ),
        )
        if ssl_ca is not None:
            ssl_context_for(ssl_ca)  # a file that holds no CA is refused before connecting
        points = [point.strip() for point in contact_points.split(",") if point.strip()]
        checker = DataChecker(points, settings)
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    with checker:
        _write_until_done(checker, duration)
    click.echo("verifying...", err=True)
    report = checker.verify()
    click.echo(report.to_json() if output == "json" else report.summary())
    sys.exit(0 if report.ok else 1)


def _password(username: str | None, path: str | None) -> str | None:
    if username is None:
        return None
    if path:
        with open(path) as f:
            return f.read().strip()
    password = os.environ.get("NAVIGATOR_CQL_PASSWORD")
    if not password:
        raise click.UsageError("--username needs NAVIGATOR_CQL_PASSWORD or --password-file")
    return password


def _write_until_done(checker: DataChecker, duration: float) -> None:
    """Until ``duration`` elapses (0: forever) or Ctrl-C, printing progress to stderr."""
    click.echo(f"writing as {checker.writer_id}; Ctrl-C to stop and verify", err=True)
    deadline = time.monotonic() + duration if duration > 0 else float("inf")
    try:
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(PROGRESS_EVERY, left))
            p = checker.progress()
            click.echo(
                f"attempted={p.attempted} acked={p.acked} failed={p.failed} "
                f"unknown={p.unknown} in_flight={p.in_flight}",
                err=True,
            )
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
