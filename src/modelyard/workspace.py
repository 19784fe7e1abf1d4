"""A workspace: `modelyard.yaml` (catalog URL, fleet, targets) plus the catalog it points to.

This is the Python API the CLI and the REST API are thin shells around:

    from modelyard import Workspace
    ws = Workspace.open("path/to/workspace")
    ws.apply(["models/"])
    report = ws.validate()

Every method forwards to one use case in `modelyard.ops`, over a `Context` that names who
acts (`actor`, default `local:<user>`); most are `_forward(op)`, which keeps the operation's
signature and docstring. How the folder and the catalog URL are
found is `config.locate_workspace`'s docstring.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast

from modelyard.config import (
    TargetConfig,
    WorkspaceConfig,
    create_workspace_folder,
    locate_workspace,
)
from modelyard.lazy import lazy_exports
from modelyard.ops.context import Context, local_actor, resolve_target
from modelyard.store.access import AccessLog
from modelyard.store.store import AliasRecord, CatalogStore

if TYPE_CHECKING:
    from modelyard.deploy.runner import DeployOptions, DeployResult, Progress
    from modelyard.ops import (
        build,
        canary,
        catalog,
        insight,
        kube,
        mlflow,
        outcomes,
        regions,
        rollout,
        serving,
        storage,
        traffic,
    )
    from modelyard.ops.build import CompileResult
    from modelyard.ops.catalog import ShowResult, StatusChange
    from modelyard.ops.outcomes import FeedbackResult
    from modelyard.ops.regions import RegionDeployResult
    from modelyard.ops.rollout import StatusResult
    from modelyard.placement.fleet import Fleet
    from modelyard.registry import ApplyResult
    from modelyard.triton.config import Profile

__all__ = ["CompileResult", "ShowResult", "StatusResult", "Workspace", "local_actor"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "CompileResult": "modelyard.ops.build",
        "ShowResult": "modelyard.ops.catalog",
        "StatusResult": "modelyard.ops.rollout",
    },
)


class _DeferredOperation:
    """An operation of an ops module not imported yet: `modelyard list` needs one
    module of the twelve, and importing them all took 0.4 s of its 1.2 s."""

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name

    def resolve(self) -> Callable[..., Any]:
        return cast(Callable[..., Any], getattr(importlib.import_module(self.module), self.name))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)


class _DeferredModule:
    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str) -> _DeferredOperation:
        return _DeferredOperation(self._module, name)


if not TYPE_CHECKING:
    globals().update(
        {
            name: _DeferredModule(f"modelyard.ops.{name}")
            for name in (
                "build",
                "canary",
                "catalog",
                "insight",
                "kube",
                "mlflow",
                "outcomes",
                "regions",
                "rollout",
                "serving",
                "storage",
                "traffic",
            )
        }
    )


P = ParamSpec("P")
R = TypeVar("R")


def _forward(
    operation: Callable[Concatenate[Context, P], R],
) -> Callable[Concatenate[Workspace, P], R]:
    """A `Workspace` method that runs `operation` over the workspace's context, with the
    operation's own signature (after the context) and docstring."""

    if isinstance(operation, _DeferredOperation):
        return cast("Callable[Concatenate[Workspace, P], R]", _ForwardOnFirstUse(operation))

    def method(self: Workspace, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return operation(self.context(), *args, **kwargs)

    functools.update_wrapper(method, operation)
    return method


class _ForwardOnFirstUse:
    """`_forward` of an operation whose module is imported on the method's first use;
    the method then replaces this on the class, with the operation's signature and
    docstring as `_forward` gives them."""

    def __init__(self, operation: _DeferredOperation) -> None:
        self._operation = operation
        self._name = operation.name

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, instance: object, owner: type) -> Any:
        method = _forward(self._operation.resolve())
        setattr(owner, self._name, method)
        return method if instance is None else method.__get__(instance, owner)


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
        workspace = cls(*locate_workspace(create_workspace_folder(root), db_url))
        workspace._store = CatalogStore.open(workspace.db_url, create=True)
        return workspace

    @classmethod
    def open(
        cls,
        root: str | Path | None = None,
        db_url: str | None = None,
        cwd: str | Path | None = None,
    ) -> Workspace:
        """Open the workspace at `root`, or the nearest one above `cwd` (see
        `config.locate_workspace`)."""
        return cls(*locate_workspace(root, db_url, cwd))

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
        self,
        paths: Sequence[str | Path],
        *,
        dry_run: bool = False,
        transfer_owner: bool = False,
        actor: str | None = None,
    ) -> ApplyResult:
        return catalog.apply(
            self.context(actor), paths, dry_run=dry_run, transfer_owner=transfer_owner
        )

    def apply_text(
        self,
        text: str,
        *,
        source: str = "<api>",
        dry_run: bool = False,
        actor: str | None = None,
        owner_team: str | None = None,
        base_dir: Path | None = None,
        artifact_roots: Sequence[Path] | None = None,
        transfer_owner: bool = False,
    ) -> ApplyResult:
        return catalog.apply_text(
            self.context(actor),
            text,
            source=source,
            dry_run=dry_run,
            owner_team=owner_team,
            base_dir=base_dir,
            artifact_roots=artifact_roots,
            transfer_owner=transfer_owner,
        )

    def apply_texts(
        self,
        files: Sequence[tuple[str, str]],
        *,
        dry_run: bool = False,
        actor: str | None = None,
        owner_team: str | None = None,
        base_dir: Path | None = None,
        artifact_roots: Sequence[Path] | None = None,
        transfer_owner: bool = False,
    ) -> ApplyResult:
        return catalog.apply_texts(
            self.context(actor),
            files,
            dry_run=dry_run,
            owner_team=owner_team,
            base_dir=base_dir,
            artifact_roots=artifact_roots,
            transfer_owner=transfer_owner,
        )

    def set_alias(
        self,
        reference: str,
        alias: str,
        version: str,
        *,
        expect: str | None = None,
        expect_revision: int | None = None,
        actor: str | None = None,
    ) -> AliasRecord:
        return catalog.set_alias(
            self.context(actor),
            reference,
            alias,
            version,
            expect=expect,
            expect_revision=expect_revision,
        )

    def set_aliases(
        self, moves: Sequence[catalog.AliasMove], *, actor: str | None = None
    ) -> list[AliasRecord]:
        return catalog.set_aliases(self.context(actor), moves)

    def yank(
        self, reference: str, reason: str, *, force: bool = False, actor: str | None = None
    ) -> StatusChange:
        return catalog.yank(self.context(actor), reference, reason, force=force)

    def unyank(self, reference: str, *, actor: str | None = None) -> StatusChange:
        return catalog.unyank(self.context(actor), reference)

    def deprecate(self, reference: str, reason: str, *, actor: str | None = None) -> StatusChange:
        return catalog.deprecate(self.context(actor), reference, reason)

    def undeprecate(self, reference: str, *, actor: str | None = None) -> StatusChange:
        return catalog.undeprecate(self.context(actor), reference)

    def record_feedback(
        self, request_id: str, value: float, *, target: str = "local", actor: str | None = None
    ) -> FeedbackResult:
        return outcomes.record_feedback(self.context(actor), request_id, value, target=target)

    @property
    def api_artifact_roots(self) -> list[Path]:
        return catalog.api_artifact_roots(self.context())

    import_triton = _forward(catalog.import_triton)
    import_mlflow = _forward(mlflow.import_mlflow)
    owner_of = _forward(catalog.owner_of)
    owners_of = _forward(catalog.owners_of)
    list_models = _forward(catalog.list_models)
    version_statuses = _forward(catalog.version_statuses)
    show = _forward(catalog.show)
    dependencies = _forward(catalog.dependencies)
    impact = _forward(catalog.impact)
    graph_view = _forward(catalog.graph_view)
    explore_graph = _forward(catalog.explore_graph)
    aliases = _forward(catalog.aliases)

    # Build ------------------------------------------------------------------------

    select = _forward(build.select_view)
    validate = _forward(build.validate)
    plan = _forward(build.plan)
    report = _forward(build.report)
    compile = _forward(build.compile_repository)
    compile_fleet = _forward(build.compile_fleet)
    compile_target_repository = _forward(rollout.compile_target_repository)
    place = _forward(build.place)
    calibration = _forward(build.calibration)
    latest_measurements = _forward(build.latest_measurements)
    export_kubernetes = _forward(kube.export_kubernetes)
    push = _forward(storage.push)

    # Rollout ----------------------------------------------------------------------

    def deploy(
        self,
        target: str = "local",
        *,
        alias: str | None = None,
        refs: Sequence[str] | None = None,
        expect_digest: str | None = None,
        options: DeployOptions | None = None,
        progress: Progress | None = None,
        actor: str | None = None,
    ) -> DeployResult:
        return rollout.deploy(
            self.context(actor),
            target,
            alias=alias,
            refs=refs,
            expect_digest=expect_digest,
            options=options,
            progress=progress,
        )

    def deploy_region(
        self,
        region: str,
        *,
        alias: str | None = None,
        refs: Sequence[str] | None = None,
        expect_digests: Mapping[str, str] | None = None,
        options: DeployOptions | None = None,
        progress: Progress | None = None,
        actor: str | None = None,
    ) -> RegionDeployResult:
        return regions.deploy_region(
            self.context(actor),
            region,
            alias=alias,
            refs=refs,
            expect_digests=expect_digests,
            options=options,
            progress=progress,
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

    def target(self, name: str = "local") -> TargetConfig:
        # Configuration only: no reason to open the catalog for it.
        return resolve_target(self.config, self.root, name)

    rollout_plan = _forward(rollout.rollout_plan)
    confirm_plan = _forward(rollout.confirm_plan)
    team_deploy_refs = _forward(rollout.team_deploy_refs)
    export_script = _forward(rollout.export_script)
    status = _forward(rollout.status)
    statuses = _forward(rollout.statuses)
    region_targets = _forward(regions.region_targets)
    regions_status = _forward(regions.regions_status)
    history = _forward(rollout.history)

    # Insight ----------------------------------------------------------------------

    perf = _forward(insight.perf)
    measurements = _forward(insight.measurements)
    html_report = _forward(insight.html_report)
    html_report_page = _forward(insight.html_report_page)
    serve_locally = _forward(serving.serve_locally)

    # Traffic ----------------------------------------------------------------------

    start_gateway = _forward(traffic.start_gateway)
    stop_gateway = _forward(traffic.stop_gateway)
    restart_gateway = _forward(traffic.restart_gateway)
    gateway_status = _forward(traffic.gateway_status)
    start_metrics = _forward(canary.start_metrics)
    stop_metrics = _forward(canary.stop_metrics)
    metrics_status = _forward(canary.metrics_status)
    rollout_canary = _forward(canary.rollout_canary)
    rollout_status = _forward(canary.rollout_status)
    abort_rollout = _forward(canary.abort_rollout)
    start_experiment = _forward(traffic.start_experiment)
    set_weights = _forward(traffic.set_weights)
    stop_experiment = _forward(traffic.stop_experiment)
    experiment_status = _forward(traffic.experiment_status)
    switch = _forward(traffic.switch)
    request_origin = _forward(outcomes.request_origin)
    experiment_report = _forward(outcomes.experiment_report)
