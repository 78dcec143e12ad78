"""The CassandraCluster kind: one Apache Cassandra cluster."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints

from navigator.api.common import (
    DNS1123_LABEL,
    ApiModel,
    ClusterSpecBase,
    NodePoolBase,
    k8s,
    printer_columns,
    rule,
)
from navigator.api.conditions import ClusterStatusBase
from navigator.api.versions import guard, no_skipped_major, not_older, part, pattern_rule

KIND, PLURAL, SHORT_NAMES = "CassandraCluster", "cassandraclusters", ("cass",)

# Major versions 5 to 9 in x.y.z form; the operator knows which it can run.
VERSION_PATTERN = r"^[5-9]\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$"

# cassandra.yaml keys the pilot renders itself (an override would break the
# node), with their JSON types: declaring them typed lets CEL see them.
_STRING, _INT, _BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
_ANY_OBJECT = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
_ANY_LIST = {
    "type": "array",
    "maxItems": 16,
    "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
}
OWNED_KEY_TYPES: dict[str, dict[str, Any]] = {
    "cluster_name": _STRING,
    "listen_address": _STRING,
    "listen_interface": _STRING,
    "broadcast_address": _STRING,
    "rpc_address": _STRING,
    "rpc_interface": _STRING,
    "broadcast_rpc_address": _STRING,
    "seed_provider": _ANY_LIST,
    "endpoint_snitch": _STRING,
    "data_file_directories": {"type": "array", "maxItems": 16, "items": _STRING},
    "commitlog_directory": _STRING,
    "saved_caches_directory": _STRING,
    "hints_directory": _STRING,
    "cdc_raw_directory": _STRING,
    "storage_port": _INT,
    "native_transport_port": _INT,
    "auto_bootstrap": _BOOL,
    "authenticator": _STRING,
    "authorizer": _STRING,
    "role_manager": _STRING,
    "client_encryption_options": _ANY_OBJECT,
    "server_encryption_options": _ANY_OBJECT,
}
OWNED_KEYS: tuple[str, ...] = tuple(OWNED_KEY_TYPES)
# Why a key is owned, where the key's name does not say it.
OWNED_KEY_REASONS: dict[str, str] = {
    "auto_bootstrap": "a member that does not bootstrap serves token ranges without their data",
    "authenticator": "set by spec.auth",
    "authorizer": "set by spec.auth",
    "role_manager": "set by spec.auth",
    "client_encryption_options": "set by spec.tls",
    "server_encryption_options": "set by spec.tls",
}


def _guard(expr: str, new: str = "self", old: str = "oldSelf") -> str:
    """Evaluate a version rule only when both versions are well formed."""
    return guard(VERSION_PATTERN, expr, new, old)


VERSION_BACK_MESSAGE = (
    "version can only go back to a version a member still runs (status.members[].version)"
)

# Rules on `spec.version` itself: they see only the old and new version.
VERSION_RULES = [
    pattern_rule(
        VERSION_PATTERN,
        "version must be major.minor.patch with major version 5 or later, e.g. 5.0.6",
    ),
    rule(
        _guard(f"{part('self', 0)} >= {part('oldSelf', 0)}"),
        "version cannot go back to an older major version: the data on disk is already"
        " in the newer major's format",
    ),
    no_skipped_major(VERSION_PATTERN),
]


def _version_way_back() -> str:
    """CEL on the whole object: within one major, spec.version may go back only to a
    version that a member still runs according to the status the operator last wrote.

    A transition rule (it uses oldSelf), so the API server runs it on UPDATE only.
    An unchanged version always passes, so status writes (which keep the spec) and
    metadata or other spec changes never trip it. Other majors are left to the
    field's own rules (no way back across a major, no skipping one).
    """
    new, old = "self.spec.version", "oldSelf.spec.version"
    members = (
        "has(oldSelf.status) && has(oldSelf.status.members)"
        f" && oldSelf.status.members.exists(m, has(m.version) && m.version == {new})"
    )
    other_major = f"{part(new, 0)} != {part(old, 0)}"
    return _guard(
        f"{new} == {old} || {other_major} || {not_older(new, old)} || ({members})", new, old
    )


# Rules on the root of the CassandraCluster schema: they can see spec and status.
ROOT_RULES = [rule(_version_way_back(), VERSION_BACK_MESSAGE, fieldPath=".spec.version")]


# One cheap rule per key: the error names the key's own path.
def _owned_message(key: str) -> str:
    reason = OWNED_KEY_REASONS.get(key)
    return f"cassandraYaml must not set {key}: Navigator owns it" + (
        f" ({reason})" if reason else ""
    )


OWNED_KEYS_RULES = [
    rule(f"!has(self.{k})", _owned_message(k), fieldPath=f".{k}") for k in OWNED_KEYS
]
OWNED_PROPERTIES = {
    k: {"description": "Owned by Navigator: refused.", **t} for k, t in OWNED_KEY_TYPES.items()
}


class CassandraConfig(ApiModel):
    """Overrides of Cassandra's configuration."""

    cassandra_yaml: dict[str, Any] = Field(
        default_factory=dict,
        description="Keys merged over the rendered cassandra.yaml. Keys Navigator owns"
        f" are refused: {', '.join(OWNED_KEYS)}.",
        json_schema_extra=k8s(
            properties=OWNED_PROPERTIES,
            maxProperties=256,
            **{
                "x-kubernetes-preserve-unknown-fields": True,
                "x-kubernetes-validations": OWNED_KEYS_RULES,
            },
        ),
    )
    jvm_options: list[Annotated[str, StringConstraints(max_length=1024)]] = Field(
        default_factory=list,
        description="Extra JVM options appended after the distribution's (e.g."
        " -XX:+UseG1GC). The heap is sized from the container's resources.",
        max_length=128,
    )


