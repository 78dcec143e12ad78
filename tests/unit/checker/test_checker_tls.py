"""TLS for the data checker: the client context trusts the given CA only and
skips the host name check (members are reached by pod IP). No connection is
opened: handshakes run in memory."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from navigator.certs import builder, key_usage
from navigator.checker.cli import check_data
from navigator.checker.connection import ConnectionSettings, open_cluster, ssl_context_for
from navigator.cli import cli

pytestmark = pytest.mark.unit

NOW = dt.datetime.now(dt.UTC)
MEMBER_DNS = "demo-dc1-0.demo-dc1-nodes.default.svc.cluster.local"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    cert = (
        builder(name, name, key.public_key(), NOW - dt.timedelta(minutes=5), NOW + dt.timedelta(1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(key_usage(cert_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _member(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A member's certificate as the operator makes it: DNS names only, no IP."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        builder(
            _name(MEMBER_DNS),
            ca.subject,
            key.public_key(),
            NOW - dt.timedelta(minutes=5),
            NOW + dt.timedelta(1),
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(MEMBER_DNS)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


@pytest.fixture(scope="module")
def cluster_ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    return _ca("navigator-demo-ca")


@pytest.fixture
def ca_file(
    tmp_path: Path, cluster_ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]
) -> Path:
    path = tmp_path / "ca.crt"
    path.write_bytes(_pem(cluster_ca[0]))
    return path


def _server_context(
    tmp_path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> ssl.SSLContext:
    cert_file, key_file = tmp_path / "member.crt", tmp_path / "member.key"
    cert_file.write_bytes(_pem(cert))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def _handshake(client: ssl.SSLContext, server: ssl.SSLContext) -> None:
    """A TLS handshake between the two contexts over memory buffers; raises
    the client's ``ssl.SSLCertVerificationError`` if it refuses the server."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    # server_hostname=None, as the driver passes it when check_hostname is off.
    c = client.wrap_bio(c_in, c_out, server_side=False)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for side, conn in (("client", c), ("server", s)):
            if done[side]:
                continue
            try:
                conn.do_handshake()
                done[side] = True
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError:
                if side == "server":  # the client aborted; its own error says why
                    done[side] = True
                    continue
                raise
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return
    raise AssertionError("handshake did not finish")


def test_the_context_requires_a_certificate_from_the_ca_and_skips_the_host_name(
    ca_file: Path,
) -> None:
    context = ssl_context_for(ca_file)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is False
    assert context.protocol == ssl.PROTOCOL_TLS_CLIENT
    (ca,) = context.get_ca_certs()
    assert ca["subject"] == ((("commonName", "navigator-demo-ca"),),)


def test_a_member_certificate_naming_dns_names_only_is_accepted(
    tmp_path: Path,
    ca_file: Path,
    cluster_ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
) -> None:
    member = _server_context(tmp_path, *_member(*cluster_ca))
    _handshake(ssl_context_for(ca_file), member)


def test_a_member_certificate_from_another_ca_is_refused(tmp_path: Path, ca_file: Path) -> None:
    impostor = _server_context(tmp_path, *_member(*_ca("someone-else")))
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        _handshake(ssl_context_for(ca_file), impostor)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "No such file or directory"),
        (b"", "no certificate"),
        (b"not a certificate\n", "no certificate"),
    ],
)
def test_a_missing_or_useless_ca_file_is_a_clear_error(
    tmp_path: Path, content: bytes | None, reason: str
) -> None:
    path = tmp_path / "ca.crt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"cannot load CA certificates from {path}: .*{reason}"):
        ssl_context_for(path)


def test_the_driver_gets_the_context_only_when_a_ca_is_given(ca_file: Path) -> None:
    cluster = open_cluster(["127.0.0.1"], ConnectionSettings(ssl_ca=ca_file))
    assert isinstance(cluster.ssl_context, ssl.SSLContext)
    assert cluster.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert len(cluster.ssl_context.get_ca_certs()) == 1
    assert open_cluster(["127.0.0.1"], ConnectionSettings()).ssl_context is None


def test_the_password_stays_out_of_the_repr_with_tls(ca_file: Path) -> None:
    settings = ConnectionSettings(username="admin", password="hunter2", ssl_ca=ca_file)
    assert "hunter2" not in repr(settings)
    assert str(ca_file) in repr(settings)


def test_check_data_documents_the_option() -> None:
    result = CliRunner().invoke(cli, ["check-data", "--help"])
    assert result.exit_code == 0
    assert "--ssl-ca FILE" in result.output
    assert "spec.tls.clientEncryption" in result.output
    assert "NAVIGATOR_CQL_SSL_CA" in result.output


def test_check_data_refuses_a_missing_ca_file(tmp_path: Path) -> None:
    args = ["--contact-points", "192.0.2.1", "--ssl-ca", str(tmp_path / "nope.crt")]
    result = CliRunner().invoke(check_data, args)
    assert result.exit_code == 2
    assert "does not exist" in result.output


@pytest.mark.parametrize("from_env", [False, True])
def test_check_data_refuses_a_file_without_a_ca_before_connecting(
    tmp_path: Path, from_env: bool
) -> None:
    """The option, or NAVIGATOR_CQL_SSL_CA, reaches the context; a bad file is a
    usage error before anything connects (192.0.2.1 is unroutable)."""
    bad = tmp_path / "ca.crt"
    bad.write_text("not a certificate\n")
    args = ["--contact-points", "192.0.2.1"]
    env = {"NAVIGATOR_CQL_SSL_CA": str(bad)} if from_env else {}
    if not from_env:
        args += ["--ssl-ca", str(bad)]
    result = CliRunner().invoke(check_data, args, env=env)
    assert result.exit_code == 2
    assert "cannot load CA certificates" in result.output
