"""bench/catalog.py loaded as a module, for tests that build its generated catalog."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from types import ModuleType

BENCH_CATALOG = Path(__file__).resolve().parents[2] / "bench" / "catalog.py"


@functools.cache
def bench_catalog() -> ModuleType:
    """The benchmark's module (`generate(n, folder)` writes a catalog that compiles)."""
    spec = importlib.util.spec_from_file_location("bench_catalog", BENCH_CATALOG)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