class CassandraNodePool(NodePoolBase):
    """A Cassandra rack: one StatefulSet whose members share datacenter and rack."""

    model_config = ConfigDict(
        json_schema_extra=k8s(
            **{
                "x-kubernetes-validations": [
                    rule(
                        "(has(self.rack) ? self.rack : self.name)"
                        " == (has(oldSelf.rack) ? oldSelf.rack : oldSelf.name)",
                        "rack is immutable (an absent rack means the pool name)",
                        fieldPath=".rack",
                    )
                ]
            }
        )
    )

    datacenter: str = Field(
        "dc1",
        description="Cassandra datacenter of the pool's members. Immutable.",
        min_length=1,
        max_length=48,
        pattern=DNS1123_LABEL,
        json_schema_extra=k8s(
            **{"x-kubernetes-validations": [rule("self == oldSelf", "datacenter is immutable")]}
        ),
    )
    rack: str | None = Field(
        None,
        description="Cassandra rack of the pool's members. When absent the operator uses"
        " the pool name (the API server cannot default one field from another)."
        " Immutable.",
        min_length=1,
        max_length=48,
        pattern=DNS1123_LABEL,
    )

    @property
    def effective_rack(self) -> str:
        """The rack the members get: `rack`, or the pool name when absent."""
        return self.rack or self.name


# A DNS-1123 subdomain: what Kubernetes allows for a Secret's (or an issuer's) name.
SECRET_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class CassandraAuth(ApiModel):
    """Who may connect: password authentication and role-based authorization."""

    enabled: bool = Field(
        True,
        description="PasswordAuthenticator and CassandraAuthorizer (the default). false"
        " opts out: any client that reaches a member connects without credentials, with"
        " every right; status.auth says so. Changing it is a rolling restart.",
    )
    superuser_secret_name: str | None = Field(
        None,
        description="A Secret in the cluster's namespace with keys `username` and"
        " `password`: the superuser the operator creates (and uses itself). Absent: the"
        " operator generates `<cluster>-superuser` with a random password. The default"
        " `cassandra` account is dropped once this superuser can log in.",
        min_length=1,
        max_length=253,
        pattern=SECRET_NAME,
    )


