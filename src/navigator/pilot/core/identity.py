"""Who this pilot is: its pod and its place in the cluster.

Everything comes from the environment the operator puts in the pod spec
(downward API for the pod's own fields), so the pilot needs no API read to
know itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class IdentityError(ValueError):
    pass


@dataclass(frozen=True)
class Identity:
    pod_name: str
    namespace: str
    pod_ip: str
    cluster: str
    pool: str
    datacenter: str
    rack: str

    @property
    def pilot_name(self) -> str:
        """The Pilot object of this member has the pod's name."""
        return self.pod_name

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Identity:
        env = os.environ if env is None else env
        names = {
            "pod_name": "POD_NAME",
            "namespace": "POD_NAMESPACE",
            "pod_ip": "POD_IP",
            "cluster": "NAVIGATOR_CLUSTER",
            "pool": "NAVIGATOR_POOL",
            "datacenter": "NAVIGATOR_DATACENTER",
            "rack": "NAVIGATOR_RACK",
        }
        missing = [var for var in names.values() if not env.get(var)]
        if missing:
            raise IdentityError(f"missing environment variables: {', '.join(missing)}")
        return cls(**{field: env[var] for field, var in names.items()})
