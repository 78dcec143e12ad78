"""The cluster's TLS material in the API: the CA Secret, the pools' Secrets,
or cert-manager's Certificates. Side effects only; `navigator.operator.cassandra.tls`
decides what each Secret holds.

Each pass, while `spec.tls` is on, before anything else is applied:

- the operator's CA (no `certManager`): `<cluster>-ca` is created once
  (never overwritten: a CA that does not parse is reported, not replaced),
  then every spec pool's `<cluster>-<pool>-tls` is written when a member
  lacks a usable certificate: a member of the spec or of the running
  StatefulSet without one, one signed by another CA, or one due for renewal.
  A new member's certificate is therefore in its pool's Secret in the pass
  that first asks for the member, before its pod exists;
- cert-manager: a Certificate per member is applied, and the pool's Secret
  is assembled from the Secrets cert-manager writes (`<member>-tls`), so the
  pods mount the same kind of Secret either way.

The pods' Secret volumes follow a rewritten Secret; each pilot reloads its
member's certificate into Cassandra without a restart (docs/security.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from lightkube import ApiError

from navigator.api.cassandra import CassandraCluster, CassandraNodePool
from navigator.operator.cassandra import tls
from navigator.operator.cassandra.builders.meta import (
    name_of,
    namespace_of,
    owner_reference,
    pool_tls_secret_name,
    statefulset_name,
)
from navigator.operator.cassandra.tls import TlsOutcome
from navigator.operator.core.kube import Kube, is_not_found

log = logging.getLogger(__name__)


class Certificates:
    """Keeps one cluster's TLS Secrets (or Certificates) as `spec.tls` asks."""

    def __init__(self, kube: Kube, clock: Callable[[], dt.datetime]) -> None:
        self.kube = kube
        self.clock = clock

    async def ensure(
        self, raw: dict[str, Any], cluster: CassandraCluster, running: dict[str, int]
    ) -> TlsOutcome:
        """`running`: StatefulSet name → its replicas."""
        if not cluster.spec.tls.enabled:
            return TlsOutcome()
        if cluster.spec.tls.cert_manager is not None:
            return await self._from_cert_manager(raw, cluster, running)
        ca = await self._ca(raw, cluster)
        if ca is None:
            name = tls.ca_secret_name(cluster)
            return TlsOutcome(message=f"Secret {name} holds no usable CA certificate and key")
        expiries = []
        for pool in cluster.spec.node_pools:
            members = tls.pool_members(
                cluster, pool, running.get(statefulset_name(cluster, pool), 0)
            )
            expiry = await self._pool(raw, cluster, pool, members, ca)
            if expiry is not None:
                expiries.append(expiry)
        return TlsOutcome(expires=min(expiries) if expiries else None, ca=ca[0])

    async def _ca(self, raw: dict[str, Any], cluster: CassandraCluster) -> tuple[str, str] | None:
        name, namespace = tls.ca_secret_name(cluster), namespace_of(cluster)
        secret = await self.kube.get("Secret", name, namespace)
        if secret is None:
            cert, key = tls.new_ca(name_of(cluster), self.clock())
            manifest = tls.build_ca_secret(cluster, cert, key, owner_reference(cluster))
            if await self.kube.create(manifest):
                await self.kube.event(
                    raw, reason="CACreated", message=f"created the cluster's CA in Secret {name}"
                )
                return cert, key
            secret = await self.kube.get("Secret", name, namespace)  # made meanwhile
        return tls.ca_from_secret(secret)

    async def _pool(
        self,
        raw: dict[str, Any],
        cluster: CassandraCluster,
        pool: CassandraNodePool,
        members: list[str],
        ca: tuple[str, str],
    ) -> dt.datetime | None:
        name, namespace = pool_tls_secret_name(cluster, pool), namespace_of(cluster)
        live = await self.kube.get("Secret", name, namespace)
        existing = tls.secret_files(live)

        def dns_names(member: str) -> list[str]:
            return tls.member_dns_names(name_of(cluster), namespace, member)

        wanted = tls.pool_tls_files(existing, members, ca, dns_names, self.clock())
        if wanted.files != existing:
            manifest = tls.build_pool_secret_from_files(
                cluster, pool, wanted.files, owner_reference(cluster)
            )
            await self.kube.apply(manifest, live)
            for reason, done in (
                ("CertificatesIssued", wanted.issued),
                ("CertificatesRenewed", wanted.renewed),
            ):
                if done:
                    await self.kube.event(
                        raw,
                        reason=reason,
                        message=f"{', '.join(done)} (Secret {name}, signed by the cluster's CA)",
                    )
        return tls.earliest_expiry(wanted.files)

    async def _from_cert_manager(
        self, raw: dict[str, Any], cluster: CassandraCluster, running: dict[str, int]
    ) -> TlsOutcome:
        issuer = cluster.spec.tls.cert_manager
        assert issuer is not None
        namespace = namespace_of(cluster)
        waiting: list[str] = []
        expiries = []
        ca = ""
        for pool in cluster.spec.node_pools:
            members = tls.pool_members(
                cluster, pool, running.get(statefulset_name(cluster, pool), 0)
            )
            issued: dict[str, dict[str, Any] | None] = {}
            for member in members:
                certificate = tls.build_certificate(cluster, pool, member, issuer)
                try:
                    await self.kube.apply(certificate, await self.kube.live_of(certificate))
                except Exception as err:
                    if _kind_missing(err):
                        return TlsOutcome(
                            message="cert-manager's Certificate kind is not installed"
                            " (spec.tls.certManager needs cert-manager)"
                        )
                    raise
                secret_name = tls.member_secret_name(member)
                issued[member] = await self.kube.get("Secret", secret_name, namespace)
            files, pending = tls.files_from_member_secrets(issued)
            waiting += pending
            ca = ca or files.get(tls.CA_CERT_KEY, "")
            if files:
                name = pool_tls_secret_name(cluster, pool)
                live = await self.kube.get("Secret", name, namespace)
                if tls.secret_files(live) != files:
                    manifest = tls.build_pool_secret_from_files(
                        cluster, pool, files, owner_reference(cluster)
                    )
                    await self.kube.apply(manifest, live)
                if (expiry := tls.earliest_expiry(files)) is not None:
                    expiries.append(expiry)
        message = f"waiting for cert-manager to issue: {', '.join(waiting)}" if waiting else ""
        return TlsOutcome(message=message, expires=min(expiries) if expiries else None, ca=ca)


def _kind_missing(err: Exception) -> bool:
    """A 404 for the kind itself: the API server serves no such resource
    (its answer is not a Status, so the client raises its HTTP error)."""
    if isinstance(err, ApiError):
        return is_not_found(err)
    response = getattr(err, "response", None)
    return getattr(response, "status_code", None) == 404
