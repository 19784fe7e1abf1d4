"""Build use cases: select -> validate -> compile -> place, each once per operation.

A `Build` is one selection of the catalog with its compiled repositories, computed on
first use and kept for the rest of the operation: `status` of three targets and the HTML
report read one selection and compile it once per profile, not once per question.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelyard.catalog.artifact_hashes import HASHES_FILE, ArtifactHashes
from modelyard.catalog.cache_files import load_json_object, save_json_object
from modelyard.catalog.manifest import ArtifactUnreadable
from modelyard.catalog.ref import ModelRef, model_id_of
from modelyard.catalog.spec import ModelSpec
from modelyard.deploy.plan import keeping_others
from modelyard.errors import (
    CapacityError,
    InputError,
    ModelsBlocked,
    Problem,
    Severity,
    ValidationFailed,
)
from modelyard.fleet_detect import detect_local_server
from modelyard.graph.resolve import resolve
from modelyard.ops.context import Context, paused_gc
from modelyard.perf.findings import calibrated_demands, live_problems
from modelyard.placement.exact import place_exact
from modelyard.placement.fleet import Server
from modelyard.placement.solver import Placement, demands_from_specs
from modelyard.placement.solver import place as first_fit
from modelyard.planning import DeploymentPlan, plan_deployment
from modelyard.report.data import CatalogReport, build_report
from modelyard.s3.artifacts import remote_artifacts
from modelyard.s3.store import is_s3_url
from modelyard.selection import CatalogView, select
from modelyard.store.experiments import ExperimentLog
from modelyard.store.measurements import Measurement, MeasurementLog
from modelyard.store.store import CatalogStore
from modelyard.traffic.dependents import ensemble_users
from modelyard.triton.compile_memo import MEMO_FILE, CompileMemo
from modelyard.triton.compiler import CompilePlan, ensemble_variant, plan_compile, server_share
from modelyard.triton.config import Profile
from modelyard.triton.config_digests import ConfigDigests
from modelyard.triton.naming import triton_name, variant_name
from modelyard.triton.repository import RepositoryDiff, RepositoryWriteError, RepositoryWriter
from modelyard.validation import ValidationReport, validate_view

# Config text digests by binary form (triton/config_digests.py), in the workspace's state.
CONFIG_DIGESTS = Path(".modelyard") / "cache" / "config-digests.json"
# Artifact digests by file stat (catalog/artifact_hashes.py), in the workspace's state.
# Up to this many replicas, `place` solves exactly (HiGHS) unless told otherwise.
EXACT_AUTO_REPLICAS = 40


class CompiledModelSummary(BaseModel):
    """One compiled model: its Triton name, catalog model, version folders and backend."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    triton_name: str
    model: str
    versions: dict[str, int]  # catalog version -> Triton version folder
    backend: str