class IssuerRef(ApiModel):
    """A cert-manager issuer: the `issuerRef` of every member's Certificate."""

    name: str = Field(
        description="Name of the Issuer (in the cluster's namespace) or ClusterIssuer.",
        min_length=1,
        max_length=253,
        pattern=SECRET_NAME,
    )
    kind: str = Field(
        "Issuer",
        description="Issuer, ClusterIssuer, or the kind of an external issuer.",
        min_length=1,
        max_length=63,
    )
    group: str = Field(
        "cert-manager.io",
        description="API group of the issuer (cert-manager.io, or an external issuer's).",
        min_length=1,
        max_length=253,
    )


class CertManagerIssuer(ApiModel):
    """Certificates issued by cert-manager instead of the operator's own CA."""

    issuer_ref: IssuerRef = Field(
        description="The issuer that signs every member's certificate. Its CA must be in"
        " the `ca.crt` of the Secrets it issues: members trust each other through it."
    )


class CassandraTLS(ApiModel):
    """Encryption on the wire (TLS), per direction; off unless turned on."""

    client_encryption: bool = Field(
        False,
        description="Client-to-node: the CQL port accepts TLS connections only (Cassandra's"
        " client_encryption_options, enabled and not optional). Clients verify the"
        " members' certificates against the cluster's CA; no client certificate is"
        " required.",
    )
    internode_encryption: bool = Field(
        False,
        description="Node-to-node: every connection between members is TLS with a"
        " certificate on both ends, each verified against the cluster's CA (Cassandra's"
        " server_encryption_options, internode_encryption all, require_client_auth).",
    )
    cert_manager: CertManagerIssuer | None = Field(
        None,
        description="Absent: the operator makes a CA for the cluster (Secret"
        " `<cluster>-ca`) and signs each member's certificate itself, renewing it before"
        " it expires. Set: cert-manager issues each member's certificate (a Certificate"
        " per member, Secret `<member>-tls`) from this issuer.",
    )

    @property
    def enabled(self) -> bool:
        """Either direction on: the pods need certificates."""
        return self.client_encryption or self.internode_encryption


class CassandraClusterSpec(ClusterSpecBase):
    """The Cassandra cluster the user wants."""

    version: str = Field(
        description="Apache Cassandra version, x.y.z with major 5 or later (e.g. 5.0.6)."
        " It may go up to any newer minor or patch of its major, or to the next major"
        " (never skipping one). It may go back, within its major only, to a version"
        " that a member still runs according to status.members[].version (e.g. to leave"
        " an upgrade whose image cannot be pulled); other downgrades are refused.",
        max_length=16,
        pattern=VERSION_PATTERN,
        json_schema_extra=k8s(**{"x-kubernetes-validations": VERSION_RULES}),
    )
    node_pools: list[CassandraNodePool] = Field(
        description="The pools (racks) of members; names are unique.",
        min_length=1,
        max_length=32,
        json_schema_extra=k8s(
            **{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}
        ),
    )
    config: CassandraConfig = Field(
        default_factory=CassandraConfig,
        description="cassandra.yaml overrides and JVM options.",
    )
    auth: CassandraAuth = Field(
        default_factory=CassandraAuth,
        description="Authentication and authorization; on unless explicitly turned off.",
    )
    tls: CassandraTLS = Field(
        default_factory=CassandraTLS,
        description="TLS between clients and members and between members; off by default."
        " Fixed when the cluster is created: switching encryption on a running cluster"
        " needs every member to accept both, which this version does not do.",
        json_schema_extra=k8s(
            **{
                "x-kubernetes-validations": [
                    rule(
                        "self == oldSelf",
                        "tls cannot change once the cluster exists (switching encryption"
                        " on a running cluster is not supported yet): create a new cluster",
                    )
                ]
            }
        ),
    )


