"""Target kinds by name: `kind:` in modelyard.yaml picks the factory that opens a target.

Modelled on MLflow's store registry (stores by URI scheme): kinds are registered by name
in code (`register_target_kind`), or by an installed package's entry point in the group
`modelyard.targets` (`s3 = my_package.targets:open_s3_target`), loaded on first use.
"""

from __future__ import annotations

import threading
from importlib.metadata import entry_points
from typing import Protocol

import httpx

from modelyard.config import TargetConfig, check_target_kind
from modelyard.errors import Conflict, InputError
from modelyard.targets.base import Target
from modelyard.targets.triton_folder import KIND as TRITON_KIND
from modelyard.targets.triton_folder import TritonFolderTarget
from modelyard.targets.triton_s3 import KIND as TRITON_S3_KIND
from modelyard.targets.triton_s3 import TritonS3Target

ENTRY_POINT_GROUP = "modelyard.targets"


class TargetFactory(Protocol):
    """Opens a target of one kind from its entry in modelyard.yaml."""

    def __call__(
        self,
        name: str,
        config: TargetConfig,
        *,
        timeout_s: float,
        transport: httpx.BaseTransport | None,
    ) -> Target: ...


class TargetRegistry:
    """Target kinds by name; the entry points of `group` are read once, on first need."""

    def __init__(self, group: str | None = ENTRY_POINT_GROUP) -> None:
        self._factories: dict[str, TargetFactory] = {}
        self._broken: dict[str, str] = {}  # plugin kind -> why it did not load
        self._group = group
        self._plugins_read = group is None
        self._lock = threading.Lock()

    def register(self, kind: str, factory: TargetFactory, *, replace: bool = False) -> None:
        """Add a kind. Raises InputError for a name that is no kind name, Conflict if the
        kind is registered already (unless `replace`)."""
        try:
            check_target_kind(kind)
        except ValueError as exc:
            raise InputError(f"cannot register target kind: {exc}") from None
        with self._lock:
            if kind in self._factories and not replace:
                raise Conflict(
                    f"target kind {kind!r} is registered already; pass replace=True to "
                    "replace its factory"
                )
            self._factories[kind] = factory

    def unregister(self, kind: str) -> None:
        """Forget a kind (a test's own, say); unknown kinds are ignored."""
        with self._lock:
            self._factories.pop(kind, None)

    def kinds(self) -> list[str]:
        """The known kinds, sorted."""
        self._read_plugins()
        with self._lock:
            return sorted(self._factories)

    def factory(self, kind: str, *, target: str | None = None) -> TargetFactory:
        """The factory of `kind`; InputError naming the kind and the known kinds if none."""
        self._read_plugins()
        with self._lock:
            found = self._factories.get(kind)
            broken = self._broken.get(kind)
        if found is None and broken is not None:
            raise InputError(broken)
        if found is None:
            where = f"target {target!r}: " if target is not None else ""
            raise InputError(
                f"{where}unknown target kind {kind!r} (known kinds: {', '.join(self.kinds())}); "
                f"fix `kind:` in modelyard.yaml, or install the package that provides the "
                f"kind (entry point group {ENTRY_POINT_GROUP!r})"
            )
        return found

    def open(
        self,
        name: str,
        config: TargetConfig,
        *,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> Target:
        """Open the target `name` described by `config` (its kind's factory)."""
        factory = self.factory(config.kind, target=name)
        return factory(name, config, timeout_s=timeout_s, transport=transport)

    def _read_plugins(self) -> None:
        with self._lock:
            if self._plugins_read:
                return
            self._plugins_read = True
            assert self._group is not None
            found = list(entry_points(group=self._group))
        for entry in found:
            try:
                factory = entry.load()
            except Exception as exc:  # any plugin failure; it must not hide the kinds that work
                with self._lock:
                    self._broken[entry.name] = (
                        f"target kind {entry.name!r} (entry point {entry.value!r} in "
                        f"{self._group!r}) cannot be loaded: {type(exc).__name__}: {exc}"
                    )
                continue
            with self._lock:
                self._factories.setdefault(entry.name, factory)


def _open_triton_folder(
    name: str,
    config: TargetConfig,
    *,
    timeout_s: float,
    transport: httpx.BaseTransport | None,
) -> Target:
    return TritonFolderTarget.from_config(name, config, timeout_s=timeout_s, transport=transport)


def _open_triton_s3(
    name: str,
    config: TargetConfig,
    *,
    timeout_s: float,
    transport: httpx.BaseTransport | None,
) -> Target:
    return TritonS3Target.from_config(name, config, timeout_s=timeout_s, transport=transport)


registry = TargetRegistry()
registry.register(TRITON_KIND, _open_triton_folder)
registry.register(TRITON_S3_KIND, _open_triton_s3)


def open_target(
    name: str,
    config: TargetConfig,
    *,
    timeout_s: float = 30.0,
    transport: httpx.BaseTransport | None = None,
) -> Target:
    """Open the target `name` of modelyard.yaml through its kind.

    Args:
        timeout_s: how long one request to the server may take by default.
        transport: httpx transport for the target's HTTP (tests: `httpx.MockTransport`).

    Raises:
        InputError: `config.kind` is not a registered kind (the message lists them).
    """
    return registry.open(name, config, timeout_s=timeout_s, transport=transport)


def register_target_kind(kind: str, factory: TargetFactory, *, replace: bool = False) -> None:
    """Add a target kind to the default registry (see TargetRegistry.register)."""
    registry.register(kind, factory, replace=replace)


def target_kinds() -> list[str]:
    """The kinds `kind:` may name, sorted."""
    return registry.kinds()
