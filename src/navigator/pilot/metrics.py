"""A few Prometheus metrics in the text exposition format, without a client library.

The pilot exports a handful of counters and gauges; a full client library
would cost more memory than the rest of the pilot (see docs/pilot.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Metric:
    name: str
    help: str
    kind: str  # "counter" | "gauge"
    labels: tuple[str, ...] = ()
    values: dict[tuple[str, ...], float] = field(default_factory=dict)

    def inc(self, *label_values: str, by: float = 1.0) -> None:
        self.values[label_values] = self.values.get(label_values, 0.0) + by

    def set(self, value: float, *label_values: str) -> None:
        self.values[label_values] = value

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        if not self.values and not self.labels:
            lines.append(f"{self.name} 0")
        for key, value in sorted(self.values.items()):
            pairs = ",".join(f'{k}="{v}"' for k, v in zip(self.labels, key, strict=True))
            lines.append(f"{self.name}{{{pairs}}} {value}" if pairs else f"{self.name} {value}")
        return "\n".join(lines)


REGISTRY: list[Metric] = []


def metric(name: str, help: str, kind: str, labels: tuple[str, ...] = ()) -> Metric:
    m = Metric(name, help, kind, labels)
    REGISTRY.append(m)
    return m


def exposition() -> bytes:
    return ("\n".join(m.render() for m in REGISTRY) + "\n").encode()
