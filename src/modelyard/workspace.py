"""A workspace: `modelyard.yaml` (catalog URL, fleet, targets) plus the catalog it points to.

This is the Python API the CLI and the REST API are thin shells around:

    from modelyard import Workspace
    ws = Workspace.open("path/to/workspace")
    ws.apply(["models/"])
    report = ws.validate()

Every method forwards to one use case in `modelyard.ops`, over a `Context` that names who
acts (`actor`, default `local:<user>`). The database URL is chosen, first match wins: the
`db_url` argument (`--db`), the `MODELYARD_DB` environment variable (read by the CLI and
passed in), `catalog.url` in `modelyard.yaml`, and `sqlite:///<workspace>/.modelyard/catalog.db`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelyard.catalog.spec import ModelSpec
from modelyard.config import (
    CONFIG_FILE,
    DEFAULT_CONFIG,
    DEFAULT_DB_FILE,
    STATE_DIR,
    TargetConfig,
    WorkspaceConfig,
    find_workspace,
    read_config,
    sqlite_url_relative_to,
)
from modelyard.deploy.plan import RolloutPlan
from modelyard.deploy.runner import DeployOptions, DeployResult, Progress
from modelyard.errors import InputError, NotFound
from modelyard.ops import build, catalog, insight, rollout
from modelyard.ops.build import CompileResult
from modelyard.ops.catalog import ShowResult
from modelyard.ops.context import Context, local_actor
from modelyard.ops.rollout import StatusResult, TargetStatus
from modelyard.perf.load import LoadProgress
from modelyard.perf.measure import PerfOptions, PerfReport
from modelyard.placement.fleet import Fleet
from modelyard.placement.solver import Placement
from modelyard.planning import DeploymentPlan
from modelyard.registry import ApplyResult
from modelyard.report.data import CatalogReport
from modelyard.report.graphs import GraphView
from modelyard.selection import CatalogView
from modelyard.store.access import AccessLog
from modelyard.store.history import DeploymentRecord
from modelyard.store.measurements import Measurement
from modelyard.store.store import AliasRecord, CatalogStore
from modelyard.triton.config import Profile
from modelyard.validation import ValidationReport

__all__ = ["CompileResult", "ShowResult", "StatusResult", "Workspace", "local_actor"]


@dataclass
class Workspace:
    """A workspace folder (optional when a database URL is given) and its catalog."""

    root: Path | None
    config: WorkspaceConfig
    db_url: str
    _store: CatalogStore | None = field(default=None, repr=False)

    @classmethod
    def init(cls, root: str | Path, db_url: str | None = None) -> Workspace:
        """Create `modelyard.yaml` (unless present) and the catalog database."""
        folder = Path(root).resolve()
        config_path = folder / CONFIG_FILE
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not config_path.exists():
                config_path.write_text(DEFAULT_CONFIG, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{folder}: cannot create the workspace ({exc.strerror})") from exc
        workspace = cls._from_folder(folder, db_url)
        workspace._store = CatalogStore.open(workspace.db_url, create=True)
        return workspace

    @classmethod
    def open(
        cls,
        root: str | Path | None = None,
        db_url: str | None = None,
        cwd: str | Path | None = None,
    ) -> Workspace:
        """Open the workspace at `root`, or the nearest one above `cwd`.

        Raises:
            NotFound: no workspace and no database URL.
        """
        if root is not None:
            folder = Path(root).resolve()
            if not (folder / CONFIG_FILE).is_file():
                raise NotFound(
                    f"{folder} is not a modelyard workspace (no {CONFIG_FILE}); "
                    "create one with `modelyard init`"
                )
            return cls._from_folder(folder, db_url)
        found = find_workspace(Path(cwd) if cwd is not None else Path.cwd())
        if found is not None:
            return cls._from_folder(found, db_url)
        if db_url:
            return cls(None, WorkspaceConfig(), db_url)
        raise NotFound(
            f"no {CONFIG_FILE} in this folder or above it; run `modelyard init`, "
            "pass --workspace DIR, or give a catalog with --db / MODELYARD_DB"
        )

    @classmethod
    def _from_folder(cls, folder: Path, db_url: str | None) -> Workspace:
        config = read_config(folder / CONFIG_FILE)
        url = db_url or config.catalog.url or f"sqlite:///{STATE_DIR}/{DEFAULT_DB_FILE}"
        return cls(folder, config, sqlite_url_relative_to(url, folder))

    @property
    def store(self) -> CatalogStore:
        if self._store is None:
            self._store = CatalogStore.open(self.db_url)
        return self._store

    @property
    def fleet(self) -> Fleet | None:
        return self.config.fleet

    @property
    def access(self) -> AccessLog:
        """API tokens and the audit log."""
        return AccessLog(self.store)

    def context(self, actor: str | None = None) -> Context:
        """The use cases' context; `actor` is who is audited (default `local:<user>`)."""
        return Context(self.store, self.config, self.root, actor or local_actor())

    def close(self) -> None:
        if self._store is not None:
            self._store.dispose()
            self._store = None

    # Catalog ----------------------------------------------------------------------

    def apply(
        self, paths: Sequence[str | Path], *, dry_run: bool = False, actor: str | None = None
    ) -> ApplyResult:
        return catalog.apply(self.context(actor), paths, dry_run=dry_run)

    def apply_text(self, text: str, *, actor: str | None = None, **options: Any) -> ApplyResult:
        """See `ops.catalog.apply_text` (source, dry_run, owner_team, base_dir, artifact_roots)."""
        return catalog.apply_text(self.context(actor), text, **options)

    def import_triton(
        self, root: str | Path, *, domain: str, owner_team: str, dry_run: bool = False
    ) -> ApplyResult:
        return catalog.import_triton(
            self.context(), root, domain=domain, owner_team=owner_team, dry_run=dry_run
        )

    @property
    def api_artifact_roots(self) -> list[Path]:
        return catalog.api_artifact_roots(self.context())

    def owner_of(self, model_id: str) -> str:
        return catalog.owner_of(self.context(), model_id)

    def list_models(self, **filters: Any) -> list[ModelSpec]:
        """See `ops.catalog.list_models` (domain, team, framework, all_versions)."""
        return catalog.list_models(self.context(), **filters)

    def show(self, reference: str) -> ShowResult:
        return catalog.show(self.context(), reference)

    def dependencies(self, reference: str) -> list[str]:
        return catalog.dependencies(self.context(), reference)

    def impact(self, reference: str) -> list[str]:
        return catalog.impact(self.context(), reference)

    def graph_view(self, reference: str | None = None, *, alias: str | None = None) -> GraphView:
        return catalog.graph_view(self.context(), reference, alias=alias)

    def set_alias(
        self,
        reference: str,
        alias: str,
        version: str,
        *,
        expect: str | None = None,
        actor: str | None = None,
    ) -> AliasRecord:
        return catalog.set_alias(self.context(actor), reference, alias, version, expect=expect)

    def aliases(self, reference: str | None = None) -> list[AliasRecord]:
        return catalog.aliases(self.context(), reference)

    # Build ------------------------------------------------------------------------

    def select(
        self, alias: str | None = None, model_ids: Sequence[str] | None = None
    ) -> CatalogView:
        return build.select_view(self.context(), alias, model_ids)

    def validate(self, **options: Any) -> ValidationReport:
        """See `ops.build.validate` (strict, alias, live, target)."""
        return build.validate(self.context(), **options)

    def plan(self, *, alias: str | None = None) -> DeploymentPlan:
        return build.plan(self.context(), alias=alias)

    def report(self, *, alias: str | None = None) -> CatalogReport:
        return build.report(self.context(), alias=alias)

    def compile(
        self,
        out: str | Path,
        *,
        profile: Profile = "production",
        alias: str | None = None,
        check: bool = False,
    ) -> CompileResult:
        return build.compile_repository(
            self.context(), out, profile=profile, alias=alias, check=check
        )

    def compile_fleet(
        self, out: str | Path, *, profile: Profile = "production", alias: str | None = None
    ) -> dict[str, CompileResult]:
        return build.compile_fleet(self.context(), out, profile=profile, alias=alias)

    def place(self, **options: Any) -> Placement:
        """See `ops.build.place` (alias, exact, time_limit_s, calibrated, target)."""
        return build.place(self.context(), **options)

    def calibration(
        self, *, alias: str | None = None, target: str | None = None
    ) -> dict[str, dict[str, Any]]:
        return build.calibration(self.context(), alias=alias, target=target)

    def latest_measurements(
        self, kind: str, specs: Iterable[ModelSpec], target: str | None = None
    ) -> dict[str, Measurement]:
        return build.latest_measurements(self.context(), kind, specs, target)

    # Rollout ----------------------------------------------------------------------

    def target(self, name: str = "local") -> TargetConfig:
        return self.context().target(name)

    def rollout_plan(self, target: str = "local", *, alias: str | None = None) -> RolloutPlan:
        return rollout.rollout_plan(self.context(), target, alias=alias)

    def deploy(
        self,
        target: str = "local",
        *,
        alias: str | None = None,
        options: DeployOptions | None = None,
        progress: Progress | None = None,
        actor: str | None = None,
    ) -> DeployResult:
        return rollout.deploy(
            self.context(actor), target, alias=alias, options=options, progress=progress
        )

    def deploy_fleet(
        self,
        *,
        alias: str | None = None,
        profile: Profile = "production",
        options: DeployOptions | None = None,
        progress: Progress | None = None,
        actor: str | None = None,
    ) -> dict[str, DeployResult]:
        return rollout.deploy_fleet(
            self.context(actor), alias=alias, profile=profile, options=options, progress=progress
        )

    def status(
        self, target: str = "local", *, alias: str | None = None, timeout_s: float = 30.0
    ) -> StatusResult:
        return rollout.status(self.context(), target, alias=alias, timeout_s=timeout_s)

    def statuses(
        self, targets: list[str], *, alias: str | None = None, timeout_s: float = 30.0
    ) -> list[TargetStatus]:
        return rollout.statuses(self.context(), targets, alias=alias, timeout_s=timeout_s)

    def undeploy(
        self,
        reference: str,
        target: str = "local",
        *,
        cascade: bool = False,
        alias: str | None = None,
        actor: str | None = None,
    ) -> list[str]:
        return rollout.undeploy(
            self.context(actor), reference, target, cascade=cascade, alias=alias
        )

    def history(self, target: str | None = None, limit: int = 50) -> list[DeploymentRecord]:
        return rollout.history(self.context(), target, limit)

    # Insight ----------------------------------------------------------------------

    def perf(
        self,
        reference: str,
        target: str = "local",
        *,
        options: PerfOptions | None = None,
        progress: LoadProgress | None = None,
    ) -> PerfReport:
        return insight.perf(self.context(), reference, target, options=options, progress=progress)

    def measurements(
        self, reference: str | None = None, *, target: str | None = None, limit: int = 50
    ) -> list[Measurement]:
        return insight.measurements(self.context(), reference, target=target, limit=limit)

    def html_report(self, out_dir: str | Path, **options: Any) -> Path:
        """See `ops.insight.html_report` (alias, repository, live_timeout_s)."""
        return insight.html_report(self.context(), out_dir, **options)
