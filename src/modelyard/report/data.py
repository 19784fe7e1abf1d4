"""The seed notebook's three analyses as data: structure, resource usage, SLA statistics,
plus the yanked and deprecated versions of the selected models.

Pure functions of the specs (and the fleet): the text and HTML renderers draw them.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from modelyard.catalog.spec import ModelSpec, within_ranges
from modelyard.graph.resolve import VersionEntry
from modelyard.placement.fleet import Fleet

_RESOURCE_KEYS = ("memory_mb", "gpu_memory_mb", "cpu_cores")


class CatalogReport(BaseModel):
    """Structure by domain, resource usage and SLA statistics of a selection."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", json_schema_serialization_defaults_required=True
    )

    ok: bool = True
    structure: dict[str, list[dict[str, Any]]]
    resources: dict[str, Any]
    sla: dict[str, Any]
    # The selected models' yanked and deprecated versions: ref, status, reason, and
    # whether the selection holds it (a deprecated version it still uses).
    lifecycle: list[dict[str, Any]] = []


def build_report(
    specs: Iterable[ModelSpec],
    fleet: Fleet | None = None,
    marked: Sequence[VersionEntry] = (),
) -> CatalogReport:
    """The report of a selection's `specs`; `marked` is `CatalogView.marked_versions()`."""
    # Versions stored before their numbers' ranges were checked count the nearest bound
    # (validate reports them), so that one cannot overflow every total.
    listed = sorted(
        (within_ranges(spec) for spec in specs), key=lambda s: (s.domain, s.name, s.parsed_version)
    )
    # Built here from the specs: validating (copying) 10,000 rows would add nothing.
    return CatalogReport.model_construct(
        structure=structure_by_domain(listed, marked),
        resources=resource_usage(listed, fleet),
        sla=sla_statistics(listed),
        lifecycle=lifecycle_rows(marked, {spec.ref for spec in listed}),
    )


def lifecycle_rows(marked: Sequence[VersionEntry], selected: set[str]) -> list[dict[str, Any]]:
    """One row per yanked or deprecated version (yanked wins when it is both)."""
    return [
        {
            "ref": entry.ref,
            "status": "yanked" if entry.yanked is not None else "deprecated",
            "reason": entry.yanked if entry.yanked is not None else entry.deprecated,
            "selected": entry.ref in selected,
        }
        for entry in marked
    ]


def structure_by_domain(
    specs: list[ModelSpec], marked: Sequence[VersionEntry] = ()
) -> dict[str, list[dict[str, Any]]]:
    """Each domain's models with version, status, framework, GPU memory, latency, deps,
    team."""
    deprecated = {entry.ref for entry in marked if entry.deprecated is not None}
    domains: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for spec in specs:
        domains[spec.domain].append(
            {
                "ref": spec.ref,
                "name": spec.name,
                "version": spec.version,
                "status": "deprecated" if spec.ref in deprecated else "active",
                "model_type": spec.model_type,
                "framework": spec.framework,
                "gpu_memory_mb": spec.resource_requirements.gpu_memory_mb,
                "max_latency_p99_ms": spec.sla_requirements.max_latency_p99_ms,
                "dependencies": list(spec.dependencies),
                "owner_team": spec.owner_team,
                "description": spec.description,
            }
        )
    return dict(domains)


def _instances(spec: ModelSpec) -> int:
    return spec.declared_instances


def resource_usage(specs: list[ModelSpec], fleet: Fleet | None) -> dict[str, Any]:
    """Totals and breakdowns by domain, framework and team (instances counted)."""

    def empty() -> dict[str, float]:
        return {"models": 0, **{key: 0 for key in _RESOURCE_KEYS}}

    total = empty()
    groups: dict[str, dict[str, dict[str, float]]] = {
        "by_domain": defaultdict(empty),
        "by_framework": defaultdict(empty),
        "by_team": defaultdict(empty),
    }
    for spec in specs:
        buckets = (
            total,
            groups["by_domain"][spec.domain],
            groups["by_framework"][spec.framework],
            groups["by_team"][spec.owner_team],
        )
        for bucket in buckets:
            bucket["models"] += 1
            for key in _RESOURCE_KEYS:
                bucket[key] += getattr(spec.resource_requirements, key) * _instances(spec)
    result: dict[str, Any] = {"total": total}
    for name, group in groups.items():
        result[name] = {
            key: {**values, "share": values["models"] / total["models"] if total["models"] else 0.0}
            for key, values in sorted(group.items())
        }
    result["capacity"] = (
        None
        if fleet is None or not fleet.servers
        else {
            "memory_mb": fleet.memory_mb,
            "gpu_memory_mb": fleet.gpu_memory_mb,
            "cpu_cores": fleet.cpu_cores,
            "servers": len(fleet.servers),
            "gpus": sum(len(s.gpus) for s in fleet.servers),
        }
    )
    return result


def sla_statistics(specs: list[ModelSpec]) -> dict[str, Any]:
    """Per-model SLA rows plus mean/min/max of latency, throughput and availability."""
    rows: list[dict[str, Any]] = [
        {
            "ref": spec.ref,
            "domain": spec.domain,
            "max_latency_p99_ms": spec.sla_requirements.max_latency_p99_ms,
            "min_throughput_rps": spec.sla_requirements.min_throughput_rps,
            "availability": spec.sla_requirements.availability,
        }
        for spec in specs
    ]

    def stats(key: str) -> dict[str, float] | None:
        values = [row[key] for row in rows]
        if not values:
            return None
        return {"mean": statistics.fmean(values), "min": min(values), "max": max(values)}

    return {
        "models": rows,
        "latency_p99_ms": stats("max_latency_p99_ms"),
        "throughput_rps": stats("min_throughput_rps"),
        "availability": stats("availability"),
        "strictest_latency": min(rows, key=lambda r: r["max_latency_p99_ms"])["ref"]
        if rows
        else None,
        "highest_throughput": max(rows, key=lambda r: r["min_throughput_rps"])["ref"]
        if rows
        else None,
    }
