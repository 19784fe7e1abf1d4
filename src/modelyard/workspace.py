"""A workspace: `modelyard.yaml` (catalog URL, fleet) plus the catalog it points to.

This is the Python API the CLI is a thin shell around:

    from modelyard import Workspace
    ws = Workspace.open("path/to/workspace")
    ws.apply(["models/"])
    report = ws.validate()

The database URL is chosen, first match wins: the `db_url` argument (`--db`), the
`MODELYARD_DB` environment variable (read by the CLI and passed in), `catalog.url` in
`modelyard.yaml`, and `sqlite:///<workspace>/.modelyard/catalog.db`.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelyard.catalog.manifest import (
    ManifestDocument,
    load_manifests,
    parse_manifest_text,
)
from modelyard.catalog.naming import check_name, split_model_id
from modelyard.catalog.spec import ModelSpec
from modelyard.catalog.version import Version
from modelyard.config import (
    CONFIG_FILE,
    DEFAULT_CONFIG,
    DEFAULT_DB_FILE,
    LOCAL_TARGET,
    STATE_DIR,
    TargetConfig,
    WorkspaceConfig,
    find_workspace,
    read_config,
    sqlite_url_relative_to,
)
from modelyard.deploy.plan import RolloutPlan, live_versions
from modelyard.deploy.runner import (
    DeployOptions,
    DeployResult,
    Progress,
    Rollout,
    default_actor,
)
from modelyard.errors import (
    CapacityError,
    Conflict,
    Forbidden,
    InputError,
    ModelyardError,
    NotFound,
    RolloutFailed,
    Severity,
    ValidationFailed,
)
from modelyard.fleet_detect import detect_local_server
from modelyard.graph.dag import DependencyGraph
from modelyard.graph.resolve import resolve
from modelyard.perf.findings import calibrated_demands, live_problems, measured_vs_declared
from modelyard.perf.load import LoadProgress
from modelyard.perf.measure import PerfOptions, PerfReport, PerfSubject, measure
from modelyard.placement.exact import place_exact
from modelyard.placement.fleet import Fleet
from modelyard.placement.solver import Placement, demands_from_specs, place
from modelyard.planning import DeploymentPlan, plan_deployment
from modelyard.registry import ApplyResult, apply_documents
from modelyard.report.data import CatalogReport, build_report
from modelyard.report.graphs import GraphView, neighbourhood
from modelyard.report.html import build_html_report, write_html_report
from modelyard.selection import CatalogView, load_index, select
from modelyard.store.access import AccessLog
from modelyard.store.access import record as record_audit
from modelyard.store.history import DeploymentLog, DeploymentRecord
from modelyard.store.measurements import Measurement, MeasurementLog
from modelyard.store.store import AliasRecord, CatalogStore, CatalogTransaction, StoredVersion
from modelyard.triton.client import TritonClient
from modelyard.triton.compiler import CompilePlan, plan_compile, server_share
from modelyard.triton.config import Profile
from modelyard.triton.importer import read_triton_repository
from modelyard.triton.naming import triton_name
from modelyard.triton.repository import RepositoryDiff, RepositoryWriteError, RepositoryWriter
from modelyard.validation import ValidationReport, validate_view


@dataclass
class ShowResult:
    """One model version in full: spec, other versions, aliases, resolved dependencies."""

    stored: StoredVersion
    versions: list[str]
    aliases: list[AliasRecord]
    dependencies: dict[str, str | None]
    dependents: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "ref": self.stored.spec.ref,
            "id": self.stored.spec.id,
            "spec": self.stored.spec.model_dump(mode="json"),
            "content_digest": self.stored.content_digest,
            "registered_at": self.stored.registered_at.isoformat(),
            "source": self.stored.source,
            "versions": self.versions,
            "aliases": {a.name: a.version for a in self.aliases},
            "dependencies": self.dependencies,
            "dependents": self.dependents,
        }


@dataclass
class CompileResult:
    plan: CompilePlan
    diff: RepositoryDiff
    generation: Path | None
    checked: bool = False

    @property
    def up_to_date(self) -> bool:
        return self.diff.is_empty

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.checked or self.up_to_date,
            "profile": self.plan.profile,
            "models": [m.to_dict() for m in self.plan.models.values()],
            "skipped": self.plan.skipped,
            "changes": self.diff.to_dict(),
            "up_to_date": self.up_to_date,
            "generation": str(self.generation) if self.generation else None,
        }


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

    def close(self) -> None:
        if self._store is not None:
            self._store.dispose()
            self._store = None

    # Operations -----------------------------------------------------------------

    def apply(
        self, paths: Sequence[str | Path], *, dry_run: bool = False, actor: str | None = None
    ) -> ApplyResult:
        """Register every manifest under `paths` in one transaction."""
        with paused_gc():
            return apply_documents(
                self.store, load_manifests(paths), dry_run=dry_run, audit=self._apply_audit(actor)
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
    ) -> ApplyResult:
        """Register the manifests in `text` (YAML, `---` between documents), as `apply` does.

        With `owner_team`, every document and every model it adds a version to must be
        owned by that team. A relative `artifact` is relative to `base_dir` (default: the
        current folder); with `artifact_roots` (e.g. `api_artifact_roots`), an artifact
        resolving outside them is refused before it is opened.

        Raises:
            Forbidden: a model of another team (with `owner_team`), or an artifact outside
                `artifact_roots`.
        """
        documents = parse_manifest_text(
            text, source, base_dir=base_dir, artifact_roots=artifact_roots
        )
        if not documents:
            raise InputError(f"{source}: no manifest documents (name, version, ...) in the text")
        if owner_team is not None:
            self._check_owner(documents, owner_team)
        with paused_gc():
            return apply_documents(
                self.store, documents, dry_run=dry_run, audit=self._apply_audit(actor)
            )

    @property
    def api_artifact_roots(self) -> list[Path]:
        """The folders registrations through the API may name artifacts in, resolved:
        `api.artifact_roots` of modelyard.yaml, by default the workspace folder (none
        without one)."""
        configured = self.config.api.artifact_roots
        if self.root is None:
            return []
        if configured is None:
            return [self.root.resolve()]
        return [(self.root / root).resolve() for root in configured]

    def owner_of(self, model_id: str) -> str:
        """The owner team of a model: its newest version's `owner_team`."""
        return self.store.get(model_id).spec.owner_team

    def _check_owner(self, documents: Sequence[ManifestDocument], team: str) -> None:
        for document in documents:
            if document.spec.owner_team != team:
                raise Forbidden(
                    f"{document.where}: {document.spec.ref} is owned by "
                    f"{document.spec.owner_team!r}; team {team!r} may only "
                    "register models it owns"
                )
        ids = {d.spec.id for d in documents}
        newest: dict[str, ModelSpec] = {}
        for stored in self.store.versions(ids):
            spec = stored.spec
            if spec.id not in newest or spec.parsed_version > newest[spec.id].parsed_version:
                newest[spec.id] = spec
        for model_id, spec in sorted(newest.items()):
            if spec.owner_team != team:
                raise Forbidden(
                    f"{model_id} is owned by {spec.owner_team!r}; team {team!r} "
                    "may not add versions to it"
                )

    @property
    def access(self) -> AccessLog:
        """API tokens and the audit log."""
        return AccessLog(self.store)

    def _audit(self, actor: str | None, action: str, object_: str, before: Any, after: Any) -> None:
        self.access.record(actor or local_actor(), action, object_, before, after)

    @staticmethod
    def _apply_audit(actor: str | None) -> Callable[[CatalogTransaction, ApplyResult], None]:
        """The audit entry of a registration, written in the registering transaction."""

        def write(tx: CatalogTransaction, result: ApplyResult) -> None:
            shown = result.created[:AUDIT_LIST_LIMIT]
            record_audit(
                tx,
                actor or local_actor(),
                "model.register",
                ", ".join(shown)[:200],
                None,
                {"created": shown, "created_count": len(result.created)},
            )

        return write

    def import_triton(
        self, root: str | Path, *, domain: str, owner_team: str, dry_run: bool = False
    ) -> ApplyResult:
        """Register an existing Triton repository's models (see triton/importer.py)."""
        documents = read_triton_repository(Path(root), domain=domain, owner_team=owner_team)
        with paused_gc():
            return apply_documents(
                self.store, documents, dry_run=dry_run, audit=self._apply_audit(None)
            )

    def _deployment_inputs(
        self, target: str, alias: str | None, profile: Profile | None = None
    ) -> tuple[TargetConfig, CompilePlan, dict[str, list[str]]]:
        config = self.target(target)
        if profile is not None:
            config = config.model_copy(update={"profile": profile})
        view, compiled = self._compiled(alias, config.profile, "cannot deploy")
        names = {ref: triton_name(spec) for ref, spec in view.specs.items()}
        dependencies: dict[str, list[str]] = {}
        for ref in view.specs:
            needed = dependencies.setdefault(names[ref], [])
            for dep in view.graph.dependencies(ref):
                if names[dep] != names[ref] and names[dep] not in needed:
                    needed.append(names[dep])
        return config, compiled, dependencies

    def _rollout(
        self,
        target: str,
        alias: str | None,
        options: DeployOptions | None,
        progress: Progress | None,
        actor: str | None = None,
    ) -> Rollout:
        config, compiled, dependencies = self._deployment_inputs(target, alias)
        return Rollout(
            DeploymentLog(self.store),
            target,
            config.url,
            Path(config.repository),
            compiled,
            dependencies,
            selection=f"alias {alias}" if alias else "newest",
            # The lease holder must stay unique per deployer: keep default_actor's token.
            actor=f"{actor} ({default_actor()})" if actor else None,
            options=options,
            progress=progress,
        )

    def rollout_plan(self, target: str = "local", *, alias: str | None = None) -> RolloutPlan:
        """What `deploy` would do: desired (compiled) against live (the server's index)."""
        rollout = self._rollout(target, alias, None, None)
        try:
            return rollout.plan()
        finally:
            rollout.client.close()

    def deploy(
        self,
        target: str = "local",
        *,
        alias: str | None = None,
        options: DeployOptions | None = None,
        progress: Progress | None = None,
        actor: str | None = None,
    ) -> DeployResult:
        """Roll the selection out to `target`, dependencies first, with rollback on failure."""
        selection = {"alias": alias}
        rollout = self._rollout(target, alias, options, progress, actor)
        try:
            result = rollout.run()
        except ModelyardError as exc:  # recorded in the history too; the audit says who
            failed = (
                exc.result.to_dict()
                if isinstance(exc, RolloutFailed) and isinstance(exc.result, DeployResult)
                else None
            )
            self._audit(
                actor,
                "deploy",
                f"target {target}",
                selection,
                {"ok": False, "error": exc.message, "deployment": failed},
            )
            raise
        self._audit(actor, "deploy", f"target {target}", selection, result.to_dict())
        return result

    def status(
        self, target: str = "local", *, alias: str | None = None, timeout_s: float = 30.0
    ) -> dict[str, Any]:
        """Desired (compiled selection) against live (the server's index), and drift.

        `timeout_s` bounds each read from the server (a dashboard page wants a short one).
        """
        config, compiled, _ = self._deployment_inputs(target, alias)
        with TritonClient(config.url, timeout_s=timeout_s) as client:
            live = live_versions(client.index())
        models: list[dict[str, Any]] = []
        for model in compiled.models.values():
            wanted = sorted(model.versions.values())
            serving = live.get(model.triton_name, [])
            state = (
                "serving" if serving == wanted else "missing" if not serving else "other versions"
            )
            models.append(
                {
                    "model": model.triton_name,
                    "catalog_model": model.model_id,
                    "desired_versions": wanted,
                    "live_versions": serving,
                    "state": state,
                }
            )
        desired = {m.triton_name for m in compiled.models.values()}
        models += [
            {
                "model": name,
                "catalog_model": None,
                "desired_versions": [],
                "live_versions": versions,
                "state": "not in the catalog selection",
            }
            for name, versions in sorted(live.items())
            if name not in desired
        ]
        records = self.history(target, limit=1)
        last = records[0].to_dict() if records else None
        failed = [
            a["model"] for a in (last or {}).get("actions", []) if a.get("status") == "failed"
        ]
        drift = [m for m in models if m["state"] != "serving"]
        return {
            "ok": True,
            "target": target,
            "url": config.url,
            "in_sync": not drift,
            "models": models,
            "drift": drift,
            "last_deployment": last,
            "failed_models": failed,
        }

    def undeploy(
        self,
        reference: str,
        target: str = "local",
        *,
        cascade: bool = False,
        alias: str | None = None,
        actor: str | None = None,
    ) -> list[str]:
        """Unload a model from `target`; refused while live models need it, unless `cascade`
        (then they go first). Returns the Triton names unloaded, in order."""
        model_id, _ = parse_reference(reference)
        config, compiled, dependencies = self._deployment_inputs(target, alias)
        compiled_model = compiled.models.get(model_id)
        if compiled_model is None:
            raise NotFound(f"{model_id} is not in the compiled selection for {target!r}")
        name = compiled_model.triton_name
        log = DeploymentLog(self.store)
        actor = default_actor()
        log.acquire_lease(target, actor, DeployOptions().lease_ttl_s)
        try:
            with TritonClient(config.url) as client:
                live = live_versions(client.index())
                if name not in live:
                    raise NotFound(f"{name} is not loaded on {target!r}")
                needing = _transitive_dependents(name, dependencies, set(live))
                if needing and not cascade:
                    raise Conflict(
                        f"{', '.join(needing)} on {target!r} need {name}; undeploy them "
                        "first or pass --cascade to unload them too"
                    )
                order = [*needing, name]
                record = log.start(target, actor, f"undeploy {model_id}")
                for each in order:
                    client.unload(each)
                log.finish(
                    record,
                    "succeeded",
                    [{"model": m, "action": "unload", "status": "done"} for m in order],
                )
                self._audit(
                    actor,
                    "undeploy",
                    f"target {target}",
                    {"live": sorted(live)},
                    {"unloaded": order},
                )
                return order
        finally:
            log.release_lease(target, actor)

    def deploy_fleet(
        self,
        *,
        alias: str | None = None,
        profile: Profile = "production",
        options: DeployOptions | None = None,
        progress: Progress | None = None,
    ) -> dict[str, DeployResult]:
        """Place the selection on the fleet and roll each server's share out to it.

        Each server is its own target (named after it, with its own lease and history):
        its `url` and `repository` in modelyard.yaml say where. Servers go one after the
        other; the first failure stops the rest (that server is rolled back).
        """
        if self.fleet is None or not self.fleet.servers:
            raise InputError("deploy --fleet needs a fleet in modelyard.yaml")
        missing = [s.name for s in self.fleet.servers if not s.url or not s.repository]
        if missing:
            raise InputError(
                f"fleet servers {', '.join(missing)} need `url` and `repository` "
                "in modelyard.yaml to be deployed to"
            )
        _, compiled, dependencies = self._deployment_inputs("local", alias, profile=profile)
        placement = self._feasible_placement(alias, "nothing was deployed")
        results: dict[str, DeployResult] = {}
        for server in self.fleet.servers:
            assert server.url is not None and server.repository is not None
            share = server_share(compiled, placement, server.name, profile)
            repository = Path(server.repository)
            if not repository.is_absolute() and self.root is not None:
                repository = self.root / repository
            rollout = Rollout(
                DeploymentLog(self.store),
                server.name,
                server.url,
                repository,
                share,
                dependencies,
                selection=f"fleet, alias {alias}" if alias else "fleet, newest",
                options=options,
                progress=progress,
            )
            try:
                results[server.name] = rollout.run()
            except ModelyardError as exc:
                self._audit(
                    None,
                    "deploy",
                    f"target {server.name}",
                    {"alias": alias, "fleet": True},
                    {"ok": False, "error": exc.message},
                )
                raise
            self._audit(
                None,
                "deploy",
                f"target {server.name}",
                {"alias": alias, "fleet": True},
                results[server.name].to_dict(),
            )
        return results

    def history(self, target: str | None = None, limit: int = 50) -> list[DeploymentRecord]:
        return DeploymentLog(self.store).history(target, limit)

    def compile_fleet(
        self, out: str | Path, *, profile: Profile = "production", alias: str | None = None
    ) -> dict[str, CompileResult]:
        """One repository per fleet server, `out/<server>/`, holding what placement put
        there, with instance groups on the GPUs it chose.

        Raises:
            CapacityError: some replica does not fit the fleet (nothing is written).
        """
        placement = self._feasible_placement(alias, "nothing was written")
        _, plan = self._compiled(alias, profile, "cannot compile")
        assert self.fleet is not None  # _feasible_placement refuses a workspace without one
        results: dict[str, CompileResult] = {}
        for server in self.fleet.servers:
            share = server_share(plan, placement, server.name, profile)
            writer = RepositoryWriter(Path(out) / server.name)
            try:
                diff, generation = writer.write(share.files)
            except RepositoryWriteError as exc:
                raise InputError(str(exc)) from exc
            results[server.name] = CompileResult(share, diff, generation)
        return results

    def _compiled(
        self, alias: str | None, profile: Profile, headline: str
    ) -> tuple[CatalogView, CompilePlan]:
        """The selection and its compiled repository; ValidationFailed if either is invalid."""
        with paused_gc():
            view = self.select(alias)
        problems = view.problems()
        if problems:
            raise ValidationFailed.from_problems(problems, headline)
        plan = plan_compile(view.specs, view.triton_versions, view.resolution.resolved, profile)
        if plan.problems:
            raise ValidationFailed.from_problems(plan.problems, f"{headline}; nothing was written")
        return view, plan

    def _feasible_placement(self, alias: str | None, consequence: str) -> Placement:
        """`place`'s placement (the one `modelyard place` shows), or CapacityError."""
        if self.fleet is None or not self.fleet.servers:
            raise InputError(
                "this needs a fleet: declare `fleet: {servers: [...]}` in modelyard.yaml"
            )
        placement = self.place(alias=alias)
        if not placement.feasible:
            raise CapacityError(
                f"the fleet cannot hold the selection; {consequence}:\n  "
                + "\n  ".join(str(s) for s in placement.unplaced)
            )
        return placement

    def place(
        self,
        *,
        alias: str | None = None,
        exact: bool | None = None,
        time_limit_s: float = 10.0,
        calibrated: bool = False,
        target: str | None = None,
    ) -> Placement:
        """Assign every replica of the selection to a server and GPU of the declared fleet.

        `exact` solves the placement as a MIP (HiGHS) within `time_limit_s`; by default it
        does so for small selections (up to EXACT_AUTO_REPLICAS replicas) and uses
        first-fit-decreasing above. When the MIP finds nothing, first-fit runs to say what
        does not fit and why. `calibrated` plans with the latest measured memory per
        instance (from `modelyard perf`, on `target` or any) where there is one.
        """
        if self.fleet is None or not self.fleet.servers:
            raise InputError(
                "placement needs a fleet: declare `fleet: {servers: [...]}` in modelyard.yaml"
            )
        with paused_gc():
            view = self.select(alias)
        demands = demands_from_specs(view.specs)
        if calibrated:
            demands, _ = calibrated_demands(
                demands, self.latest_measurements("memory", view.specs.values(), target)
            )
        if exact is None:
            exact = sum(d.replicas for d in demands) <= EXACT_AUTO_REPLICAS and _has_highs()
        if exact:
            result = place_exact(demands, self.fleet, time_limit_s=time_limit_s)
            if result.placement is not None:
                return result.placement
        return place(demands, self.fleet)

    def target(self, name: str = "local") -> TargetConfig:
        """A deployment target by name; `local` is the server `modelyard serve` starts."""
        target = self.config.targets.get(name)
        if target is None and name == "local":
            target = LOCAL_TARGET
        if target is None:
            known = ", ".join(sorted({"local", *self.config.targets}))
            raise NotFound(f"no target {name!r} in modelyard.yaml (known: {known})")
        repository = Path(target.repository)
        if not repository.is_absolute():
            if self.root is None:
                raise InputError(f"target {name!r}: a relative repository path needs a workspace")
            repository = self.root / repository
        return target.model_copy(update={"repository": str(repository)})

    def select(
        self, alias: str | None = None, model_ids: Sequence[str] | None = None
    ) -> CatalogView:
        return select(self.store, alias=alias, model_ids=model_ids)

    def validate(
        self,
        *,
        strict: bool = False,
        alias: str | None = None,
        live: bool = False,
        target: str | None = None,
    ) -> ValidationReport:
        """Every cross-model check; with `live`, also what the latest measurements of the
        selected versions say (on `target`, or on any target): SLA misses, measured chains
        over a dependent's budget, memory above the declaration."""
        local = None
        if self.fleet is None or not self.fleet.servers:
            local, _ = detect_local_server()  # no fleet declared: compare with this machine
        if target is not None:
            self.target(target)  # NotFound for a target the workspace does not name
        with paused_gc():
            view = self.select(alias)
            report = validate_view(view, self.fleet, strict=strict, local=local)
        if not live:
            return report
        problems = live_problems(
            view,
            self.latest_measurements("perf", view.specs.values(), target),
            self.latest_measurements("memory", view.specs.values(), target),
            target,
        )
        if strict:
            problems = [
                dataclasses.replace(p, severity=Severity.ERROR)
                if p.severity is Severity.WARNING
                else p
                for p in problems
            ]
        order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
        merged = sorted(
            report.problems + problems, key=lambda p: (order[p.severity], p.code, p.model or "")
        )
        return dataclasses.replace(report, problems=merged)

    def perf(
        self,
        reference: str,
        target: str = "local",
        *,
        options: PerfOptions | None = None,
        progress: LoadProgress | None = None,
    ) -> PerfReport:
        """Measure a served model version on `target` (a target of modelyard.yaml, or
        `local`) and keep the result (perf, and memory where measured) in the catalog.

        Without a version in `reference`, the newest version the target serves is measured.

        Raises:
            NotFound: unknown model, version or target.
            TritonError: the server does not answer or does not serve the version.
        """
        model_id, version = parse_reference(reference)
        config = self.target(target)
        stored = self._served_version(model_id, version, config.url)
        spec = stored.spec
        subject = PerfSubject(
            target=target,
            url=config.url,
            repository=Path(config.repository),
            model_id=model_id,
            version=spec.version,
            triton_name=triton_name(spec),
            triton_version=stored.triton_version,
            sla=spec.sla_requirements,
            resources=spec.resource_requirements,
            examples={t.name: list(t.example) for t in spec.inputs if t.example is not None},
            metrics_url=config.metrics_url,
        )
        report = measure(
            subject, options or PerfOptions(), measured_at=datetime.now(UTC), progress=progress
        )
        log = MeasurementLog(self.store)
        log.record(
            model_id, spec.version, target, "perf", report.perf_summary(), report.measured_at
        )
        if report.memory is not None:
            log.record(
                model_id,
                spec.version,
                target,
                "memory",
                report.memory.to_dict(),
                report.measured_at,
            )
        return report

    def _served_version(self, model_id: str, version: str | None, url: str) -> StoredVersion:
        if version is not None:
            return self.store.get(model_id, version)
        stored = self.store.versions([model_id])
        if not stored:
            self.store.get(model_id)  # raises NotFound naming the model
        with TritonClient(url) as client:
            live = live_versions(client.index())
        served = [v for v in stored if v.triton_version in live.get(triton_name(v.spec), [])]
        # Nothing served: the newest, and `measure` says it is not READY.
        return max(served or stored, key=lambda v: v.spec.parsed_version)

    def calibration(
        self, *, alias: str | None = None, target: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """What `place(calibrated=True)` changes: per model version, each resource's
        declared and measured figure, and where it was measured."""
        with paused_gc():
            view = self.select(alias)
        _, changes = calibrated_demands(
            demands_from_specs(view.specs),
            self.latest_measurements("memory", view.specs.values(), target),
        )
        return changes

    def latest_measurements(
        self, kind: str, specs: Iterable[ModelSpec], target: str | None = None
    ) -> dict[str, Measurement]:
        """`domain/name@version` -> the newest `kind` ("perf" | "memory") measurement of
        each of these versions, on `target` or on any target."""
        if kind not in ("perf", "memory"):
            raise InputError(f"measurement kind {kind!r}: expected perf or memory")
        return MeasurementLog(self.store).latest(
            "perf" if kind == "perf" else "memory",
            [(spec.id, spec.version) for spec in specs],
            target,
        )

    def measurements(
        self, reference: str | None = None, *, target: str | None = None, limit: int = 50
    ) -> list[Measurement]:
        """Recorded measurements, newest first (of one model, or all)."""
        model_id = parse_reference(reference)[0] if reference else None
        return MeasurementLog(self.store).history(model_id, target=target, limit=limit)

    def plan(self, *, alias: str | None = None) -> DeploymentPlan:
        with paused_gc():
            return plan_deployment(select(self.store, alias=alias, with_specs=False))

    def report(self, *, alias: str | None = None) -> CatalogReport:
        with paused_gc():
            return build_report(self.select(alias).specs.values(), self.fleet)

    def compile(
        self,
        out: str | Path,
        *,
        profile: Profile = "production",
        alias: str | None = None,
        check: bool = False,
    ) -> CompileResult:
        """Compile the selection into a Triton repository at `out` (atomically).

        With `check`, write nothing and report how `out` differs from a fresh compile.

        Raises:
            ValidationFailed: the selection or a config is invalid; nothing was written.
            InputError: `out` cannot be written; the previous repository is unchanged.
        """
        _, plan = self._compiled(alias, profile, "cannot compile")
        writer = RepositoryWriter(Path(out))
        try:
            if check:
                return CompileResult(plan, writer.diff(plan.files), writer.current(), checked=True)
            diff, generation = writer.write(plan.files)
        except RepositoryWriteError as exc:
            raise InputError(str(exc)) from exc
        return CompileResult(plan, diff, generation)

    def html_report(
        self,
        out_dir: str | Path,
        *,
        alias: str | None = None,
        repository: str | Path | None = None,
        live_timeout_s: float = 30.0,
    ) -> Path:
        """Write the HTML report to `out_dir/index.html`; returns its path.

        `live_timeout_s` bounds each read of a target's live status.
        """
        with paused_gc():
            view = self.select(alias)
            validation = validate_view(view, self.fleet)
            placement = (
                place(demands_from_specs(view.specs), self.fleet)
                if self.fleet is not None and self.fleet.servers
                else None
            )
        history = self.history(limit=50)
        measured = measured_vs_declared(
            view.specs,
            self.latest_measurements("perf", view.specs.values()),
            self.latest_measurements("memory", view.specs.values()),
        )
        page = build_html_report(
            view,
            self.fleet,
            validation,
            generated_at=datetime.now(UTC),
            repository=Path(repository) if repository else None,
            history=history,
            placement=placement,
            measured=measured,
            live=self._live_statuses(sorted({r.target for r in history}), alias, live_timeout_s),
        )
        return write_html_report(page, Path(out_dir))

    def _live_statuses(
        self, targets: Sequence[str], alias: str | None, timeout_s: float = 30.0
    ) -> list[dict[str, Any]]:
        """`status` of each target deployed to, or why it could not be read (never fails)."""
        statuses = []
        for name in targets:
            try:
                statuses.append(self.status(name, alias=alias, timeout_s=timeout_s))
            except ModelyardError as exc:
                statuses.append({"target": name, "error": exc.message, "models": []})
        return statuses

    def graph_view(self, reference: str | None = None, *, alias: str | None = None) -> GraphView:
        """The whole selection's graph, or one model's neighbourhood."""
        view = self.select(alias)
        if reference is None:
            return GraphView.of(view.graph, view.specs)
        model_id, version = parse_reference(reference)
        refs = [
            r
            for r in view.specs
            if r.rsplit("@", 1)[0] == model_id
            and (version is None or Version.parse(r.rsplit("@", 1)[1]) == Version.parse(version))
        ]
        if not refs:
            raise NotFound(
                f"{reference} is not in this selection; `modelyard list` shows the catalog"
            )
        nodes = {n for ref in refs for n in neighbourhood(view.graph, ref)}
        return GraphView.of(view.graph, view.specs, nodes)

    def list_models(
        self,
        *,
        domain: str | None = None,
        team: str | None = None,
        framework: str | None = None,
        all_versions: bool = False,
    ) -> list[ModelSpec]:
        """Registered models (the newest version of each, or every version)."""
        specs = [v.spec for v in self.store.versions()]
        if not all_versions:
            newest: dict[str, ModelSpec] = {}
            for spec in specs:
                if spec.id not in newest or spec.parsed_version > newest[spec.id].parsed_version:
                    newest[spec.id] = spec
            specs = list(newest.values())
        return [
            s
            for s in specs
            if (domain is None or s.domain == domain)
            and (team is None or s.owner_team == team)
            and (framework is None or s.framework == framework)
        ]

    def show(self, reference: str) -> ShowResult:
        """`domain/name` (newest version) or `domain/name@version`."""
        model_id, version = parse_reference(reference)
        stored = self.store.get(model_id, version)
        spec = stored.spec
        with self.store.reader() as tx:
            index = load_index(tx)
            versions = [str(e.version) for e in reversed(index.by_model[model_id])]
            aliases = tx.aliases(model_id)
        resolution = resolve(index, [spec.ref])
        dependencies = {
            str(d): resolution.resolved.get((spec.ref, d.model_id))
            for d in spec.parsed_dependencies
        }
        dependents = self.impact(spec.ref)
        return ShowResult(stored, versions, aliases, dependencies, dependents)

    def dependencies(self, reference: str) -> list[str]:
        """Every version `reference` needs, each once, dependencies first."""
        view = self._view_of(reference)
        return view.graph.transitive_dependencies(view.roots[0])

    def impact(self, reference: str) -> list[str]:
        """Every registered version that needs `reference` (directly or not), nearest first.

        All versions count, not only the newest: an older ranker that `production` still
        points at breaks as surely as the newest one.
        """
        model_id, version = parse_reference(reference)
        with self.store.reader() as tx:
            index = load_index(tx)
        entries = index.by_model.get(model_id, [])
        targets = [e.ref for e in entries if version is None or e.version == Version.parse(version)]
        if not targets:
            self.store.get(model_id, version)  # raises NotFound naming what is missing
        graph = resolve(index).graph
        seen: dict[str, None] = {}
        for target in targets:
            for ref in graph.transitive_dependents(target):
                if ref.rsplit("@", 1)[0] != model_id:
                    seen[ref] = None
        return list(seen)

    def _view_of(self, reference: str) -> CatalogView:
        model_id, version = parse_reference(reference)
        if version is None:
            return self.select(model_ids=[model_id])
        stored = self.store.get(model_id, version)
        with self.store.reader() as tx:
            index = load_index(tx)
        resolution = resolve(index, [stored.spec.ref])
        return CatalogView([stored.spec.ref], {stored.spec.ref: stored.spec}, resolution, index)

    def set_alias(
        self,
        reference: str,
        alias: str,
        version: str,
        *,
        expect: str | None = None,
        actor: str | None = None,
    ) -> AliasRecord:
        """Move alias `alias` of a model to `version`; `expect` makes it compare-and-set
        (`expect="none"` means the alias must not exist yet)."""
        model_id, _ = parse_reference(reference)
        _check_alias_name(alias)
        _check_version(version, "VERSION")
        if expect is not None and expect.lower() != "none":
            _check_version(expect, "--expect")
        # The move and its audit entry commit together.
        with self.store.transaction() as tx:
            before = next(
                (
                    {"version": a.version, "revision": a.revision}
                    for a in tx.aliases(model_id)
                    if a.name == alias
                ),
                None,
            )
            record = tx.set_alias(
                model_id,
                alias,
                version,
                expect=None if expect is None or expect.lower() == "none" else expect,
                expect_absent=expect is not None and expect.lower() == "none",
            )
            record_audit(
                tx,
                actor or local_actor(),
                "alias.set",
                f"{record.model_id} alias {record.name}",
                before,
                {"version": record.version, "revision": record.revision},
            )
        return record

    def aliases(self, reference: str | None = None) -> list[AliasRecord]:
        model_id = parse_reference(reference)[0] if reference else None
        if model_id is not None:
            self.store.get(model_id)
        return self.store.aliases(model_id)


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


EXACT_AUTO_REPLICAS = 40
# An audit entry lists at most this many created versions (and counts them all).
AUDIT_LIST_LIMIT = 100


def local_actor() -> str:
    """Who a change made outside the API (CLI, Python) is recorded as: `local:<user>`."""
    import getpass

    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):
        return "local:unknown"


def _has_highs() -> bool:
    import importlib.util

    return importlib.util.find_spec("highspy") is not None


def _transitive_dependents(
    name: str, dependencies: dict[str, list[str]], live: set[str]
) -> list[str]:
    """Live models that need `name`, directly or not, dependents before what they need."""
    graph: DependencyGraph[str] = DependencyGraph(dependencies)
    if name not in graph.nodes:
        return []
    found = [n for n in graph.transitive_dependents(name) if n in live]
    return list(reversed(found))


def parse_reference(reference: str) -> tuple[str, str | None]:
    """`domain/name[@version]` -> (model id, version or None); InputError if malformed."""
    model_id, _, version = reference.partition("@")
    try:
        split_model_id(model_id)
    except ValueError as exc:
        raise InputError(f"{reference}: {exc}") from None
    if version:
        _check_version(version, reference)
    return model_id, version or None


def _check_version(version: str, where: str) -> None:
    try:
        Version.parse(version)
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None


def _check_alias_name(alias: str) -> None:
    try:
        check_name(alias, "alias")
    except ValueError as exc:
        raise InputError(str(exc)) from None
