"""The pilot's TLS material: read from the mounted Secret, rendered where
Cassandra reads it (the keystore private), and applied to the running
Cassandra when the Secret is renewed."""

from __future__ import annotations

import datetime as dt
import logging
import os
import stat
from pathlib import Path

import click
import pytest
import yaml

from navigator.cassandra.config import TlsFiles
from navigator.operator.cassandra.tls import member_certificate, new_ca
from navigator.pilot.cassandra.adapter import CassandraAdapter
from navigator.pilot.cassandra.jolokia import JolokiaError
from navigator.pilot.cassandra.render import ConfigError, Layout, Overrides, render
from navigator.pilot.cassandra.tls import (
    RELOAD_SSL,
    TLS_RELOADS,
    TlsMaterial,
    TlsMaterialMissing,
    TlsReloader,
    read_material,
    tls_files,
)
from navigator.pilot.cli import _config, tls_config
from navigator.pilot.core.identity import Identity

pytestmark = pytest.mark.unit

MEMBER = "c-r-0"
IDENTITY = Identity(MEMBER, "db", "10.0.0.5", "c", "r", "dc1", "r")
NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def _issue(now: dt.datetime = NOW) -> tuple[str, str, str]:
    """(ca.crt, member.crt, member.key) as the operator makes them."""
    ca_cert, ca_key = new_ca("c", now)
    cert, key = member_certificate(ca_cert, ca_key, MEMBER, ["c-r-0.c-nodes.db.svc"], [], now)
    return ca_cert, cert, key


def _mount(directory: Path, ca: str, cert: str, key: str) -> Path:
    """Write the files as the pool's TLS Secret holds them."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.crt").write_text(ca)
    (directory / f"{MEMBER}.crt").write_text(cert)
    (directory / f"{MEMBER}.key").write_text(key)
    (directory / "c-r-1.crt").write_text("another member's certificate\n")
    return directory


def _layout(tmp_path: Path) -> Layout:
    return Layout(conf_dir=tmp_path / "conf", data_dir=tmp_path / "data")


def test_the_keystore_is_the_key_then_the_certificate_and_the_truststore_the_ca(
    tmp_path: Path,
) -> None:
    ca, cert, key = _issue()
    # Trailing newlines vary between writers: each part ends with exactly one.
    directory = _mount(tmp_path / "tls", ca + "\n\n", cert.rstrip("\n"), key)
    material = read_material(directory, MEMBER)
    assert material.keystore == key.rstrip("\n") + "\n" + cert.rstrip("\n") + "\n"
    assert material.keystore.index("BEGIN PRIVATE KEY") < material.keystore.index(
        "BEGIN CERTIFICATE"
    )
    assert material.truststore == ca.rstrip("\n") + "\n"
    assert "PRIVATE KEY" not in repr(material)
    other = read_material(_mount(tmp_path / "other", *_issue()), MEMBER)
    assert other.digest != material.digest
    assert read_material(directory, MEMBER).digest == material.digest


@pytest.mark.parametrize("name", ["ca.crt", f"{MEMBER}.crt", f"{MEMBER}.key"])
def test_a_missing_or_empty_file_is_named_with_where_it_comes_from(
    tmp_path: Path, name: str
) -> None:
    directory = _mount(tmp_path / "tls", *_issue())
    (directory / name).write_text("\n")
    with pytest.raises(TlsMaterialMissing, match="pool's TLS Secret") as empty:
        read_material(directory, MEMBER)
    assert str(directory / name) in str(empty.value)
    (directory / name).unlink()
    with pytest.raises(TlsMaterialMissing) as missing:
        read_material(directory, MEMBER)
    assert str(directory / name) in str(missing.value)
    assert isinstance(missing.value, ValueError)


def test_a_secret_volume_is_read_through_its_current_version(tmp_path: Path) -> None:
    """The kubelet's layout: files link through `..data`, swapped at once."""
    ca, cert, key = _issue()
    directory = tmp_path / "tls"
    _mount(directory / "..2025_01_01", ca, cert, key)
    (directory / "..data").symlink_to("..2025_01_01")
    for name in ("ca.crt", f"{MEMBER}.crt", f"{MEMBER}.key"):
        (directory / name).symlink_to(f"..data/{name}")
    first = read_material(directory, MEMBER)
    assert first.truststore == ca
    renewed = _issue(NOW + dt.timedelta(days=200))
    _mount(directory / "..2025_07_20", *renewed)
    (directory / "..data.tmp").symlink_to("..2025_07_20")
    os.replace(directory / "..data.tmp", directory / "..data")
    assert read_material(directory, MEMBER).truststore == renewed[0]


