"""Pure parts of the local cluster: pins, command lines, certificates, processes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from navigator.local import cluster, processes
from navigator.local.controlplane import ClusterConfig, Component, certificate_specs, components
from navigator.local.kubeconfig import build_kubeconfig
from navigator.local.paths import Binaries
from navigator.local.pki import Authority, ensure_service_account_keys
from navigator.versions import VERSIONS_FILE, parse_versions, pinned

pytestmark = pytest.mark.unit


def test_versions_file_pins_every_component() -> None:
    pins = parse_versions(VERSIONS_FILE.read_text())
    assert set(pins) >= {"KUBERNETES_VERSION", "ETCD_VERSION", "CASSANDRA_VERSION"}
    assert pinned().kubernetes.startswith("v1.")
    assert pinned().etcd.startswith("v3.6.")


def test_malformed_versions_line_is_an_error() -> None:
    with pytest.raises(ValueError, match="malformed"):
        parse_versions("KUBERNETES_VERSION v1.36.3")


def test_binaries_are_keyed_by_version(tmp_path: Path) -> None:
    bins = Binaries.from_cache(tmp_path)
    assert bins.kube_apiserver.parent.name == f"kubernetes-{pinned().kubernetes}"
    assert bins.etcd.parent.name == f"etcd-{pinned().etcd}"
    assert len(bins.missing()) == 5


def test_missing_binaries_say_how_to_build_them(tmp_path: Path) -> None:
    cfg = ClusterConfig(state_dir=tmp_path / "state")
    with pytest.raises(cluster.LocalClusterError, match="make binaries"):
        cluster.up(cfg, bins=Binaries.from_cache(tmp_path), say=lambda _: None)


def test_apiserver_runs_like_a_production_cluster(tmp_path: Path) -> None:
    cfg = ClusterConfig(state_dir=tmp_path)
    by_name = {c.name: c for c in components(cfg, Binaries.from_cache(tmp_path))}
    assert list(by_name) == ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]
    api = by_name["kube-apiserver"].argv
    assert "--authorization-mode=Node,RBAC" in api
    assert f"--advertise-address={cfg.host_ip}" in api
    assert any(a.startswith("--client-ca-file=") for a in api)
    assert any(a.startswith("--service-account-signing-key-file=") for a in api)
    assert all(not a.startswith("--insecure") for a in api)
    assert "--client-cert-auth=true" in by_name["etcd"].argv
    cm = by_name["kube-controller-manager"].argv
    assert "--use-service-account-credentials=true" in cm
    assert "--allocate-node-cidrs=true" in cm


def test_config_round_trips_through_json(tmp_path: Path) -> None:
    cfg = ClusterConfig(state_dir=tmp_path, apiserver_port=7443)
    assert ClusterConfig.from_json(cfg.to_json()) == cfg


def test_authority_issues_certificates_once(tmp_path: Path) -> None:
    cfg = ClusterConfig(state_dir=tmp_path)
    ca = Authority(tmp_path)
    ca.ensure()
    spec = next(s for s in certificate_specs(cfg) if s.name == "apiserver")
    pair = ca.issue(spec)
    cert = x509.load_pem_x509_certificate(pair.cert.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kubernetes.default.svc.cluster.local" in sans.get_values_for_type(x509.DNSName)
    assert cfg.host_ip in [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    before = pair.cert.read_bytes()
    assert Authority(tmp_path).issue(spec).cert.read_bytes() == before
    assert oct(pair.key.stat().st_mode & 0o777) == "0o600"
    ca_cert = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    cert.verify_directly_issued_by(ca_cert)


def test_admin_identity_is_a_cluster_admin(tmp_path: Path) -> None:
    cfg = ClusterConfig(state_dir=tmp_path)
    admin = next(s for s in certificate_specs(cfg) if s.name == "admin")
    assert admin.organizations == ("system:masters",)
    assert admin.client
    assert not admin.server


def test_kubeconfig_is_self_contained(tmp_path: Path) -> None:
    ca = Authority(tmp_path)
    ca.ensure()
    pair = ca.issue(certificate_specs(ClusterConfig(state_dir=tmp_path))[-1])
    kc = build_kubeconfig(
        cluster="c", server="https://127.0.0.1:1", ca=ca.cert_path, user="u", creds=pair
    )
    text = yaml.safe_dump(kc)
    assert str(tmp_path) not in text
    assert kc["current-context"] == "c"


def test_service_account_keys_are_made_once(tmp_path: Path) -> None:
    first = ensure_service_account_keys(tmp_path).key.read_bytes()
    assert ensure_service_account_keys(tmp_path).key.read_bytes() == first


def test_processes_are_tracked_and_stopped(tmp_path: Path) -> None:
    pidfile, log = tmp_path / "p.pid", tmp_path / "p.log"
    tracked = processes.start(["sleep", "30"], pidfile=pidfile, log=log)
    assert processes.running(pidfile) == tracked
    assert processes.stop(pidfile, grace=2) is True
    assert processes.running(pidfile) is None
    assert not pidfile.exists()
    assert processes.stop(pidfile) is False


def test_a_reused_pid_is_not_mistaken_for_the_component(tmp_path: Path) -> None:
    pidfile = tmp_path / "p.pid"
    with subprocess.Popen(["sleep", "30"]) as other:
        pidfile.write_text(f"{other.pid} 1\n")  # same pid, different start time
        assert processes.running(pidfile) is None
        assert processes.stop(pidfile) is False
        assert other.poll() is None
        other.kill()


def test_a_component_that_dies_at_start_is_explained(tmp_path: Path) -> None:
    cfg = ClusterConfig(state_dir=tmp_path)
    doomed = Component(
        name="doomed",
        argv=("sh", "-c", "echo 'fatal: cannot open foo' >&2; exit 3"),
        health_url="https://127.0.0.1:1/healthz",
        port=0,
    )
    with pytest.raises(cluster.LocalClusterError) as err:
        cluster._ensure_component(cfg, doomed, lambda _: None)
    message = str(err.value)
    assert "doomed exited during start" in message
    assert str(cfg.layout.log("doomed")) in message
    assert "fatal: cannot open foo" in message
