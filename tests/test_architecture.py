"""Architecture rules from STYLE.md: the public surface, a layer for every package and
top-level module under src/modelyard, imports that point one way, and no import cycle.

Imports are read with `ast`, so those inside functions count as much as those at the top
of a module. A *unit* is a package or a top-level module (`catalog`, `config`, `cli`...);
the package's own `__init__.py` is the unit `modelyard`.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator
from pathlib import Path

import modelyard

SRC = Path(modelyard.__file__).parent

# --------------------------------------------------------------------------- the layer map
#
# unit -> the units it may import (besides itself). STYLE.md section 1: graph uses catalog;
# placement uses graph; store, triton, targets and traffic build on catalog (and graph);
# deploy builds on those; ops may use everything below it; workspace is a facade over ops;
# cli and api may import anything, and nothing imports them (nor one the other).

# The domain: pure, no I/O edges (no SQL, no network, no server; see also
# test_domain_imports_no_io). traffic's pure modules (arms, weights, assignment rules;
# STYLE.md: "experiments and their statistics (pure)") are held to the same rule in
# PURE_MODULES, beside the gateway driver that shares their package.
# At the bottom, importing nothing of ours: the exception tree, the lazy re-export helper
# and the defaults the CLI's help shows.
BASE = frozenset({"errors", "lazy", "defaults"})
DOMAIN = BASE | {"catalog", "graph", "placement"}
PURE_MODULES = frozenset(
    {"modelyard.traffic.split", "modelyard.traffic.statistics", "modelyard.traffic.canary"}
)
ON_CATALOG = BASE | {"catalog", "graph"}
# What reads and writes the world, on the domain; config reads modelyard.yaml.
EDGES = frozenset(
    {
        "store",
        "triton",
        "targets",
        "traffic",
        "fleet_detect",
        "config",
        "kube",
        "integrations",
        "s3",
    }
)
# Catalog-wide logic over the store (candidates for ops/).
SERVICES = frozenset({"selection", "planning", "registry", "validation"})
ENGINES = frozenset({"deploy", "perf", "report"})
BELOW_OPS = DOMAIN | EDGES | SERVICES | ENGINES
# Every unit but the two front ends and the package root.
BELOW_FRONT = BELOW_OPS | {"ops", "workspace", "client"}

MAY_IMPORT: dict[str, frozenset[str]] = {
    # -- the domain
    "errors": frozenset(),  # the exception tree imports nothing of ours
    "lazy": frozenset(),
    "defaults": frozenset(),
    "catalog": BASE,
    "graph": BASE | {"catalog"},
    "placement": BASE | {"catalog", "graph"},
    # -- the edges
    "store": ON_CATALOG,  # the only SQL
    "triton": ON_CATALOG,  # configs, compiler, importer, repositories, client, server
    "traffic": ON_CATALOG,  # splits (pure), the gateway driver (HAProxy)
    "fleet_detect": DOMAIN,  # NVML -> a fleet's Server
    # Other MLOps systems' protocols (the MLflow registry's REST API) -> plain records.
    "integrations": BASE,
    "config": DOMAIN | {"triton"},  # modelyard.yaml: a fleet, Triton profiles, targets
    # Kubernetes objects for a placement (pure rendering, with the gateway's haproxy.cfg
    # from traffic) and the folder they are written to.
    "kube": DOMAIN | {"traffic"},
    # Target kinds (a Triton + folder, an S3 repository, a gateway in front), built from
    # config's entries (not here yet).
    "targets": ON_CATALOG | {"triton", "traffic", "config", "s3"},
    # S3-compatible storage (boto3): s3:// artifacts, push, repositories Triton reads.
    "s3": ON_CATALOG | {"triton", "config"},
    # -- services
    "selection": DOMAIN | {"store"},
    "planning": DOMAIN | {"store", "selection"},
    "registry": DOMAIN | {"store", "triton"},
    "validation": DOMAIN | {"store", "triton", "config", "selection"},
    # -- engines
    "deploy": DOMAIN | {"store", "triton", "targets", "traffic", "config"},
    "perf": DOMAIN | EDGES | {"selection", "validation"},
    "report": DOMAIN | {"store", "triton", "selection", "validation"},
    # -- the use cases
    "ops": BELOW_OPS,
    # -- the facade: one-line forwards into ops
    "workspace": BELOW_OPS | {"ops"},
    # -- the same operations through a server's REST API (httpx): result types from ops
    "client": BELOW_OPS | {"ops"},
    # -- the public Python API (__init__.py) re-exports
    "modelyard": BELOW_FRONT,
    # -- the front ends
    "api": BELOW_FRONT,
    # `modelyard server` is the API's launcher: the one place cli imports api (never back).
    "cli": BELOW_FRONT | {"api"},
}
# In the map before they exist, so that they are checked the moment they appear.
PLANNED: frozenset[str] = frozenset()

# ---------------------------------------------------------------- known, for the lead to fix
#
# Temporary: each entry is today's code against the map. The tests fail on any violation
# or cycle not listed here, and on an entry that no longer happens (delete it then).
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}
KNOWN_CYCLES: dict[frozenset[str], str] = {}

# --------------------------------------------------------------------------- the imports


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_of(path): path for path in sorted(SRC.rglob("*.py"))}


def _imported(module: str, path: Path) -> set[str]:
    """The modelyard modules `module` imports anywhere in its file: `from a.b import c`
    counts as a.b.c when that is a module, else as a.b; relative imports are resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "modelyard")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            if source.split(".")[0] != "modelyard":
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in MODULES else source)
    found.discard(module)
    return found


