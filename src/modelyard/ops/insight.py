"""Insight use cases: measure served versions, read measurements, write the HTML report."""

from __future__ import annotations

from pathlib import Path

from modelyard.deploy.plan import live_versions
from modelyard.ops.build import Build, latest_measurements
from modelyard.ops.catalog import resolve_ref
from modelyard.ops.context import Context, paused_gc
from modelyard.ops.rollout import history, statuses
from modelyard.perf.findings import measured_vs_declared
from modelyard.perf.load import LoadProgress
from modelyard.perf.measure import PerfOptions, PerfReport, PerfSubject, measure
from modelyard.placement.solver import demands_from_specs
from modelyard.placement.solver import place as first_fit
from modelyard.report.html import build_html_report, write_html_report
from modelyard.store.measurements import Measurement, MeasurementLog
from modelyard.store.store import StoredVersion
from modelyard.targets.registry import open_target
from modelyard.triton.naming import triton_name


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
    """Write the HTML report to `out_dir/index.html`; returns its path.

    One selection serves every section and every target's live status (compiled once
    per profile). `live_timeout_s` bounds each read of a target's live status.
    """
    build = Build(ctx, alias)
    with paused_gc():
        view = build.view
        validation = build.validation()
        fleet = ctx.fleet
        placement = (
            first_fit(demands_from_specs(view.specs), fleet)
            if fleet is not None and fleet.servers
            else None
        )
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
    page = build_html_report(
        view,
        ctx.fleet,
        validation,
        generated_at=ctx.clock(),
        repository=Path(repository) if repository else None,
        history=deployed,
        placement=placement,
        measured=measured,
        live=live,
    )
    return write_html_report(page, Path(out_dir))
