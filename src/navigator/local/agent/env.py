"""A container's environment and command line, resolved like the kubelet does."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping

from navigator.local.agent.config import AgentConfig
from navigator.local.agent.kube import ApiError, Kube, Obj
from navigator.local.agent.volumes import VolumeError, field_value
from navigator.local.images import Image
from navigator.quantity import require_quantity

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


def expand(text: str, env: Mapping[str, str]) -> str:
    """`$(VAR)` references (unknown ones stay as written; `$$` escapes)."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _VAR.sub(sub, text)


def command_line(container: Obj, image: Image) -> list[str]:
    """Kubernetes' rule: `command` replaces the entrypoint (and drops the image's
    cmd); `args` replaces the image's cmd."""
    command = container.get("command")
    args = container.get("args")
    if command:
        return [*command, *(args or [])]
    return [*image.entrypoint, *(args if args is not None else image.cmd)]


def service_env(cfg: AgentConfig) -> dict[str, str]:
    """What a pod sees of the `kubernetes` Service (there is no kube-proxy here,
    so it points at the API server directly)."""
    host, port = cfg.host_ip, str(cfg.apiserver_port)
    return {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": port,
        "KUBERNETES_SERVICE_PORT_HTTPS": port,
        "KUBERNETES_PORT": f"tcp://{host}:{port}",
        "KUBERNETES_PORT_443_TCP": f"tcp://{host}:{port}",
        "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_443_TCP_PORT": port,
        "KUBERNETES_PORT_443_TCP_ADDR": host,
    }


def resource_value(container: Obj, resource: str, divisor: str | None, node: Obj) -> str:
    kind, _, name = resource.partition(".")
    value = container.get("resources", {}).get(kind, {}).get(name)
    if value is None:
        value = node.get(name, "0")
    return str(_divide(str(value), divisor or "1"))


def quantity(text: str) -> float:
    return float(require_quantity(text))


def _divide(value: str, divisor: str) -> int:
    import math

    return max(1, math.ceil(quantity(value) / quantity(divisor))) if quantity(value) else 0


async def container_env(
    cfg: AgentConfig, kube: Kube, pod: Obj, container: Obj, image: Image, hostname: str
) -> dict[str, str]:
    env: dict[str, str] = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname}
    env.update(image.config.env_dict())
    env.update(service_env(cfg))
    ns = pod["metadata"]["namespace"]
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        for key, value in (await _env_from(kube, ns, source)).items():
            env[prefix + key] = value
    for var in container.get("env", []):
        if "valueFrom" in var:
            resolved = await _value_from(cfg, kube, pod, container, var["valueFrom"])
            if resolved is None:
                continue
            env[var["name"]] = resolved
        else:
            env[var["name"]] = expand(var.get("value", ""), env)
    return env


async def _env_from(kube: Kube, ns: str, source: Obj) -> dict[str, str]:
    if "configMapRef" in source:
        ref = source["configMapRef"]
        obj = await _get(kube, f"/api/v1/namespaces/{ns}/configmaps/{ref['name']}", ref)
        return dict(obj.get("data") or {})
    ref = source.get("secretRef", {})
    obj = await _get(kube, f"/api/v1/namespaces/{ns}/secrets/{ref.get('name')}", ref)
    return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}


async def _get(kube: Kube, path: str, ref: Obj) -> Obj:
    try:
        return await kube.get(path)
    except ApiError as err:
        if err.status == 404 and ref.get("optional"):
            return {}
        raise VolumeError(f"{path.rsplit('/', 2)[-2][:-1]} {ref.get('name')!r}: {err}") from err


async def _value_from(
    cfg: AgentConfig, kube: Kube, pod: Obj, container: Obj, source: Obj
) -> str | None:
    ns = pod["metadata"]["namespace"]
    if "fieldRef" in source:
        return field_value(pod, source["fieldRef"]["fieldPath"])
    if "resourceFieldRef" in source:
        ref = source["resourceFieldRef"]
        return resource_value(
            container, ref["resource"], ref.get("divisor"), cfg.resources.as_quantities()
        )
    for key, kind in (("configMapKeyRef", "configmaps"), ("secretKeyRef", "secrets")):
        if key in source:
            ref = source[key]
            obj = await _get(kube, f"/api/v1/namespaces/{ns}/{kind}/{ref['name']}", ref)
            data = obj.get("data") or {}
            if ref["key"] not in data:
                if ref.get("optional"):
                    return None
                raise VolumeError(f"{kind[:-1]} {ref['name']!r} has no key {ref['key']!r}")
            value = str(data[ref["key"]])
            return base64.b64decode(value).decode() if kind == "secrets" else value
    return None