MemberState = Literal["UN", "UJ", "UL", "UM", "DN", "DJ", "DL", "DM", "Unknown"]


class MemberStatus(ApiModel):
    """One member (pod) as Cassandra sees it."""

    name: str = Field(description="Pod name.", max_length=253)
    pool: str = Field("", description="Node pool of the member.", max_length=40)
    host_id: str = Field("", alias="hostID", description="Cassandra host ID (UUID).", max_length=64)
    state: MemberState = Field(
        "Unknown",
        description="Status and state as nodetool prints them: U/D (up/down) then"
        " N/J/L/M (normal, joining, leaving, moving).",
    )
    version: str = Field("", description="Cassandra release version.", max_length=32)
    datacenter: str = Field("", description="Datacenter the member reports.", max_length=48)
    rack: str = Field("", description="Rack the member reports.", max_length=48)
    revision: str = Field("", description="The pool revision the member's pod runs.", max_length=64)
    updated: bool = Field(False, description="Whether the member runs its pool's current revision.")
    down_since: str = Field(
        "",
        alias="downSince",
        description="Since when the member has been seen down (RFC 3339, UTC; empty while"
        " up). A member merely down is reported, never replaced without a request.",
        max_length=64,
    )


class AuthStatus(ApiModel):
    """Authentication as the operator last saw it (no credential ever appears here)."""

    enabled: bool = Field(description="Whether clients must log in (spec.auth.enabled).")
    superuser_secret: str = Field(
        "", description="The Secret holding the superuser's credentials.", max_length=253
    )
    ready: bool = Field(
        False,
        description="The superuser from the Secret logs in and the default `cassandra`"
        " account is gone.",
    )
    verified_secret: str = Field(
        "",
        description="uid/resourceVersion of the Secret the superuser was last verified"
        " against: a changed Secret is verified again.",
        max_length=128,
    )
    message: str = Field("", description="What is missing, or why.", max_length=1024)


class TlsStatus(ApiModel):
    """TLS as the operator last set it up (no key material ever appears here)."""

    client_encryption: bool = Field(description="CQL accepts TLS connections only.")
    internode_encryption: bool = Field(description="Members talk to each other over mutual TLS.")
    issuer: str = Field(
        "",
        description="Who signs the members' certificates: `Secret <cluster>-ca` (the"
        " cluster's CA) or the cert-manager issuer.",
        max_length=512,
    )
    ready: bool = Field(
        False, description="Every member of the spec has its certificate in its pool's Secret."
    )
    not_after: str = Field(
        "",
        description="When the first member's certificate expires (RFC 3339); it is renewed"
        " well before.",
        max_length=64,
    )
    message: str = Field("", description="What is missing, or why.", max_length=1024)


class CassandraClusterStatus(ClusterStatusBase):
    """What the operator observes about the cluster."""

    auth: AuthStatus | None = Field(None, description="Authentication as last verified.")
    tls: TlsStatus | None = Field(None, description="TLS, when spec.tls turns it on.")

    members: list[MemberStatus] = Field(
        default_factory=list,
        description="Every member (pod) and its Cassandra state.",
        json_schema_extra=k8s(
            **{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
            maxItems=1000,
        ),
    )


class CassandraCluster(ApiModel):
    """An Apache Cassandra cluster run by Navigator."""

    model_config = ConfigDict(json_schema_extra=k8s(**{"x-kubernetes-validations": ROOT_RULES}))

    api_version: Literal["navigator.dev/v1alpha1"] = "navigator.dev/v1alpha1"
    kind: Literal["CassandraCluster"] = "CassandraCluster"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: CassandraClusterSpec = Field(description="The cluster the user wants.")
    status: CassandraClusterStatus | None = Field(
        None, description="What the operator observes (written by the operator only)."
    )


PRINTER_COLUMNS = printer_columns("Cassandra")
