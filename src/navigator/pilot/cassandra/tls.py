"""A member's TLS material: read from the pool's TLS Secret, written where
Cassandra reads it, and reloaded into the running Cassandra when it changes.

The operator mounts the pool's TLS Secret read-only at `NAVIGATOR_TLS_DIR`:
`ca.crt` (the cluster's CA) and, for every member of the pool,
`<member>.crt` and `<member>.key` (unencrypted PKCS#8). The pilot copies this
member's key and certificate into one keystore file, and the CA into the
truststore file, which Cassandra's PEMBasedSslContextFactory reads
(`navigator.cassandra.config.encryption_settings`).

The kubelet keeps a mounted Secret current: on renewal, `TlsReloader` (run
from the adapter's periodic observation) rewrites the two files and asks
Cassandra to reload them (JMX `reloadSslCertificates`, what `nodetool
reloadssl` calls), so renewed certificates apply without a restart.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from navigator.cassandra.config import TlsFiles
from navigator.pilot.cassandra.jolokia import Exec, Jolokia
from navigator.pilot.metrics import metric

log = logging.getLogger("navigator.pilot")

CA_FILE = "ca.crt"
# How often the mounted Secret is compared with what was written.
CHECK_INTERVAL = 30.0
# `nodetool reloadssl` calls this operation (NodeProbe.reloadSslCerts → the
# MessagingService MBean, checked with javap against cassandra-all 5.0.8): it
# re-reads the key and trust files of every cached SSL context, whether or not
# their modification time changed, and uses them for new connections.
MESSAGING_SERVICE = "org.apache.cassandra.net:type=MessagingService"
RELOAD_SSL = Exec(MESSAGING_SERVICE, "reloadSslCertificates()")

TLS_RELOADS = metric(
    "navigator_pilot_tls_reloads_total",
    "Renewed TLS certificates written and reloaded into the database, by result",
    "counter",
    ("result",),
)

Reload = Callable[[], Awaitable[object]]


class TlsMaterialMissing(ValueError):
    """A file of the member's TLS material is missing, empty or unreadable."""


@dataclass(frozen=True)
class TlsMaterial:
    """What PEMBasedSslContextFactory reads: the keystore (the private key,
    then the certificate) and the truststore (the CA)."""

    keystore: str
    truststore: str

    @property
    def digest(self) -> str:
        """Tells one version of the material from another (never logged)."""
        body = f"{self.keystore}\0{self.truststore}".encode()
        return hashlib.sha256(body).hexdigest()

    def __repr__(self) -> str:  # never show the key, even in a traceback
        return f"TlsMaterial(digest={self.digest[:12]}…)"


def read_material(directory: Path, member: str) -> TlsMaterial:
    """This member's key and certificate and the CA, from the mounted Secret."""
    snapshot = _snapshot(directory)
    key = _read(directory, snapshot, f"{member}.key")
    cert = _read(directory, snapshot, f"{member}.crt")
    ca = _read(directory, snapshot, CA_FILE)
    if not _pair(key, cert):
        # A volume rewritten file by file (no `..data` link) can be read
        # between the key and the certificate: the next check reads again.
        raise TlsMaterialMissing(
            f"TLS is on but {directory / (member + '.key')} is not the key of"
            f" {directory / (member + '.crt')} (the Secret being updated?)"
        )
    return TlsMaterial(keystore=_one_newline(key) + _one_newline(cert), truststore=_one_newline(ca))


def _snapshot(directory: Path) -> Path:
    """Where to read one consistent version of the files from. In a Secret
    volume every file is a link through `..data`, a link the kubelet swaps at
    once to a new directory on update: reading all files through where
    `..data` points now never pairs a new key with an old certificate. Any
    other directory is read as it is."""
    data = directory / "..data"
    return data.resolve() if data.is_symlink() else directory


def _read(directory: Path, snapshot: Path, name: str) -> str:
    try:
        text = (snapshot / name).read_text()
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as err:
        raise TlsMaterialMissing(
            f"TLS is on but {directory / name} cannot be read ({err}); the operator"
            " writes it to the pool's TLS Secret"
        ) from None
    if not text.strip():
        raise TlsMaterialMissing(
            f"TLS is on but {directory / name} is missing or empty; the operator"
            " writes it to the pool's TLS Secret, mounted there"
        )
    return text


def _pair(key_pem: str, cert_pem: str) -> bool:
    """Whether the key is the certificate's (both parse, same public key)."""
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), None)
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except (ValueError, TypeError):
        return False
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return bool(key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki))


def _one_newline(pem: str) -> str:
    return pem.strip("\n") + "\n"


def tls_files(material: TlsMaterial, files: TlsFiles) -> dict[Path, str]:
    """The two files to write for Cassandra."""
    return {files.keystore: material.keystore, files.truststore: material.truststore}


def write_file(path: Path, text: str, *, private: bool = False) -> None:
    """Replace `path` at once (a reader sees the old file or the new one):
    write a temporary file beside it, then rename it. `private`: mode 0600
    (a private key), whatever the umask or an earlier temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o666)
    with os.fdopen(fd, "w") as out:
        if private:
            os.fchmod(out.fileno(), 0o600)
        out.write(text)
    os.replace(tmp, path)


def reload_with(jmx: Jolokia) -> Reload:
    """Ask the running Cassandra to reload its certificate files."""

    async def reload() -> object:
        return await jmx.call(RELOAD_SSL)

    return reload


class TlsReloader:
    """Applies renewed certificates to the running Cassandra: at most every
    `interval` seconds, compares the mounted material with what was written;
    when it differs, rewrites the files and calls `reload`. A failure (files
    missing mid-update, Cassandra not answering) is logged and tried again at
    the next check; `check` never raises."""

    def __init__(
        self,
        directory: Path,
        member: str,
        files: TlsFiles,
        reload: Reload,
        *,
        interval: float = CHECK_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory, self.member, self.files = directory, member, files
        self.reload, self.interval, self.clock = reload, interval, clock
        self.written = ""  # the digest of the material Cassandra was given
        self.next_check = float("-inf")

    def for_launch(self) -> TlsMaterial:
        """The material to start Cassandra with (read at every launch, so a
        restart uses the current certificates); the next check is due in
        `interval`. Raises TlsMaterialMissing."""
        material = read_material(self.directory, self.member)
        self.written = material.digest
        self.next_check = self.clock() + self.interval
        return material

    def changed(self) -> TlsMaterial | None:
        """The mounted material when it differs from what was written, else
        None. Raises TlsMaterialMissing."""
        material = read_material(self.directory, self.member)
        return None if material.digest == self.written else material

    async def check(self) -> bool:
        """Apply renewed material if due and changed; True when reloaded."""
        now = self.clock()
        if now < self.next_check:
            return False
        self.next_check = now + self.interval
        where = {"directory": str(self.directory), "member": self.member}
        try:
            material = self.changed()
            if material is None:
                return False
            for path, text in tls_files(material, self.files).items():
                write_file(path, text, private=True)
        except Exception as err:
            log.warning("cannot read or write TLS certificates", extra={**where, "error": str(err)})
            return False
        try:
            await self.reload()
        except Exception as err:
            # Not recorded as written: the next check writes and reloads again.
            TLS_RELOADS.inc("failed")
            log.warning(
                "Cassandra did not reload its TLS certificates", extra={**where, "error": str(err)}
            )
            return False
        self.written = material.digest
        TLS_RELOADS.inc("ok")
        log.info("reloaded TLS certificates", extra=where)
        return True
