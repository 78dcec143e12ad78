"""Only the product in the product's images: the operator and the pilot (and
what they import) never import the local cluster, the test helpers or the
data checker, and the pilot never imports the operator.

Two checks: every `import` statement of the product's modules (the AST, so a
function-level import counts too), and what a fresh interpreter has loaded
after importing the operator's and the pilot's entry points (transitive
imports, which no single file shows).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SRC = Path(__file__).resolve().parents[2] / "src"

# Packages (and modules) whose code runs in the operator's or a database's
# image. navigator.cassandra's local-image and distribution-fetching modules
# are tooling, not product.
PRODUCT = (
    "navigator.api",
    "navigator.operator",
    "navigator.pilot",
    "navigator.cassandra.config",
    "navigator.cassandra.members",
    "navigator.cassandra.profile",
    "navigator.certs",
    "navigator.quantity",
    "navigator.versions",
)
TOOLING = (
    "navigator.local",
    "navigator.testing",
    "navigator.checker",
    "navigator.cassandra.image",
    "navigator.cassandra.pilot_image",
    "navigator.cassandra.distribution",
)
# Beyond TOOLING: what one product layer may not use of another.
FORBIDDEN = {
    "navigator.pilot": ("navigator.operator",),
    # The core serves every database (docs/design/0008-engine-neutral-split.md):
    # it imports no database's package, neither the API kinds, the pilot's
    # adapters nor the operator's engines.
    "navigator.operator.core": (
        "navigator.api.cassandra",
        "navigator.api.search",
        "navigator.cassandra",
        "navigator.search",
        "navigator.pilot.cassandra",
        "navigator.pilot.search",
        "navigator.operator.cassandra",
        "navigator.operator.search",
    ),
}
ENTRY_POINTS = ("navigator.operator.main", "navigator.pilot.cli")


def within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path) -> set[str]:
    """Every module an import statement of `path` names (relative ones resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else None
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = (package or module_name(path)).split(".")
                base = ".".join(anchor[: len(anchor) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def product_modules() -> list[Path]:
    paths = sorted((SRC / "navigator").rglob("*.py"))
    return [p for p in paths if within(module_name(p), PRODUCT)]


def test_the_product_layers_are_known() -> None:
    found = {module_name(p) for p in product_modules()}
    assert "navigator.operator.cassandra.reconcile" in found
    assert "navigator.operator.core.rollout" in found
    assert "navigator.pilot.cassandra.render" in found
    assert not [m for m in found if within(m, TOOLING)]


@pytest.mark.parametrize("path", product_modules(), ids=module_name)
def test_product_code_imports_no_tooling(path: Path) -> None:
    name = module_name(path)
    banned = TOOLING + tuple(b for k, v in FORBIDDEN.items() if within(name, (k,)) for b in v)
    wrong = sorted(m for m in imported(path) if within(m, banned))
    assert not wrong, f"{name} imports {wrong}"


def test_the_entry_points_load_no_tooling() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for m in {list(ENTRY_POINTS)!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    loaded = json.loads(out)
    assert "navigator.operator.cassandra.reconcile" in loaded  # the check can fail
    wrong = [m for m in loaded if within(m, TOOLING)]
    assert not wrong, wrong


def test_the_pytest_plugin_is_opt_in() -> None:
    """Installing navigator does not register its pytest plugin for every
    pytest run; this repository's tests ask for it in tests/conftest.py."""
    import importlib.metadata

    plugins = importlib.metadata.entry_points(group="pytest11")
    assert not [e for e in plugins if e.value.startswith("navigator.")]
    conftest = (SRC.parent / "tests" / "conftest.py").read_text()
    assert 'pytest_plugins = ["navigator.testing.pytest_plugin"]' in conftest
