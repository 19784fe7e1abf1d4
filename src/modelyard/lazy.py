"""Package attributes imported the first time they are used (PEP 562).

A package's `__init__` re-exporting its modules' names imports all of them with the
package; `modelyard --help` or `modelyard list` would then pay for the whole library
(1.1 s of imports, measured). A package lists its names instead and gets them on demand.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose attribute `name` is
    `names[name]`'s attribute of the same name, imported on first use."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # the next lookup is an ordinary attribute
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __getattr__, __dir__
