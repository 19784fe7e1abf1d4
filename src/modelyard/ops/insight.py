"""Insight use cases: measure served versions, read measurements, experiments with their
recorded changes, write the HTML report."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from modelyard.deploy.plan import live_versions
from modelyard.ops.build import Build, cached_validation, latest_measurements, place_view
from modelyard.ops.canary import rollout_status
from modelyard.ops.catalog import resolve_ref
from modelyard.ops.context import Context, paused_gc
from modelyard.ops.rollout import history, statuses
from modelyard.ops.traffic import ExperimentStatus, get_experiment, list_experiments
from modelyard.perf.findings import measured_vs_declared
from modelyard.perf.load import LoadProgress
from modelyard.perf.measure import PerfOptions, PerfReport, PerfSubject, measure
from modelyard.report.html import PageLinks, ReportPages, build_html_report, write_html_report
from modelyard.store.access import AccessLog, AuditEntry
from modelyard.store.experiments import ExperimentLog, audit_object
from modelyard.store.measurements import Measurement, MeasurementLog
from modelyard.store.store import StoredVersion
from modelyard.targets.registry import open_target
from modelyard.triton.naming import triton_name

# The audit actions of an experiment's changes (experiment.refused names no experiment).
EXPERIMENT_ACTIONS = ("experiment.start", "experiment.set", "experiment.stop", "switch")
# Experiments the HTML report shows (newest first); every change of each.
REPORT_EXPERIMENTS = 50
# Changes read per experiment: far more than any experiment is changed by hand.
MAX_CHANGES = 1000


class ExperimentChange(BaseModel):
    """One recorded change of an experiment: who, when, and its weights before and after."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    actor: str
    action: str
    before: dict[str, int] | None
    after: dict[str, int] | None
    kept: str | None = None


class ExperimentDetail(BaseModel):
    """An experiment as it stands, and every change of it from the audit log, oldest first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool = True
    experiment: ExperimentStatus
    changes: list[ExperimentChange]


class ExperimentHistory(BaseModel):
    """Experiments, newest first, each with its changes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool = True
    experiments: list[ExperimentDetail]


def experiment_detail(ctx: Context, experiment_id: int) -> ExperimentDetail:
    """One experiment with its changes.

    Raises:
        NotFound: no experiment has this id.
    """
    status = get_experiment(ctx, experiment_id)
    return ExperimentDetail(experiment=status, changes=_changes(ctx, experiment_id))


def experiment_history(
    ctx: Context,
    *,
    target: str | None = None,
    model_id: str | None = None,
    limit: int = REPORT_EXPERIMENTS,
) -> ExperimentHistory:
    """The newest `limit` experiments (running and stopped), each with its changes."""
    listed = list_experiments(ctx, target=target, model_id=model_id, limit=limit)
    return ExperimentHistory(
        experiments=[
            ExperimentDetail(experiment=e, changes=_changes(ctx, e.id)) for e in listed.experiments
        ]
    )


def _changes(ctx: Context, experiment_id: int) -> list[ExperimentChange]:
    record = ExperimentLog(ctx.store).get(experiment_id)
    entries = AccessLog(ctx.store).entries(object_=audit_object(record), limit=MAX_CHANGES)
    layout = [arm.version for arm in record.arms]
    return [_change(e, layout) for e in reversed(entries) if e.action in EXPERIMENT_ACTIONS]


def _change(entry: AuditEntry, layout: list[str]) -> ExperimentChange:
    after: Any = entry.after if isinstance(entry.after, dict) else {}
    return ExperimentChange(
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        before=_weights(entry.before, layout),
        after=_weights(entry.after, layout),
        kept=after.get("kept"),
    )


def _weights(document: Any, layout: list[str]) -> dict[str, int] | None:
    """The `weights` of an audit entry's before or after, in the experiment's arm order
    (the audit log keeps them sorted); None: the model was unrouted."""
    if not isinstance(document, dict) or not isinstance(document.get("weights"), dict):
        return None
    weights = {str(version): int(weight) for version, weight in document["weights"].items()}
    ordered = {version: weights.pop(version) for version in layout if version in weights}
    return ordered | weights