def test_render_with_tls_writes_both_files_and_cassandra_yaml_points_at_them(
    tmp_path: Path,
) -> None:
    directory = _mount(tmp_path / "tls", *_issue())
    material = read_material(directory, MEMBER)
    layout = _layout(tmp_path)
    files = layout.tls_files
    assert files.keystore == layout.conf_dir / "tls" / "keystore.pem"
    launch = render(
        IDENTITY,
        ["10.0.0.1"],
        Overrides(client_encryption=True, internode_encryption=True, tls=material),
        layout,
        jvm_options_text="",
    )
    assert launch.files[files.keystore] == material.keystore
    assert launch.files[files.truststore] == material.truststore
    assert launch.private == {files.keystore, files.truststore}
    settings = yaml.safe_load(launch.files[layout.conf_dir / "cassandra.yaml"])
    for options in ("client_encryption_options", "server_encryption_options"):
        assert settings[options]["keystore"] == str(files.keystore)
        assert settings[options]["truststore"] == str(files.truststore)


def test_render_without_tls_writes_no_key(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    launch = render(IDENTITY, ["10.0.0.1"], Overrides(), layout, jvm_options_text="")
    assert layout.tls_files.keystore not in launch.files
    assert launch.private == frozenset()


@pytest.mark.parametrize(
    "overrides",
    [Overrides(client_encryption=True), Overrides(internode_encryption=True)],
)
def test_tls_on_without_material_is_a_config_error(tmp_path: Path, overrides: Overrides) -> None:
    with pytest.raises(ConfigError, match="no certificate material"):
        render(IDENTITY, ["10.0.0.1"], overrides, _layout(tmp_path), jvm_options_text="")


async def test_the_keystore_is_written_readable_by_its_owner_only(tmp_path: Path) -> None:
    material = read_material(_mount(tmp_path / "tls", *_issue()), MEMBER)
    layout = _layout(tmp_path)
    launch = render(
        IDENTITY,
        ["10.0.0.1"],
        Overrides(internode_encryption=True, tls=material),
        layout,
        jvm_options_text="",
    )
    await CassandraAdapter(launch, jolokia_url="http://127.0.0.1:1/jolokia/").prepare()
    keystore = layout.tls_files.keystore
    assert keystore.read_text() == material.keystore
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600
    assert stat.S_IMODE(layout.tls_files.truststore.stat().st_mode) == 0o600
    assert (layout.conf_dir / "cassandra.yaml").exists()
    assert not list(keystore.parent.glob("*.tmp"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeExec:
    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    async def __call__(self) -> object:
        self.calls += 1
        if self.fail:
            raise JolokiaError("reloadSslCertificates: not answering")
        return None


def _reloader(tmp_path: Path, reload: FakeExec, clock: Clock) -> tuple[TlsReloader, TlsFiles]:
    files = _layout(tmp_path).tls_files
    return TlsReloader(tmp_path / "tls", MEMBER, files, reload, interval=30, clock=clock), files


async def test_the_reloader_rewrites_and_reloads_once_per_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _mount(tmp_path / "tls", *_issue())
    reload, clock = FakeExec(), Clock()
    reloader, files = _reloader(tmp_path, reload, clock)
    launched = reloader.for_launch()
    for path, text in tls_files(launched, files).items():  # what prepare() writes
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    ok_before = TLS_RELOADS.values.get(("ok",), 0.0)

    clock.now += 30
    assert await reloader.check() is False  # unchanged
    assert reload.calls == 0

    renewed = _issue(NOW + dt.timedelta(days=200))
    _mount(tmp_path / "tls", *renewed)
    clock.now += 10
    assert await reloader.check() is False  # not due yet
    assert reload.calls == 0
    clock.now += 20
    with caplog.at_level(logging.INFO, logger="navigator.pilot"):
        assert await reloader.check() is True
    assert reload.calls == 1
    expected = read_material(tmp_path / "tls", MEMBER)
    assert files.keystore.read_text() == expected.keystore
    assert files.truststore.read_text() == expected.truststore
    assert stat.S_IMODE(files.keystore.stat().st_mode) == 0o600
    assert TLS_RELOADS.values[("ok",)] == ok_before + 1
    assert [r.getMessage() for r in caplog.records] == ["reloaded TLS certificates"]
    assert not any("PRIVATE KEY" in str(vars(r)) for r in caplog.records)

    for _ in range(3):  # the same material again: nothing to do
        clock.now += 30
        assert await reloader.check() is False
    assert reload.calls == 1


async def test_the_reloader_survives_files_missing_mid_update(tmp_path: Path) -> None:
    directory = _mount(tmp_path / "tls", *_issue())
    reload, clock = FakeExec(), Clock()
    reloader, files = _reloader(tmp_path, reload, clock)
    reloader.for_launch()
    (directory / f"{MEMBER}.key").unlink()
    clock.now += 30
    assert await reloader.check() is False
    assert reload.calls == 0
    assert not files.keystore.exists()  # nothing half-written
    _mount(directory, *_issue(NOW + dt.timedelta(days=200)))
    clock.now += 30
    assert await reloader.check() is True
    assert reload.calls == 1


async def test_a_failed_reload_is_tried_again_at_the_next_check(tmp_path: Path) -> None:
    _mount(tmp_path / "tls", *_issue())
    reload, clock = FakeExec(fail=True), Clock()
    reloader, _ = _reloader(tmp_path, reload, clock)
    reloader.for_launch()
    _mount(tmp_path / "tls", *_issue(NOW + dt.timedelta(days=200)))
    clock.now += 30
    assert await reloader.check() is False
    reload.fail = False
    clock.now += 30
    assert await reloader.check() is True
    clock.now += 30
    assert await reloader.check() is False
    assert reload.calls == 2


def test_the_decision_needs_no_jolokia(tmp_path: Path) -> None:
    directory = _mount(tmp_path / "tls", *_issue())
    reloader, _ = _reloader(tmp_path, FakeExec(), Clock())
    assert isinstance(reloader.changed(), TlsMaterial)  # never written: changed
    reloader.for_launch()
    assert reloader.changed() is None
    (directory / "ca.crt").unlink()
    with pytest.raises(TlsMaterialMissing, match=r"ca\.crt"):
        reloader.changed()


def test_the_reload_is_what_nodetool_reloadssl_calls() -> None:
    assert RELOAD_SSL.body() == {
        "type": "exec",
        "mbean": "org.apache.cassandra.net:type=MessagingService",
        "operation": "reloadSslCertificates()",
        "arguments": [],
    }


async def test_the_adapter_checks_the_certificates_with_each_observation(tmp_path: Path) -> None:
    _mount(tmp_path / "tls", *_issue())
    reload, clock = FakeExec(), Clock()
    reloader, _ = _reloader(tmp_path, reload, clock)
    reloader.for_launch()
    _mount(tmp_path / "tls", *_issue(NOW + dt.timedelta(days=200)))
    clock.now += 30
    layout = _layout(tmp_path)
    launch = render(IDENTITY, ["10.0.0.1"], Overrides(), layout, jvm_options_text="")
    adapter = CassandraAdapter(launch, jolokia_url="http://127.0.0.1:1/jolokia/", tls=reloader)
    with pytest.raises(JolokiaError):  # no Cassandra here
        await adapter.observe()
    assert reload.calls == 1


def test_config_from_the_spec_reads_spec_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NAVIGATOR_CONFIG", raising=False)
    on = _config({"tls": {"clientEncryption": True, "internodeEncryption": True}})
    assert on["tls"] == {"client": True, "internode": True}
    assert _config({"tls": {"internodeEncryption": True}})["tls"] == {
        "client": False,
        "internode": True,
    }
    assert _config({"tls": None})["tls"] == {"client": False, "internode": False}
    assert tls_config(_config({}), {}) == (False, False, None)


def test_config_from_the_pod_carries_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAVIGATOR_CONFIG", '{"auth": true, "tls": {"client": true}}')
    config = _config({})
    assert tls_config(config, {"NAVIGATOR_TLS_DIR": "/etc/navigator/tls"}) == (
        True,
        False,
        Path("/etc/navigator/tls"),
    )


def test_tls_is_off_when_absent_and_needs_its_directory_when_on() -> None:
    assert tls_config({"auth": True}, {}) == (False, False, None)
    assert tls_config({"tls": {"client": False, "internode": False}}, {}) == (False, False, None)
    with pytest.raises(click.ClickException, match="NAVIGATOR_TLS_DIR"):
        tls_config({"tls": {"internode": True}}, {})


def test_a_key_that_is_not_the_certificates_is_not_used(tmp_path: Path) -> None:
    """A volume rewritten file by file can be read between the key and the
    certificate: that pair is refused, and the next check reads again."""
    ca, cert, _ = _issue()
    _, _, other_key = _issue()
    directory = _mount(tmp_path / "tls", ca, cert, other_key)
    with pytest.raises(TlsMaterialMissing, match="is not the key of"):
        read_material(directory, MEMBER)
