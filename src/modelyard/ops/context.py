"""What every operation runs over: the catalog, modelyard.yaml, the folder, who asks, the time."""

from __future__ import annotations

import gc
import getpass
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from modelyard.config import LOCAL_TARGET, TargetConfig, WorkspaceConfig
from modelyard.errors import InputError, NotFound
from modelyard.placement.fleet import Fleet
from modelyard.store.store import CatalogStore

# Where `modelyard serve` records the ports it listens on, in its state folder.
ENDPOINT_FILE = "endpoint.json"
ENDPOINT_FILE_PATH = Path(".modelyard") / "triton" / ENDPOINT_FILE


def utc_now() -> datetime:
    return datetime.now(UTC)


def local_actor() -> str:
    """Who a change made outside the API (CLI, Python) is recorded as: `local:<user>`."""
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):
        return "local:unknown"


@dataclass(frozen=True)
class Context:
    """The explicit inputs of an operation.

    `actor` is who is audited for a change (an API token's name, or `local:<user>`); it
    is never the lease holder, which stays unique per deploying process.
    """

    store: CatalogStore
    config: WorkspaceConfig
    root: Path | None
    actor: str = field(default_factory=local_actor)
    clock: Callable[[], datetime] = utc_now

    @property
    def fleet(self) -> Fleet | None:
        return self.config.fleet

    @property
    def has_fleet(self) -> bool:
        return self.config.fleet is not None and bool(self.config.fleet.servers)

    def require_fleet(self, what: str) -> Fleet:
        """The declared fleet, or InputError saying that `what` needs one."""
        fleet = self.config.fleet
        if fleet is None or not fleet.servers:
            raise InputError(
                f"{what} needs a fleet: declare `fleet: {{servers: [...]}}` in modelyard.yaml"
            )
        return fleet

    def target(self, name: str = "local") -> TargetConfig:
        """A deployment target by name (see `resolve_target`)."""
        return resolve_target(self.config, self.root, name)

    def resolve_path(self, path: str, what: str) -> Path:
        """`path` from modelyard.yaml, relative to the workspace folder."""
        resolved = Path(path)
        if resolved.is_absolute():
            return resolved
        if self.root is None:
            raise InputError(f"{what}: a relative repository path needs a workspace")
        return self.root / resolved


def resolve_target(config: WorkspaceConfig, root: Path | None, name: str) -> TargetConfig:
    """A deployment target by name, its repository path made absolute; `local` is the
    server `modelyard serve` starts unless modelyard.yaml declares one."""
    target = config.targets.get(name)
    if target is None and name == "local":
        target = _served_locally(root)
    if target is None:
        known = ", ".join(sorted({"local", *config.targets}))
        raise NotFound(f"no target {name!r} in modelyard.yaml (known: {known})")
    if target.repository.startswith("s3://"):
        # Not a path; the storage is the target's own `s3:`, else the workspace's.
        return target if target.s3 is not None else target.model_copy(update={"s3": config.s3})
    repository = Path(target.repository)
    if not repository.is_absolute():
        if root is None:
            raise InputError(f"target {name!r}: a relative repository path needs a workspace")
        repository = root / repository
    return target.model_copy(update={"repository": str(repository)})


def _served_locally(root: Path | None) -> TargetConfig:
    """The undeclared `local` target: where `modelyard serve` last said it listens
    (`.modelyard/triton/endpoint.json`), else Triton's default ports."""
    if root is None:
        return LOCAL_TARGET
    try:
        endpoint = json.loads((root / ENDPOINT_FILE_PATH).read_text(encoding="utf-8"))
        threads = endpoint.get("load_threads")
        return LOCAL_TARGET.model_copy(
            update={
                "url": str(endpoint["url"]),
                "metrics_url": str(endpoint["metrics_url"]),
                "load_threads": threads if isinstance(threads, int) and threads > 0 else None,
            }
        )
    except (OSError, ValueError, KeyError, TypeError):
        return LOCAL_TARGET  # never served here, or a file serve did not finish


@contextmanager
def paused_gc() -> Iterator[None]:
    """Suspend the cyclic garbage collector during bulk work.

    Reading 10,000 manifests creates millions of objects and no reference cycles worth
    collecting; CPython's collector, triggered by allocation counts, then spent about
    40% of the time walking them (measured with bench/catalog.py).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
