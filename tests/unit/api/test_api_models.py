"""The API models: defaults, wire names, and the examples they accept."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from navigator.api.cassandra import (
    OWNED_KEYS,
    CassandraAuth,
    CassandraCluster,
    CassandraNodePool,
    IssuerRef,
)
from navigator.api.pilot import Pilot
from navigator.api.search import KINDS as SEARCH_KINDS
from navigator.pilot.cassandra.render import OWNED_KEYS as PILOT_OWNED_KEYS

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).parents[3] / "deploy" / "examples"
CLUSTER_KINDS = {"CassandraCluster": CassandraCluster, **SEARCH_KINDS}


def test_pool_defaults() -> None:
    pool = CassandraNodePool(name="rack1", replicas=3)
    assert pool.datacenter == "dc1"
    assert pool.rack is None
    assert pool.effective_rack == "rack1"  # the operator's default: the pool name
    assert pool.model_copy(update={"rack": "a"}).effective_rack == "a"
    assert pool.persistence.size == "10Gi"
    assert pool.persistence.storage_class_name is None


def test_cluster_defaults_keep_data() -> None:
    obj = CassandraCluster.model_validate(
        {
            "spec": {
                "version": "5.0.6",
                "nodePools": [{"name": "a", "replicas": 1}],
            }
        }
    )
    policy = obj.spec.persistent_volume_claim_retention_policy
    assert (policy.when_scaled, policy.when_deleted) == ("Retain", "Retain")
    assert obj.spec.paused is False
    assert obj.spec.config.cassandra_yaml == {}


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_are_valid(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    obj = CLUSTER_KINDS[doc["kind"]].model_validate(doc)
    assert obj.spec.node_pools


def test_wire_names_are_camel_case() -> None:
    pilot = Pilot.model_validate(
        {
            "spec": {"intents": [{"id": "d1", "action": "Decommission"}]},
            "status": {"facts": {"hostID": "x"}},
        }
    )
    dumped = pilot.model_dump(by_alias=True, exclude_none=True)
    assert dumped["apiVersion"] == "navigator.dev/v1alpha1"
    assert dumped["status"]["facts"]["hostID"] == "x"
    assert "readyReason" in dumped["status"]


def test_owned_keys_agree_with_the_pilot() -> None:
    """Admission refuses exactly the keys the pilot's renderer refuses."""
    assert set(OWNED_KEYS) == set(PILOT_OWNED_KEYS)


@pytest.mark.parametrize("name", ["admin", "my.admin", "a-1.b-2"])
def test_secret_and_issuer_names_are_dns_subdomains(name: str) -> None:
    auth = CassandraAuth(superuser_secret_name=name)
    ref = IssuerRef(name=name)
    assert (auth.superuser_secret_name, ref.name) == (name, name)


@pytest.mark.parametrize("name", ["Admin", "a\\b", "a..b", "-a", "a."])
def test_names_that_are_not_dns_subdomains_are_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        CassandraAuth(superuser_secret_name=name)
    with pytest.raises(ValidationError):
        IssuerRef(name=name)
