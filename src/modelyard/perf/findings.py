"""What stored measurements say about a selection, pure: `validate --live` findings,
measured figures for `place --calibrated`, and the report's measured-vs-declared rows.

Only the measurement of the very version in the selection counts: a new version, or
an SLA changed with it, starts without one until `modelyard perf` measures it. The
verdicts are computed against the SLA declared now, not the one at measuring time.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from modelyard.catalog.spec import ModelSpec
from modelyard.errors import Problem, Severity
from modelyard.perf.figures import LevelFigures, MemoryDrift, SlaCheck, check_sla
from modelyard.placement.solver import Demand
from modelyard.selection import CatalogView
from modelyard.store.measurements import Measurement
from modelyard.validation import latency_chain_overruns


def sla_checks(spec: ModelSpec, measurement: Measurement) -> list[SlaCheck]:
    """A stored perf measurement against the SLA `spec` declares."""
    levels = [
        figures
        for level in measurement.summary.get("levels", [])
        if (figures := LevelFigures.from_dict(level)) is not None
    ]
    return check_sla(levels, spec.sla_requirements)


def measured_p99_ms(spec: ModelSpec, measurement: Measurement) -> float | None:
    checks = [c for c in sla_checks(spec, measurement) if c.target == "latency_p99"]
    return checks[0].measured if checks else None


def live_problems(
    view: CatalogView,
    perf: Mapping[str, Measurement],
    memory: Mapping[str, Measurement],
    target: str | None,
) -> list[Problem]:
    """Findings from the latest measurements (`ref` -> measurement) of the selection."""
    specs = view.specs
    where = f"on {target!r}" if target else "on any target"
    problems: list[Problem] = []
    p99: dict[str, float] = {}
    for ref, spec in specs.items():
        measurement = perf.get(ref)
        if measurement is None:
            continue
        for check in sla_checks(spec, measurement):
            if check.target == "latency_p99":
                p99[ref] = check.measured
            if check.passed:
                continue
            field = (
                "sla_requirements.max_latency_p99_ms"
                if check.target == "latency_p99"
                else "sla_requirements.min_throughput_rps"
            )
            problems.append(
                Problem(
                    Severity.WARNING,
                    f"sla-live-{'latency' if check.target == 'latency_p99' else 'throughput'}",
                    f"measured on {measurement.target!r} at "
                    f"{measurement.measured_at:%Y-%m-%d %H:%M} UTC: {check.describe()}",
                    model=ref,
                    field=field,
                    details={
                        "measurement": measurement.id,
                        "target": measurement.target,
                        "check": check.model_dump(mode="json"),
                    },
                )
            )
    if p99 and view.resolution and not any(p.code == "cycle" for p in view.problems()):

        def figure(ref: str) -> float:
            return p99.get(ref, specs[ref].sla_requirements.max_latency_p99_ms)

        for overrun in latency_chain_overruns(view, figure):
            measured = [r for r in overrun.chain[1:] if r in p99]
            if not measured:
                continue  # the static check already says it
            shown = " -> ".join(
                f"{r} ({p99[r]:,.2f} ms measured)"
                if r in p99
                else f"{r} ({specs[r].sla_requirements.max_latency_p99_ms:g} ms declared)"
                for r in overrun.chain[1:]
            )
            if overrun.length > len(overrun.chain):
                shown += f" -> ... ({overrun.length - len(overrun.chain)} more)"
            problems.append(
                Problem(
                    Severity.WARNING,
                    "sla-live-chain",
                    f"its dependencies take {overrun.needed_ms:,.2f} ms at p99 along {shown}, "
                    f"more than its own budget of {overrun.budget_ms:g} ms (over by "
                    f"{overrun.overrun_ms:,.2f} ms)",
                    model=overrun.ref,
                    field="sla_requirements.max_latency_p99_ms",
                    details={
                        "chain": overrun.chain,
                        "needed_ms": overrun.needed_ms,
                        "budget_ms": overrun.budget_ms,
                        "overrun_ms": overrun.overrun_ms,
                        "measured": measured,
                    },
                )
            )
    for ref, spec in specs.items():
        measurement = memory.get(ref)
        if measurement is None:
            continue
        drift = MemoryDrift.from_dict(measurement.summary)
        for resource in drift.over_declared:
            declared = getattr(spec.resource_requirements, resource)
            used = drift.memory_mb if resource == "memory_mb" else drift.gpu_memory_mb
            assert used is not None
            problems.append(
                Problem(
                    Severity.WARNING,
                    "memory-over-declared",
                    f"uses {used:,.0f} MB of {'host' if resource == 'memory_mb' else 'GPU'} memory "
                    f"per instance, more than the {declared:,} MB declared "
                    f"(by {used - declared:,.0f} MB; measured on {measurement.target} at "
                    f"{measurement.measured_at:%Y-%m-%d %H:%M} UTC); declare at least "
                    f"{math.ceil(used):,} so placement leaves room",
                    model=ref,
                    field=f"resource_requirements.{resource}",
                    details={
                        "measurement": measurement.id,
                        "target": measurement.target,
                        "declared_mb": declared,
                        "measured_mb": round(used, 2),
                    },
                )
            )
    unmeasured = sorted(ref for ref in specs if ref not in perf)
    problems.append(
        Problem(
            Severity.INFO,
            "live-coverage",
            f"{len(specs) - len(unmeasured)} of {len(specs)} model version(s) have a perf "
            f"measurement {where}; measure the others with `modelyard perf ID`",
            details={"unmeasured": unmeasured, "target": target},
        )
    )
    return problems


def calibrated_demands(
    demands: Sequence[Demand], memory: Mapping[str, Measurement]
) -> tuple[list[Demand], dict[str, dict[str, Any]]]:
    """`demands` with measured memory per instance where a measurement exists (rounded
    up to whole MB); GPU memory only where Triton reported it. Returns the demands and,
    per calibrated ref, what changed."""
    calibrated: list[Demand] = []
    changes: dict[str, dict[str, Any]] = {}
    for demand in demands:
        measurement = memory.get(demand.ref)
        if measurement is None:
            calibrated.append(demand)
            continue
        drift = MemoryDrift.from_dict(measurement.summary)
        update: dict[str, int] = {}
        if drift.memory_mb is not None:
            update["memory_mb"] = max(1, math.ceil(drift.memory_mb))
        if drift.gpu_memory_mb is not None:
            update["gpu_memory_mb"] = math.ceil(drift.gpu_memory_mb)
        calibrated.append(
            dataclasses.replace(
                demand,
                memory_mb=update.get("memory_mb", demand.memory_mb),
                gpu_memory_mb=update.get("gpu_memory_mb", demand.gpu_memory_mb),
            )
        )
        changes[demand.ref] = {
            key: {"declared": getattr(demand, key), "measured": value}
            for key, value in update.items()
        } | {"target": measurement.target, "measurement": measurement.id}
    return calibrated, changes


def measured_vs_declared(
    specs: Mapping[str, ModelSpec],
    perf: Mapping[str, Measurement],
    memory: Mapping[str, Measurement],
) -> list[dict[str, Any]]:
    """One row per measured model version, for the report."""
    rows = []
    for ref in sorted(set(perf) | set(memory)):
        spec = specs.get(ref)
        if spec is None:
            continue
        row: dict[str, Any] = {
            "ref": ref,
            "declared_p99_ms": spec.sla_requirements.max_latency_p99_ms,
            "declared_rps": spec.sla_requirements.min_throughput_rps,
            "declared_memory_mb": spec.resource_requirements.memory_mb,
            "declared_gpu_memory_mb": spec.resource_requirements.gpu_memory_mb,
            "target": None,
            "measured_at": None,
            "p99_ms": None,
            "latency_passed": None,
            "rps": None,
            "throughput_passed": None,
            "requests": None,
            "client_overhead_ms": None,
            "memory_mb": None,
            "gpu_memory_mb": None,
            "memory_over": False,
        }
        measurement = perf.get(ref)
        if measurement is not None:
            checks = {c.target: c for c in sla_checks(spec, measurement)}
            latency, throughput = checks.get("latency_p99"), checks.get("throughput")
            row.update(
                target=measurement.target,
                measured_at=f"{measurement.measured_at:%Y-%m-%d %H:%M}",
                p99_ms=latency.measured if latency else None,
                latency_passed=latency.passed if latency else None,
                rps=throughput.measured if throughput else None,
                throughput_passed=throughput.passed if throughput else None,
                requests=sum(
                    int(level.get("requests", 0)) for level in measurement.summary.get("levels", [])
                ),
                client_overhead_ms=measurement.summary.get("client_overhead_ms"),
            )
        reading = memory.get(ref)
        if reading is not None:
            drift = MemoryDrift.from_dict(reading.summary)
            row.update(
                memory_mb=drift.memory_mb,
                gpu_memory_mb=drift.gpu_memory_mb,
                memory_over=bool(drift.over_declared),
            )
            row["target"] = row["target"] or reading.target
        rows.append(row)
    return rows
