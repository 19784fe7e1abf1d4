"""Architecture rules from STYLE.md: the public surface and which package may import which."""

from __future__ import annotations

import ast
from pathlib import Path

import modelyard

SRC = Path(modelyard.__file__).parent

# package -> modelyard packages it may import (errors is everyone's)
ALLOWED = {
    "catalog": {"catalog"},
    "graph": {"catalog", "graph"},
    "store": {"catalog", "store"},
    "placement": {"catalog", "graph", "placement"},
    # A target kind builds on Triton's client and repositories (and its config entry).
    "targets": {"catalog", "config", "graph", "placement", "triton", "targets"},
    # Deploy: plans, the runner, leases, undeploy; through targets, never around them.
    "deploy": {"catalog", "config", "graph", "placement", "triton", "targets", "store", "deploy"},
    "report": {
        "catalog",
        "graph",
        "placement",
        "report",
        "store",
        "selection",
        "validation",
        "triton",
    },
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("modelyard"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("modelyard"))
    return found


def test_public_api_is_sorted_and_complete() -> None:
    assert modelyard.__all__ == sorted(modelyard.__all__)
    public = {name for name in vars(modelyard) if not name.startswith("_")}
    submodules = {
        p.stem for p in SRC.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    assert public - submodules - {"annotations"} == set(modelyard.__all__)


def test_imports_point_one_way() -> None:
    violations = []
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC).parts
        package = relative[0] if len(relative) > 1 else None
        for module in _imports(path):
            parts = module.split(".")
            target = parts[1] if len(parts) > 1 else ""
            if target in ("errors", ""):
                continue
            if target in ("cli", "api") and package not in ("cli", "api"):
                violations.append(f"{path.relative_to(SRC)} imports {module}")
            if package in ALLOWED and target not in ALLOWED[package]:
                violations.append(f"{path.relative_to(SRC)} imports {module}")
    assert violations == []


def test_domain_packages_do_no_sql() -> None:
    for package in ("catalog", "graph", "placement"):
        for path in (SRC / package).rglob("*.py"):
            assert "sqlalchemy" not in path.read_text(), path