IMPORTS = {module: _imported(module, path) for module, path in MODULES.items()}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "modelyard"


def _violations() -> set[tuple[str, str]]:
    return {
        (module, target)
        for module, targets in IMPORTS.items()
        for target in targets
        if _unit(target) != _unit(module) and _unit(target) not in MAY_IMPORT[_unit(module)]
    }


def _cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


# --------------------------------------------------------------------------- the tests


def test_public_api_is_sorted_and_complete() -> None:
    assert modelyard.__all__ == sorted(modelyard.__all__)
    # The names are imported on first use (modelyard/lazy.py): `dir` lists them all.
    public = {name for name in dir(modelyard) if not name.startswith("_")}
    submodules = {
        p.stem for p in SRC.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    machinery = {"annotations", "TYPE_CHECKING", "lazy_exports"}
    assert public - submodules - machinery == set(modelyard.__all__)
    for name in modelyard.__all__:
        assert getattr(modelyard, name) is not None, name


def test_every_package_and_module_has_a_layer() -> None:
    units = {_unit(module) for module in MODULES}
    assert units - MAY_IMPORT.keys() == set(), "add the new unit to MAY_IMPORT"
    assert MAY_IMPORT.keys() - units - PLANNED == set(), "a unit in MAY_IMPORT is gone"
    for unit, allowed in MAY_IMPORT.items():
        assert allowed <= MAY_IMPORT.keys(), unit
        assert unit not in allowed, unit
        assert "modelyard" not in allowed, f"{unit}: nothing imports the package root"
        if unit not in ("api", "cli"):
            assert not allowed & {"api", "cli"}, f"{unit}: nothing imports cli or api"
    # cli may import api only to launch it (`modelyard server`); api never imports cli.
    assert "cli" not in MAY_IMPORT["api"]


def test_the_layer_map_has_no_cycle() -> None:
    # Each unit sits above all it may import: the map is a partial order.
    graphlib.TopologicalSorter(MAY_IMPORT).prepare()  # raises CycleError


def test_the_import_reader_sees_what_it_should() -> None:
    # Spot checks of _imported: submodules, packages, imports inside functions.
    assert (
        "modelyard.cli.render" in IMPORTS["modelyard.cli.app"]
    )  # from modelyard.cli import render
    assert "modelyard.api" in IMPORTS["modelyard.cli.server_cmd"]  # inside a function
    assert "modelyard.placement.fleet" in IMPORTS["modelyard.config"]
    assert IMPORTS["modelyard.errors"] == set()


def test_imports_point_one_way() -> None:
    violations = _violations()
    new = sorted(
        f"{module} imports {target}" for module, target in violations - KNOWN_VIOLATIONS.keys()
    )
    fixed = sorted(
        f"{module} -> {target}" for module, target in KNOWN_VIOLATIONS.keys() - violations
    )
    assert new == [], "against the layer map (MAY_IMPORT):\n" + "\n".join(new)
    assert fixed == [], "no longer happens; delete from KNOWN_VIOLATIONS:\n" + "\n".join(fixed)


def test_no_import_cycle() -> None:
    cycles = _cycles(IMPORTS)
    new = sorted(" <-> ".join(sorted(c)) for c in cycles - KNOWN_CYCLES.keys())
    fixed = sorted(" <-> ".join(sorted(c)) for c in KNOWN_CYCLES.keys() - cycles)
    assert new == [], "modules that import each other:\n" + "\n".join(new)
    assert fixed == [], "no longer a cycle; delete or update in KNOWN_CYCLES:\n" + "\n".join(fixed)


def test_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e", "d"}}
    assert _cycles(graph) == {frozenset({"a", "b", "c"})}
    two = {"a": {"b"}, "b": {"a", "c"}, "c": {"d"}, "d": {"c", "a"}, "x": {"y"}, "y": set()}
    assert _cycles(two) == {frozenset({"a", "b", "c", "d"})}
    apart = {"a": {"b"}, "b": {"a", "c"}, "c": {"d"}, "d": {"c"}}
    assert _cycles(apart) == {frozenset({"a", "b"}), frozenset({"c", "d"})}


# Libraries that talk to a database, a network, a server, a GPU or a terminal.
IO_LIBRARIES = frozenset(
    {
        "alembic",
        "fastapi",
        "http",
        "httpx",
        "psycopg",
        "pynvml",
        "requests",
        "rich",
        "socket",
        "sqlalchemy",
        "subprocess",
        "tritonclient",
        "typer",
        "urllib",
        "uvicorn",
    }
)


def test_domain_imports_no_io() -> None:
    found = []
    for module, path in MODULES.items():
        if _unit(module) not in DOMAIN and module not in PURE_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            found += [f"{module} imports {n}" for n in names if n.split(".")[0] in IO_LIBRARIES]
    assert found == []


def test_pure_modules_exist() -> None:
    assert set(PURE_MODULES) - MODULES.keys() == set()
    for module in PURE_MODULES:  # and import only the domain (or each other)
        assert {_unit(t) for t in IMPORTS[module] if t not in PURE_MODULES} <= DOMAIN, module


def test_domain_packages_do_no_sql() -> None:
    for package in ("catalog", "graph", "placement"):
        for path in (SRC / package).rglob("*.py"):
            assert "sqlalchemy" not in path.read_text(), path


def _imports_of_a_test_file(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                yield "." * node.level + (node.module or "")
            elif node.module == "tests":
                yield from (f"tests.{a.name}" for a in node.names)
            elif node.module:
                yield node.module


def test_tests_share_helpers_only_through_tests_support() -> None:
    # STYLE.md section 6: shared helpers live in tests/support/, never in a conftest.py or
    # in a test module that others import.
    root = Path(__file__).resolve().parents[1]
    found = [
        f"{path.relative_to(root)} imports {name}"
        for path in sorted([*(root / "tests").rglob("*.py"), *(root / "bench").rglob("*.py")])
        for name in _imports_of_a_test_file(path)
        if name.startswith(".")
        or (name.split(".")[0] == "tests" and name.split(".")[:2] != ["tests", "support"])
    ]
    assert found == []