class CompileResult(BaseModel):
    """What a compile wrote (or, with `check`, would change) and what it skipped, why."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    ok: bool
    profile: Profile
    models: list[CompiledModelSummary]
    skipped: dict[str, str]
    # ref -> why: left out (artifact missing, changed or unreadable), kept as they were.
    blocked: dict[str, str] = Field(default_factory=dict)
    changes: RepositoryDiff
    up_to_date: bool
    generation: str | None
    # The compiled repository itself (configs, files), for callers that go on with it.
    plan: CompilePlan = Field(exclude=True)
    checked: bool = Field(default=False, exclude=True)  # `--check`: nothing was written

    @classmethod
    def of(
        cls, plan: CompilePlan, diff: RepositoryDiff, generation: Path | None, *, checked: bool
    ) -> CompileResult:
        return cls(
            ok=not plan.blocked and (not checked or diff.is_empty),
            profile=plan.profile,
            models=[
                CompiledModelSummary(
                    triton_name=m.triton_name,
                    model=m.model_id,
                    versions=m.versions,
                    backend=m.config.backend or m.config.platform,
                )
                for m in plan.models.values()
            ],
            skipped=plan.skipped,
            blocked={b.ref: b.reason for b in plan.blocked.values()},
            changes=diff,
            up_to_date=diff.is_empty,
            generation=str(generation) if generation else None,
            plan=plan,
            checked=checked,
        )

    @property
    def diff(self) -> RepositoryDiff:
        return self.changes


@dataclass
class Build:
    """One selection (newest, or an alias's versions) and what is derived from it.

    `refs` narrows the selection to the named versions and what they need (a targeted
    deploy); a model outside it is not read, validated or compiled.
    """

    ctx: Context
    alias: str | None = None
    refs: tuple[ModelRef, ...] | None = None
    # Versions served beside the selection: the arms of an experiment being started. The
    # versions the catalog's experiments route to are always added (see `with_routed`).
    extra_refs: tuple[str, ...] = ()
    # An experiment about to start: (model id, its arms' versions, baseline first). Its
    # ensembles are compiled as if it ran (pinned baseline, variants), so that they are
    # loaded and verified before any request is routed to them.
    starting: tuple[str, tuple[str, ...]] | None = None
    # The target whose experiments' versions join the selection (and pin its ensembles'
    # steps): a gateway routes only to its own target's Triton. None: every target's, as
    # `compile`, the report and validation see the catalog. `on(target)` makes one.
    target: str | None = None
    _selected: CatalogView | None = field(default=None, repr=False)
    _view: CatalogView | None = field(default=None, repr=False)
    _plans: dict[Profile, CompilePlan] = field(default_factory=dict, repr=False)
    _steps: list[StepExperiment] | None = field(default=None, repr=False)
    _digests: ConfigDigests | None = field(default=None, repr=False)
    _artifact_hashes: ArtifactHashes | None = field(default=None, repr=False)
    _memo: CompileMemo | None = field(default=None, repr=False)
    _on: dict[str, Build] = field(default_factory=dict, repr=False)

    @property
    def selected(self) -> CatalogView:
        """The selection alone, before experiments' versions join it."""
        if self._selected is None:
            with paused_gc():
                self._selected = select(self.ctx.store, alias=self.alias, refs=self.refs)
        return self._selected

    @property
    def view(self) -> CatalogView:
        if self._view is None:
            view = self.selected
            # A targeted selection keeps its experiments' arms, and only those.
            only = {spec.id for spec in view.specs.values()} if self.refs else None
            with paused_gc():
                self._view = with_routed(
                    self.ctx.store, view, self.extra_refs, only_models=only, target=self.target
                )
        return self._view

    def on(self, target: str) -> Build:
        """This build as deployed to `target`: only that target's experiments count. It
        is this build itself when no other target has one (the usual case), so a status
        over many targets compiles once; else one per target, sharing the selection."""
        if self.target == target:
            return self
        if self.target is None and all(
            r.target == target for r in ExperimentLog(self.ctx.store).routing()
        ):
            return self
        build = self._on.get(target)
        if build is None:
            build = dataclasses.replace(
                self,
                target=target,
                _selected=self.selected,
                _view=None,
                _plans={},
                _steps=None,
                _digests=self.digests,
                _artifact_hashes=self.artifact_hashes,
                _memo=self.memo,
                _on={},
            )
            self._on[target] = build
        return build

    def plan(self, profile: Profile) -> CompilePlan:
        """The selection compiled for `profile` (artifacts verified), problems and all;
        with the ensembles of models in experiments pinned, and their variants."""
        plan = self._plans.get(profile)
        if plan is None:
            view = self.view
            resolved = _pinned_steps(view, self.step_experiments)
            specs, unavailable = fetch_remote_artifacts(self.ctx, view.specs)
            plan = plan_compile(
                specs,
                view.triton_versions,
                resolved,
                profile,
                unavailable=unavailable,
                digests=self.digests,
                artifact_hashes=self.artifact_hashes,
                memo=self.memo,
            )
            if self.ctx.root is not None:
                self.artifact_hashes.save(self.ctx.root / HASHES_FILE)
                self.memo.save(self.ctx.root / MEMO_FILE)
            if not plan.problems:
                _add_variants(plan, self.step_experiments)
            self._plans[profile] = plan
        return plan

    @property
    def step_experiments(self) -> list[StepExperiment]:
        """The experiments whose model ensembles of the selection run (see
        traffic/dependents.py), one per model."""
        if self._steps is None:
            self._steps = step_experiments(self.ctx.store, self.starting, target=self.target)
        return self._steps

    def compiled(self, profile: Profile, headline: str) -> CompilePlan:
        """The selection compiled for `profile`; ValidationFailed if either is invalid."""
        problems = self.view.problems()
        if problems:
            raise ValidationFailed.from_problems(problems, headline)
        plan = self.plan(profile)
        if plan.problems:
            raise ValidationFailed.from_problems(plan.problems, f"{headline}; nothing was written")
        # Whoever compiles compares digests with a repository next: learn them all now
        # and keep them for the next command (a validation asks for none).
        plan.config_digests()
        if self.ctx.root is not None:
            self.digests.save(self.ctx.root / CONFIG_DIGESTS)
        return plan

    @property
    def artifact_hashes(self) -> ArtifactHashes:
        """Artifact digests by file stat, learnt by earlier commands in this workspace."""
        if self._artifact_hashes is None:
            root = self.ctx.root
            self._artifact_hashes = (
                ArtifactHashes.load(root / HASHES_FILE) if root else ArtifactHashes()
            )
        return self._artifact_hashes

    @property
    def memo(self) -> CompileMemo:
        """Rules verdicts and ONNX tensors learnt by earlier commands in this workspace."""
        if self._memo is None:
            root = self.ctx.root
            self._memo = CompileMemo.load(root / MEMO_FILE) if root else CompileMemo()
        return self._memo

    @property
    def digests(self) -> ConfigDigests:
        """The config text digests learnt by earlier commands in this workspace."""
        if self._digests is None:
            root = self.ctx.root
            self._digests = ConfigDigests.load(root / CONFIG_DIGESTS) if root else ConfigDigests()
        return self._digests

    def validation(self, *, strict: bool = False, local: Server | None = None) -> ValidationReport:
        """Every cross-model check of the selection, reusing its production compile."""
        view = self.view
        usable = not view.problems()
        return validate_view(
            view,
            self.ctx.fleet,
            strict=strict,
            local=local,
            compiled=self.plan("production") if usable else None,
        )

    def triton_dependencies(self) -> dict[str, list[str]]:
        """Triton model name -> the Triton names it needs (within the selection)."""
        view = self.view
        names = {ref: triton_name(spec) for ref, spec in view.specs.items()}
        dependencies: dict[str, list[str]] = {}
        for ref in view.specs:
            needed = dependencies.setdefault(names[ref], [])
            for dep in view.graph.dependencies(ref):
                if names[dep] != names[ref] and names[dep] not in needed:
                    needed.append(names[dep])
        for step in self.step_experiments:
            nested = {names_of(view, e) for e in step.users}
            for user in step.users:
                name = names_of(view, user)
                if name not in dependencies:
                    continue
                for version in step.variant_versions:
                    dependencies[variant_name(name, step.triton_name, version)] = [
                        variant_name(d, step.triton_name, version) if d in nested else d
                        for d in dependencies[name]
                    ]
        return dependencies


def fetch_remote_artifacts(
    ctx: Context, specs: dict[str, ModelSpec]
) -> tuple[dict[str, ModelSpec], dict[str, str]]:
    """`specs` with each `s3://` artifact replaced by a verified local copy of its pinned
    bytes (s3/artifacts.py), and ref -> why for those that cannot be used (changed in the
    storage, unreachable): the compile blocks their models alone."""
    remote = [ref for ref, spec in specs.items() if spec.artifact and is_s3_url(spec.artifact)]
    if not remote:
        return specs, {}
    artifacts = remote_artifacts(ctx)
    fetched = dict(specs)
    unavailable: dict[str, str] = {}
    copies: dict[tuple[str, str], Path | str] = {}  # (url, digest) -> copy, or why not
    for ref in remote:
        spec = specs[ref]
        assert spec.artifact is not None
        if spec.artifact_sha256 is None:
            unavailable[ref] = f"artifact {spec.artifact} has no pinned SHA-256; register it again"
            continue
        key = (spec.artifact, spec.artifact_sha256)
        if key not in copies:
            try:
                copies[key] = artifacts.fetch(*key)
            except ArtifactUnreadable as exc:
                copies[key] = str(exc)
        copy = copies[key]
        if isinstance(copy, str):
            unavailable[ref] = copy
        else:
            fetched[ref] = spec.model_copy(update={"artifact": str(copy)})
    return fetched, unavailable


def with_routed(
    store: CatalogStore,
    view: CatalogView,
    extra_refs: Sequence[str] = (),
    *,
    only_models: set[str] | None = None,
    target: str | None = None,
) -> CatalogView:
    """`view` widened by the versions traffic experiments route to (and `extra_refs`).

    The gateway sends an experiment's requests to versioned paths, so every arm must stay
    loaded whatever the selection says: each arm's version joins its model's version
    folders (and `version_policy`) on the experiment's target (with `target`, only its
    experiments count; without, every target's). Without such versions, `view` itself.
    With `only_models`, only experiments on those models count (a targeted selection).
    """
    wanted = [
        *extra_refs,
        *(
            f"{record.model}@{version}"
            for record in ExperimentLog(store).routing(target)
            if only_models is None or record.model in only_models
            for version in record.served_versions
        ),
    ]
    missing = [ref for ref in dict.fromkeys(wanted) if ref not in view.specs]
    if not missing:
        return view
    roots = [*view.roots, *(ref for ref in missing if ref in view.index.by_ref)]
    resolution = resolve(view.index, roots)
    needed = {model_id_of(ref) for ref in resolution.entries}
    stored = store.versions(needed)
    return CatalogView(
        roots,
        {v.spec.ref: v.spec for v in stored if v.spec.ref in resolution.entries},
        resolution,
        view.index,
        {v.spec.ref: v.triton_version for v in stored if v.spec.ref in resolution.entries},
    )


@dataclass(frozen=True)
class StepExperiment:
    """An experiment on a model that ensembles run: while it runs, `pin` is its baseline
    and `variant_versions` its other arms; once stopped, `pin` is the kept version."""

    model: str
    triton_name: str
    users: tuple[str, ...]  # ensemble model ids, inner ones first
    pin: str
    variant_versions: tuple[str, ...]


def ensemble_steps(store: CatalogStore, model_id: str) -> dict[str, set[str]]:
    """Ensemble model id -> the models its steps name (over its versions not yanked), for
    every ensemble that depends on `model_id`, directly or through others."""
    dependents: dict[str, set[str]] = {}
    for summary in store.summaries():
        if summary.yanked_reason is None:
            for dependency in summary.dependencies:
                dependents.setdefault(dependency.model_id, set()).add(summary.model_id)
    found: set[str] = set()
    pending = [model_id]
    while pending:
        for dependent in dependents.get(pending.pop(), ()):
            if dependent not in found:
                found.add(dependent)
                pending.append(dependent)
    steps: dict[str, set[str]] = {}
    for stored in store.versions(found) if found else []:
        ensemble = stored.spec.ensemble
        if ensemble is not None and stored.status.yanked_reason is None:
            steps.setdefault(stored.spec.id, set()).update(step.model for step in ensemble.steps)
    return steps


def step_experiments(
    store: CatalogStore,
    starting: tuple[str, tuple[str, ...]] | None = None,
    *,
    target: str | None = None,
) -> list[StepExperiment]:
    """The experiments (on `target`, or on any) that route a model some ensemble runs:
    the one `starting`, else a running one, else the latest stopped one, per model."""
    chosen: dict[str, StepExperiment] = {}
    if starting is not None:
        model, versions = starting
        users = tuple(ensemble_users(ensemble_steps(store, model), model))
        if users:
            chosen[model] = StepExperiment(
                model, triton_name(store.get(model).spec), users, versions[0], versions[1:]
            )
    for record in ExperimentLog(store).routing(target):
        current = chosen.get(record.model)
        if current is not None and (current.variant_versions or not record.is_running):
            continue
        pin = record.arms[0].version if record.is_running else record.kept
        if pin is None:
            continue
        users = tuple(ensemble_users(ensemble_steps(store, record.model), record.model))
        if not users:
            continue
        chosen[record.model] = StepExperiment(
            model=record.model,
            triton_name=triton_name(store.get(record.model).spec),
            users=users,
            pin=pin,
            variant_versions=tuple(a.version for a in record.arms[1:]) if record.is_running else (),
        )
    return [chosen[model] for model in sorted(chosen)]


def names_of(view: CatalogView, model_id: str) -> str:
    """The Triton name of a model of the selection (its newest selected version's)."""
    specs = [s for s in view.specs.values() if s.id == model_id]
    if not specs:
        return model_id.replace("/", ".")
    return triton_name(max(specs, key=lambda s: s.parsed_version))


def _pinned_steps(view: CatalogView, steps: Sequence[StepExperiment]) -> dict[tuple[str, str], str]:
    """The selection's resolution, with each ensemble's step on a model in an experiment
    resolved to the experiment's pin (its baseline, or the kept version): with -1, or
    any other version, the ensemble's clients would not get what the gateway says."""
    resolved = view.resolution.resolved
    pins = {s.model: f"{s.model}@{s.pin}" for s in steps}
    if not pins:
        return resolved
    result = dict(resolved)
    for (ref, dependency), _ in resolved.items():
        spec = view.specs.get(ref)
        pin = pins.get(dependency)
        if (
            spec is not None
            and spec.ensemble is not None
            and pin in view.specs
            and any(step.model == dependency for step in spec.ensemble.steps)
        ):
            result[(ref, dependency)] = pin
    return result


def _add_variants(plan: CompilePlan, steps: Sequence[StepExperiment]) -> None:
    """Each compiled ensemble that runs a model in an experiment gets one variant per
    arm but the baseline (traffic/dependents.py), keyed by its Triton name."""
    for step in steps:
        compiled_step = plan.models.get(step.model)
        if compiled_step is None:
            continue
        nested = {plan.models[u].triton_name for u in step.users if u in plan.models}
        for version in step.variant_versions:
            step_version = compiled_step.versions.get(version)
            if step_version is None:
                continue
            for user in step.users:
                if user in plan.models:
                    variant = ensemble_variant(
                        plan.models[user], step.triton_name, step_version, version, nested
                    )
                    plan.models[variant.triton_name] = variant


def select_view(
    ctx: Context, alias: str | None = None, model_ids: Sequence[str] | None = None
) -> CatalogView:
    return select(ctx.store, alias=alias, model_ids=model_ids)


# This process's newest validations by what they depend on (see _validation_key): a
# server asked for its validation page again and again checks 10,000 models again only
# after something changed (7 s at 10,000 models here).
_VALIDATIONS: dict[str, ValidationReport] = {}
_VALIDATIONS_KEPT = 4
# The workspace's newest whole validation, with its key and the versions' artifacts, for
# the next process: `modelyard validate` of an unchanged catalog reads it instead of
# checking every model again (see catalog/cache_files.py: a cache is trusted for speed
# only, and its key holds everything the report depends on, this code included).
VALIDATION_CACHE = Path(".modelyard") / "cache" / "validation.json"


def _validation_key(
    ctx: Context,
    fingerprint: tuple[object, ...],
    stored: Callable[[], dict[str, Any]],
    alias: str | None,
    strict: bool,
    local: Server | None,
) -> str | None:
    """One digest of everything a validation reads: the stored versions (by the
    versions table's fingerprint: a version's content and Triton version never change,
    and its marks are in the fingerprint), aliases, the experiments' routing,
    modelyard.yaml, this machine (without a fleet), and what the file system says of
    each artifact file. None (validate afresh) when an artifact lies in object storage,
    whose changes no local stat shows. `stored` gives the workspace's stored validation
    (read once, only if this process has not listed the artifacts yet)."""
    artifacts = _artifacts(ctx, fingerprint, stored)
    if artifacts is None:
        return None
    digest = hashlib.sha256()
    digest.update(repr((fingerprint, alias, strict, local, ctx.config.model_dump_json())).encode())
    digest.update(_code_stamp().encode())
    for artifact in artifacts:
        digest.update(repr(_files_stat(artifact)).encode())
    for record in ctx.store.aliases():
        digest.update(f"{record.model_id}\0{record.name}\0{record.version}".encode())
    for experiment in ExperimentLog(ctx.store).routing():
        digest.update(experiment.model_dump_json().encode())
    return digest.hexdigest()


# The versions table's fingerprint -> every version's local artifact (None: one is in
# object storage), so a key is made without reading every spec.
_ARTIFACTS: dict[tuple[object, ...], tuple[str, ...] | None] = {}


@functools.cache
def _code_stamp() -> str:
    """The stat of every module of this package: a report made by other code is not
    this code's (a developer's edit, an upgrade without a new version number)."""
    package = Path(__file__).resolve().parents[1]
    stamps = []
    for module in sorted(package.rglob("*.py")):
        st = module.stat()
        stamps.append(f"{module.relative_to(package)}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(stamps)


def _artifacts(
    ctx: Context, fingerprint: tuple[object, ...], stored: Callable[[], dict[str, Any]]
) -> tuple[str, ...] | None:
    if fingerprint not in _ARTIFACTS:
        cached = stored()
        if cached.get("fingerprint") == repr(fingerprint) and "artifacts" in cached:
            listed = cached["artifacts"]
            _ARTIFACTS[fingerprint] = None if listed is None else tuple(map(str, listed))
    if fingerprint not in _ARTIFACTS:
        found: list[str] = []
        for version in ctx.store.versions():
            artifact = version.spec.artifact
            if artifact is not None and is_s3_url(artifact):
                _ARTIFACTS[fingerprint] = None
                break
            if artifact is not None:
                found.append(artifact)
        else:
            _ARTIFACTS[fingerprint] = tuple(found)
        while len(_ARTIFACTS) > _VALIDATIONS_KEPT:
            _ARTIFACTS.pop(next(iter(_ARTIFACTS)))
    return _ARTIFACTS[fingerprint]


def _files_stat(path: str) -> list[tuple[str, int, int, int, int]]:
    """(name, inode, size, mtime, ctime) of a file, or of each file in a folder; one
    stat for a file (the usual artifact)."""
    try:
        st = os.stat(path)
    except OSError:
        return []  # missing: its absence is what the key records
    if not stat.S_ISDIR(st.st_mode):
        return [(path, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)]
    found = []
    for file in sorted(p for p in Path(path).rglob("*") if p.is_file()):
        try:
            st = file.stat()
        except OSError:
            continue
        found.append((str(file), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return found


def cached_validation(
    build: Build, *, strict: bool = False, local: Server | None = None
) -> ValidationReport:
    """`build.validation(...)`, or the report this process made of the same catalog,
    modelyard.yaml and artifact files (see `_validation_key`). Only a whole selection's
    report is kept: the key does not hold a targeted build's refs or extra arms."""
    whole = build.refs is None and not build.extra_refs and build.starting is None
    if not whole:
        with paused_gc():
            return build.validation(strict=strict, local=local)
    ctx = build.ctx
    path = ctx.root / VALIDATION_CACHE if ctx.root is not None else None
    stored = functools.cache(lambda: load_json_object(path) if path is not None else {})
    with ctx.store.reader() as tx:
        fingerprint = tx.summaries_fingerprint()
    key = _validation_key(ctx, fingerprint, stored, build.alias, strict, local)
    report = _VALIDATIONS.get(key) if key is not None else None
    if report is None and key is not None:
        report = _stored_report(stored(), key)
    if report is None:
        with paused_gc():
            report = build.validation(strict=strict, local=local)
        if key is not None and path is not None:
            _store_validation(path, key, fingerprint, report)
    if key is not None:
        if len(_VALIDATIONS) >= _VALIDATIONS_KEPT:
            _VALIDATIONS.pop(next(iter(_VALIDATIONS)))
        _VALIDATIONS[key] = report
    return report


def _stored_report(stored: dict[str, Any], key: str) -> ValidationReport | None:
    """The stored report when it was made under `key`."""
    if stored.get("key") != key:
        return None
    try:
        return ValidationReport.model_validate(stored.get("report"))
    except ValidationError:
        return None  # written by a modelyard whose report had other fields


def _store_validation(
    path: Path, key: str, fingerprint: tuple[object, ...], report: ValidationReport
) -> None:
    artifacts = _ARTIFACTS.get(fingerprint)
    save_json_object(
        path,
        {
            "key": key,
            "fingerprint": repr(fingerprint),
            "artifacts": None if artifacts is None else list(artifacts),
            "report": report.model_dump(
                mode="json", by_alias=False, exclude=set(ValidationReport.model_computed_fields)
            ),
        },
    )


def validate(
    ctx: Context,
    *,
    strict: bool = False,
    alias: str | None = None,
    live: bool = False,
    target: str | None = None,
) -> ValidationReport:
    """Every cross-model check; with `live`, also what the latest measurements of the
    selected versions say (on `target`, or on any target): SLA misses, measured chains
    over a dependent's budget, memory above the declaration."""
    if target is not None:
        ctx.target(target)  # NotFound for a target the workspace does not name
    local = None
    if not ctx.has_fleet:
        local, _ = detect_local_server()  # no fleet declared: compare with this machine
    build = Build(ctx, alias)
    report = cached_validation(build, strict=strict, local=local)
    if not live:
        return report
    view = build.view
    problems = live_problems(
        view,
        latest_measurements(ctx, "perf", view.specs.values(), target),
        latest_measurements(ctx, "memory", view.specs.values(), target),
        target,
    )
    if strict:
        problems = [
            dataclasses.replace(p, severity=Severity.ERROR) if p.severity is Severity.WARNING else p
            for p in problems
        ]
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    merged = sorted(
        report.problems + problems, key=lambda p: (order[p.severity], p.code, p.model or "")
    )
    return report.model_copy(update={"problems": merged})


def plan(ctx: Context, *, alias: str | None = None) -> DeploymentPlan:
    """Waves and critical path of the selection (no specs decoded)."""
    with paused_gc():
        return plan_deployment(select(ctx.store, alias=alias, with_specs=False))


def report(ctx: Context, *, alias: str | None = None) -> CatalogReport:
    """Structure, resources and SLA tables of the selection."""
    with paused_gc():
        view = select(ctx.store, alias=alias)
        return build_report(view.specs.values(), ctx.fleet, view.marked_versions())


def compile_repository(
    ctx: Context,
    out: str | Path,
    *,
    profile: Profile = "production",
    alias: str | None = None,
    check: bool = False,
    allow_empty: bool = False,
) -> CompileResult:
    """Compile the selection into a Triton repository at `out` (atomically).

    With `check`, write nothing and report how `out` differs from a fresh compile. A
    compile that yields no model fails unless `allow_empty` (a server started empty, for
    deployments to fill).

    Raises:
        ValidationFailed: the selection or a config is invalid; nothing was written.
        InputError: `out` cannot be written; the previous repository is unchanged.
    """
    writer = RepositoryWriter(Path(out))
    try:
        if not check:
            writer.check_out()  # a bad --out is the first thing to say, whatever the catalog
    except RepositoryWriteError as exc:
        raise InputError(str(exc)) from exc
    compiled = Build(ctx, alias).compiled(profile, "cannot compile")
    try:
        if not allow_empty:
            _require_models(compiled)
        if compiled.blocked:
            compiled = keeping_others(compiled, writer.current_files(), targeted=False)
        if check:
            return CompileResult.of(
                compiled, writer.diff(compiled.files), writer.current(), checked=True
            )
        diff, generation = writer.write(compiled.files)
    except RepositoryWriteError as exc:
        raise InputError(str(exc)) from exc
    result = CompileResult.of(compiled, diff, generation, checked=False)
    raise_if_blocked(result, f"into {out}")
    return result


def raise_if_blocked(result: CompileResult, where: str) -> None:
    """ModelsBlocked naming each blocked model of a compile that wrote the rest."""
    plan = result.plan
    if not plan.blocked:
        return
    raise ModelsBlocked(
        f"compiled {len(plan.models)} model(s) {where}, but {len(plan.blocked)} blocked, "
        f"each keeping what was there for it: {plan.blocked_summary()}",
        [blocked.problem() for blocked in plan.blocked.values()],
        result=result,
    )


def compile_fleet(
    ctx: Context, out: str | Path, *, profile: Profile = "production", alias: str | None = None
) -> dict[str, CompileResult]:
    """One repository per fleet server, `out/<server>/`, holding what placement put
    there, with instance groups on the GPUs it chose.

    Raises:
        CapacityError: some replica does not fit the fleet (nothing is written).
    """
    build = Build(ctx, alias)
    placement = feasible_placement(build, "nothing was written")
    compiled = build.compiled(profile, "cannot compile")
    _require_models(compiled)
    results: dict[str, CompileResult] = {}
    for server in ctx.require_fleet("compile --per-server").servers:
        share = server_share(compiled, placement, server.name, profile)
        writer = RepositoryWriter(Path(out) / server.name)
        try:
            if compiled.blocked:
                share = dataclasses.replace(share, blocked=compiled.blocked)
                share = keeping_others(share, writer.current_files(), targeted=False)
            diff, generation = writer.write(share.files)
        except RepositoryWriteError as exc:
            raise InputError(str(exc)) from exc
        results[server.name] = CompileResult.of(share, diff, generation, checked=False)
    for result in results.values():
        raise_if_blocked(result, f"into {out} (one folder per server)")
    return results


def _require_models(compiled: CompilePlan) -> None:
    """ValidationFailed, with each skipped model's reason, when nothing would be compiled:
    a repository without models is never what a compile was asked for."""
    if compiled.models:
        return
    problems = [
        Problem(
            Severity.ERROR,
            "nothing-compiled",
            f"skipped: {reason}",
            model=model_id,
            field="artifact" if "artifact" in reason else None,
        )
        for model_id, reason in sorted(compiled.skipped.items())
    ] + [blocked.problem() for blocked in compiled.blocked.values()] or [
        Problem(
            Severity.ERROR,
            "nothing-compiled",
            "the selection holds no model; register some with `modelyard apply`",
        )
    ]
    raise ValidationFailed.from_problems(
        problems,
        f"nothing to compile for the {compiled.profile} profile: every model was skipped "
        "or blocked; nothing was written",
    )


def feasible_placement(build: Build, consequence: str) -> Placement:
    """`place`'s placement (the one `modelyard place` shows), or CapacityError."""
    build.ctx.require_fleet("this")
    placement = place_view(build.ctx, build.view)
    if not placement.feasible:
        raise CapacityError(
            f"the fleet cannot hold the selection; {consequence}:\n  "
            + "\n  ".join(str(s) for s in placement.unplaced)
        )
    return placement


def place(
    ctx: Context,
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
    ctx.require_fleet("placement")
    with paused_gc():
        view = select(ctx.store, alias=alias)
    return place_view(
        ctx, view, exact=exact, time_limit_s=time_limit_s, calibrated=calibrated, target=target
    )


def place_view(
    ctx: Context,
    view: CatalogView,
    *,
    exact: bool | None = None,
    time_limit_s: float = 10.0,
    calibrated: bool = False,
    target: str | None = None,
) -> Placement:
    """`place` over a selection already read."""
    fleet = ctx.require_fleet("placement")
    demands = demands_from_specs(view.specs)
    if calibrated:
        demands, _ = calibrated_demands(
            demands, latest_measurements(ctx, "memory", view.specs.values(), target)
        )
    if exact is None:
        exact = sum(d.replicas for d in demands) <= EXACT_AUTO_REPLICAS and _has_highs()
    fitted = first_fit(demands, fleet)  # the exact search starts from it, never worse
    if exact:
        result = place_exact(demands, fleet, time_limit_s=time_limit_s, start=fitted)
        if result.placement is not None:
            return result.placement
    return fitted


def calibration(
    ctx: Context, *, alias: str | None = None, target: str | None = None
) -> dict[str, dict[str, Any]]:
    """What `place(calibrated=True)` changes: per model version, each resource's
    declared and measured figure, and where it was measured."""
    with paused_gc():
        view = select(ctx.store, alias=alias)
    _, changes = calibrated_demands(
        demands_from_specs(view.specs),
        latest_measurements(ctx, "memory", view.specs.values(), target),
    )
    return changes


def latest_measurements(
    ctx: Context, kind: str, specs: Iterable[ModelSpec], target: str | None = None
) -> dict[str, Measurement]:
    """`domain/name@version` -> the newest `kind` ("perf" | "memory") measurement of
    each of these versions, on `target` or on any target."""
    if kind not in ("perf", "memory"):
        raise InputError(f"measurement kind {kind!r}: expected perf or memory")
    return MeasurementLog(ctx.store).latest(
        "perf" if kind == "perf" else "memory", [(spec.id, spec.version) for spec in specs], target
    )


def _has_highs() -> bool:
    return importlib.util.find_spec("highspy") is not None