def perf(
    ctx: Context,
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
    model_id, version = resolve_ref(ctx, reference)
    config = ctx.target(target)
    stored = _served_version(ctx, model_id, version, target)
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
    report = measure(subject, options or PerfOptions(), measured_at=ctx.clock(), progress=progress)
    log = MeasurementLog(ctx.store)
    log.record(model_id, spec.version, target, "perf", report.perf_summary(), report.measured_at)
    if report.memory is not None:
        log.record(
            model_id,
            spec.version,
            target,
            "memory",
            report.memory.model_dump(mode="json"),
            report.measured_at,
        )
    return report


def _served_version(ctx: Context, model_id: str, version: str | None, target: str) -> StoredVersion:
    if version is not None:
        return ctx.store.get(model_id, version)
    stored = ctx.store.versions([model_id])
    if not stored:
        ctx.store.get(model_id)  # raises NotFound naming the model
    with open_target(target, ctx.target(target)) as opened:
        live = live_versions(opened.index())
    served = [v for v in stored if v.triton_version in live.get(triton_name(v.spec), [])]
    # Nothing served: the newest, and `measure` says it is not READY.
    return max(served or stored, key=lambda v: v.spec.parsed_version)


def measurements(
    ctx: Context, reference: str | None = None, *, target: str | None = None, limit: int = 50
) -> list[Measurement]:
    """Recorded measurements, newest first (of one model, or all)."""
    model_id = resolve_ref(ctx, reference)[0] if reference else None
    return MeasurementLog(ctx.store).history(model_id, target=target, limit=limit)


def html_report(
    ctx: Context,
    out_dir: str | Path,
    *,
    alias: str | None = None,
    repository: str | Path | None = None,
    live_timeout_s: float = 30.0,
) -> Path:
    """Write the HTML report to `out_dir/index.html` and one page per domain to
    `out_dir/domains/<domain>.html`; returns the index's path.

    One selection serves every section and every target's live status (compiled once
    per profile). `live_timeout_s` bounds each read of a target's live status.
    """
    pages = _report_pages(
        ctx, alias=alias, repository=repository, live_timeout_s=live_timeout_s, domains=None
    )
    return write_html_report(pages, Path(out_dir))


def html_report_page(
    ctx: Context,
    *,
    domain: str | None = None,
    alias: str | None = None,
    live_timeout_s: float = 30.0,
    links: PageLinks = PageLinks(),
) -> str:
    """One page of the HTML report: the index, or `domain`'s page (only that one is
    drawn), linking to the others by `links`.

    Raises:
        NotFound: `domain` has no model in the selection.
    """
    pages = _report_pages(
        ctx,
        alias=alias,
        repository=None,
        live_timeout_s=live_timeout_s,
        domains=() if domain is None else (domain,),
        links=links,
    )
    return pages.index if domain is None else pages.domains[domain]


def _report_pages(
    ctx: Context,
    *,
    alias: str | None,
    repository: str | Path | None,
    live_timeout_s: float,
    domains: tuple[str, ...] | None,
    links: PageLinks = PageLinks(),
) -> ReportPages:
    build = Build(ctx, alias)
    with paused_gc():
        view = build.view
        validation = cached_validation(build)
        fleet = ctx.fleet
        # The placement `modelyard place` shows (exact for small selections), not another.
        placement = place_view(ctx, view) if fleet is not None and fleet.servers else None
    deployed = history(ctx, limit=50)
    specs = view.specs.values()
    measured = measured_vs_declared(
        view.specs,
        latest_measurements(ctx, "perf", specs),
        latest_measurements(ctx, "memory", specs),
    )
    live = statuses(
        ctx, sorted({r.target for r in deployed}), timeout_s=live_timeout_s, build=build
    )
    experiments = experiment_history(ctx).experiments
    rollouts = rollout_status(ctx, limit=50).rollouts
    return build_html_report(
        view,
        ctx.fleet,
        validation,
        generated_at=ctx.clock(),
        repository=Path(repository) if repository else None,
        history=deployed,
        placement=placement,
        measured=measured,
        live=live,
        experiments=experiments,
        rollouts=rollouts,
        domains=domains,
        links=links,
    )
