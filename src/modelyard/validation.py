"""Catalog validation: everything that needs several models (or the fleet) to judge.

A single manifest's own fields are checked when it is loaded; here come the checks
across models, each returning `Problem`s, all of them collected:

- dependencies: missing, unsatisfiable, cycles (errors);
- capacity against the fleet in `modelyard.yaml` (errors above capacity, warnings
  above 80%); with no fleet, what the catalog needs, as information;
- SLA latency: the p99 budgets along a model's longest dependency chain must fit
  inside its own p99 (warning, with the chain and the overrun);
- SLA availability: a model that needs all its dependencies cannot be more available
  than their product (warning, with the weakest chain);
- SLA throughput: a dependency must sustain what its direct dependents declare;
- the seed notebook's naming convention (lower_snake_case names) and SLA sanity;
- deprecated versions in the selection (warning, naming who needs them); a yanked
  version is never selected, and an alias left on one is an error of the selection.

`strict` turns every warning into an error.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from modelyard.catalog.naming import is_conventional_name
from modelyard.catalog.spec import ModelSpec, range_problems, within_ranges
from modelyard.errors import Problem, Severity
from modelyard.placement.fleet import Fleet, Server
from modelyard.placement.solver import demands_from_specs, place
from modelyard.selection import CatalogView
from modelyard.triton.compiler import CompilePlan, plan_compile

HIGH_UTILISATION = 0.8
VERY_STRICT_LATENCY_MS = 10
VERY_HIGH_AVAILABILITY = 0.9999


class ValidationReport(BaseModel):
    """Every finding about a selection, errors first; `ok` when there is no error."""

    # Every key is always in the JSON, so the response schema requires each of them.
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        serialize_by_alias=True,
        json_schema_serialization_defaults_required=True,
    )

    models: int
    strict: bool = False
    needs: dict[str, Any] = Field(default_factory=dict)
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.WARNING]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return not self.errors

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> Literal["healthy", "needs_attention", "invalid"]:
        if not self.ok:
            return "invalid"
        return "needs_attention" if self.warnings else "healthy"

    @computed_field(alias="errors")  # type: ignore[prop-decorator]
    @property
    def error_count(self) -> int:
        return len(self.errors)

    @computed_field(alias="warnings")  # type: ignore[prop-decorator]
    @property
    def warning_count(self) -> int:
        return len(self.warnings)


def validate_view(
    view: CatalogView,
    fleet: Fleet | None = None,
    *,
    strict: bool = False,
    local: Server | None = None,
    compiled: CompilePlan | None = None,
) -> ValidationReport:
    """Run every cross-model check over a selection.

    `compiled` is the selection's production compile when the caller has one already
    (with artifacts verified); otherwise it is compiled here.
    """
    problems = view.problems()
    is_acyclic = not any(p.code == "cycle" for p in problems)
    out_of_range = _out_of_range(view.specs)
    problems += out_of_range
    if out_of_range:
        # Versions stored before their ranges were checked: their numbers are moved to
        # the nearest bound for the checks below, so that one cannot overflow them all.
        view = dataclasses.replace(
            view, specs={ref: within_ranges(spec) for ref, spec in view.specs.items()}
        )
    specs = view.specs
    problems += list(_naming(specs))
    problems += list(_deprecated(view))
    needs = catalog_needs(specs.values())
    problems += list(_capacity(needs, fleet))
    if (fleet is None or not fleet.servers) and local is not None:
        problems += list(_local_machine(needs, local))
    if fleet is not None and fleet.servers:
        problems += _placement(view, fleet)
    if is_acyclic:
        problems += list(_latency_chains(view))
        problems += list(_availability(view))
    problems += list(_throughput(view))
    problems += list(_sla_sanity(specs))
    if is_acyclic and not view.resolution.problems:
        problems += (compiled or _triton(view)).all_problems()
    if strict:
        problems = [
            Problem(
                Severity.ERROR, p.code, p.message, p.model, p.source, p.line, p.field, p.details
            )
            if p.severity is Severity.WARNING
            else p
            for p in problems
        ]
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    problems.sort(key=lambda p: (order[p.severity], p.code, p.model or ""))
    return ValidationReport(problems=problems, models=len(specs), strict=strict, needs=needs)


def _out_of_range(specs: dict[str, ModelSpec]) -> list[Problem]:
    """Numbers outside their documented range, and examples that do not fit their
    tensor, in versions registered before registration checked them."""
    return [
        Problem(
            Severity.ERROR,
            "out-of-range",
            f"{reason}; this version was registered before modelyard checked that, so "
            "register a new version that fixes it"
            + (
                " (until then capacity and reports count the nearest bound)"
                if field.startswith(("resource_requirements.", "sla_requirements."))
                else ""
            ),
            model=ref,
            field=field,
        )
        for ref, spec in specs.items()
        for field, reason in range_problems(spec)
    ]


def catalog_needs(specs: Any) -> dict[str, Any]:
    """Totals and largest single instance per resource (instances counted)."""
    totals = {"gpu_memory_mb": 0, "memory_mb": 0, "cpu_cores": 0.0, "instances": 0}
    largest: dict[str, tuple[float, str | None]] = {
        "gpu_memory_mb": (0, None),
        "memory_mb": (0, None),
        "cpu_cores": (0, None),
    }
    for spec in specs:
        resources = spec.resource_requirements
        count = spec.declared_instances
        totals["instances"] += count
        for key in ("gpu_memory_mb", "memory_mb", "cpu_cores"):
            value = getattr(resources, key)
            totals[key] += value * count
            if value > largest[key][0]:
                largest[key] = (value, spec.ref)
    return {
        "total": totals,
        "largest": {k: {"value": v, "model": m} for k, (v, m) in largest.items()},
    }


def _naming(specs: dict[str, ModelSpec]) -> Iterator[Problem]:
    for ref, spec in specs.items():
        for key, value in (("name", spec.name), ("domain", spec.domain)):
            if not is_conventional_name(value):
                yield Problem(
                    Severity.WARNING,
                    "naming",
                    f"{key} {value!r} does not follow the convention lower_snake_case "
                    "starting with a letter (e.g. 'user_embedding')",
                    model=ref,
                    field=key,
                )


def _deprecated(view: CatalogView) -> Iterator[Problem]:
    for ref, entry in view.resolution.entries.items():
        if entry.deprecated is None:
            continue
        needed_by = view.graph.dependents(ref)
        by = f"; needed by {', '.join(sorted(needed_by))}" if needed_by else ""
        yield Problem(
            Severity.WARNING,
            "deprecated",
            f"{ref} is deprecated ({entry.deprecated}){by}; move to another version "
            "(`modelyard show " + entry.model_id + "` lists them)",
            model=ref,
            details={"reason": entry.deprecated, "needed_by": sorted(needed_by)},
        )


_RESOURCES = (
    ("gpu_memory_mb", "GPU memory", "MB", "gpu_memory_mb", "largest_gpu_mb", "GPU"),
    ("memory_mb", "host memory", "MB", "memory_mb", "largest_server_memory_mb", "server"),
    ("cpu_cores", "CPU cores", "cores", "cpu_cores", "largest_server_cpu_cores", "server"),
)


def _capacity(needs: dict[str, Any], fleet: Fleet | None) -> Iterator[Problem]:
    total = needs["total"]
    largest = needs["largest"]
    if fleet is None or not fleet.servers:
        summary = ", ".join(
            f"{label} {_num(total[key])} {unit}"
            + (
                f" (largest: {_num(largest[key]['value'])} {unit} by {largest[key]['model']})"
                if largest[key]["model"]
                else ""
            )
            for key, label, unit, *_ in _RESOURCES
        )
        yield Problem(
            Severity.INFO,
            "capacity-needs",
            f"no fleet declared in modelyard.yaml; the selection needs {summary}",
            details=needs,
        )
        return
    for key, label, unit, fleet_total_attr, fleet_largest_attr, holder in _RESOURCES:
        capacity = getattr(fleet, fleet_total_attr)
        need = total[key]
        if need > capacity:
            yield Problem(
                Severity.ERROR,
                "capacity",
                f"the selection needs {_num(need)} {unit} of {label}, the fleet has "
                f"{_num(capacity)} {unit} (short by {_num(need - capacity)} {unit})",
                field=f"resource_requirements.{key}",
                details={"resource": key, "need": need, "capacity": capacity},
            )
        elif capacity and need > HIGH_UTILISATION * capacity:
            yield Problem(
                Severity.WARNING,
                "capacity-high",
                f"the selection needs {_num(need)} of {_num(capacity)} {unit} of {label} "
                f"({need / capacity:.0%}, above {HIGH_UTILISATION:.0%})",
                field=f"resource_requirements.{key}",
                details={"resource": key, "need": need, "capacity": capacity},
            )
        single = largest[key]["value"]
        biggest = getattr(fleet, fleet_largest_attr)
        if single > biggest:
            yield Problem(
                Severity.ERROR,
                "capacity-single",
                f"one instance needs {_num(single)} {unit} of {label}, the largest "
                f"{holder} has {_num(biggest)} {unit} (short by {_num(single - biggest)} {unit})",
                model=largest[key]["model"],
                field=f"resource_requirements.{key}",
                details={"resource": key, "need": single, "largest": biggest},
            )


def _local_machine(needs: dict[str, Any], local: Server) -> Iterator[Problem]:
    """With no fleet declared, how the selection compares with the machine it runs on."""
    total = needs["total"]
    capacity = {
        "gpu_memory_mb": local.gpu_memory_mb,
        "memory_mb": local.memory_mb,
        "cpu_cores": local.cpu_cores,
    }
    short = [
        f"{label} {_num(total[key])} of {_num(capacity[key])} {unit}"
        for key, label, unit, *_ in _RESOURCES
        if total[key] > capacity[key]
    ]
    where = (
        f"this machine ({local.name}: {_num(local.cpu_cores)} cores, "
        f"{_num(local.memory_mb)} MB memory, {len(local.gpus)} GPU(s))"
    )
    message = (
        f"{where} cannot hold the selection: it needs " + ", ".join(short)
        if short
        else f"{where} can hold the selection's totals"
    )
    yield Problem(
        Severity.INFO,
        "capacity-local",
        message,
        details={"server": local.model_dump(mode="json"), "short": short},
    )


def _placement(view: CatalogView, fleet: Fleet) -> list[Problem]:
    """Replicas the fleet cannot hold, by resource and by how much (the solver's words)."""
    placement = place(demands_from_specs(view.specs), fleet)
    return [
        Problem(
            Severity.ERROR,
            "placement",
            str(shortfall),
            model=shortfall.ref,
            field="resource_requirements"
            if shortfall.resource.endswith(("_mb", "cores"))
            else "placement",
            details=shortfall.model_dump(mode="json"),
        )
        for shortfall in placement.unplaced
    ]


def _latency_chains(view: CatalogView) -> Iterator[Problem]:
    specs = view.specs
    for overrun in latency_chain_overruns(
        view, lambda r: specs[r].sla_requirements.max_latency_p99_ms
    ):
        shown = _chain_text(
            overrun,
            lambda r: f"{r} ({_num(specs[r].sla_requirements.max_latency_p99_ms)} ms)",
        )
        yield Problem(
            Severity.WARNING,
            "sla-latency-chain",
            f"its dependencies need {_num(overrun.needed_ms)} ms at p99 along {shown}, "
            f"more than its own budget of {_num(overrun.budget_ms)} ms (over by "
            f"{_num(overrun.overrun_ms)} ms)",
            model=overrun.ref,
            field="sla_requirements.max_latency_p99_ms",
            details={
                "chain": overrun.chain,
                "chain_length": overrun.length,
                "needed_ms": overrun.needed_ms,
                "budget_ms": overrun.budget_ms,
                "overrun_ms": overrun.overrun_ms,
            },
        )


# How many models of a dependency chain a problem names: a deep catalog has a chain
# problem per model, and naming whole chains would make validate quadratic in time and
# memory (a 4,000-model chain: 8 million names).
CHAIN_SHOWN = 8


def _chain_text(overrun: ChainOverrun, label: Callable[[str], str]) -> str:
    shown = " -> ".join(label(r) for r in overrun.chain)
    hidden = overrun.length - len(overrun.chain)
    return shown + (f" -> ... ({hidden} more)" if hidden else "")


@dataclass(frozen=True)
class ChainOverrun:
    """A model whose heaviest dependency chain needs more than its own p99 budget."""

    ref: str
    chain: list[str]  # the model, then its heaviest chain: at most CHAIN_SHOWN models
    needed_ms: float
    budget_ms: float
    length: int  # of the whole chain, the model included

    @property
    def overrun_ms(self) -> float:
        return self.needed_ms - self.budget_ms


def latency_chain_overruns(
    view: CatalogView, p99_ms: Callable[[str], float]
) -> Iterator[ChainOverrun]:
    """Models whose dependencies' p99 along their heaviest chain exceeds the model's own
    declared budget; `p99_ms` gives each model's figure (declared, or measured)."""
    specs = view.specs
    graph = view.graph
    chains = graph.longest_chains(p99_ms)
    for ref, spec in specs.items():
        deps = graph.dependencies(ref)
        if not deps:
            continue
        heaviest = max(deps, key=lambda d: chains.weights[d])
        needed = chains.weights[heaviest]
        budget = spec.sla_requirements.max_latency_p99_ms
        if needed > budget:
            yield ChainOverrun(
                ref,
                [ref] + chains.path(heaviest, limit=CHAIN_SHOWN - 1),
                needed,
                budget,
                1 + chains.length(heaviest),
            )


def _availability(view: CatalogView) -> Iterator[Problem]:
    specs = view.specs
    graph = view.graph

    def unavailability_weight(ref: str) -> float:
        return -math.log(specs[ref].sla_requirements.availability)

    weakest = graph.longest_chains(unavailability_weight)
    # A cheap lower bound on the product: multiply along every path, counting shared
    # dependencies once per path (extra factors <= 1 only lower it). Where even the bound
    # reaches the target, the exact product (a walk of the closure) is not needed.
    lower_bound: dict[str, float] = {}
    for ref in graph.topological_order():
        bound = 1.0
        for dep in graph.dependencies(ref):
            bound *= specs[dep].sla_requirements.availability * lower_bound[dep]
        lower_bound[ref] = bound
    for ref, spec in specs.items():
        target = spec.sla_requirements.availability
        if not graph.dependencies(ref) or lower_bound[ref] >= target:
            continue
        # Needing every dependency, the model is up at most when all are: the product
        # over its whole closure, each shared dependency counted once. Every factor is
        # <= 1, so the walk can stop as soon as the product falls below the target.
        product = 1.0
        counted = 0
        for dep in graph.iter_transitive_dependencies(ref):
            product *= specs[dep].sla_requirements.availability
            counted += 1
            if product < target:
                break
        if product >= target:
            continue
        heaviest = max(graph.dependencies(ref), key=lambda d: weakest.weights[d])
        chain = [ref] + weakest.path(heaviest, limit=CHAIN_SHOWN - 1)
        shown = " -> ".join(f"{r} ({specs[r].sla_requirements.availability:g})" for r in chain)
        hidden = 1 + weakest.length(heaviest) - len(chain)
        shown += f" -> ... ({hidden} more)" if hidden else ""
        yield Problem(
            Severity.WARNING,
            "sla-availability-chain",
            f"needs all its dependencies up, and the availabilities of {counted} of "
            f"them already multiply to {product:.6g}, below its own target {target:g} "
            f"(weakest chain: {shown})",
            model=ref,
            field="sla_requirements.availability",
            details={
                "chain": chain,
                "chain_length": len(chain) + hidden,
                "combined_at_most": product,
                "target": target,
                "dependencies_counted": counted,
            },
        )


def _throughput(view: CatalogView) -> Iterator[Problem]:
    specs = view.specs
    demand: dict[str, float] = defaultdict(float)
    callers: dict[str, list[str]] = defaultdict(list)
    for ref, spec in specs.items():
        for dep in view.graph.dependencies(ref):
            demand[dep] += spec.sla_requirements.min_throughput_rps
            callers[dep].append(ref)
    for dep, needed in demand.items():
        offered = specs[dep].sla_requirements.min_throughput_rps
        if needed > offered:
            yield Problem(
                Severity.WARNING,
                "sla-throughput",
                f"declares {_num(offered)} rps but its dependents "
                f"({', '.join(sorted(callers[dep]))}) declare {_num(needed)} rps together",
                model=dep,
                field="sla_requirements.min_throughput_rps",
                details={
                    "offered_rps": offered,
                    "demand_rps": needed,
                    "dependents": sorted(callers[dep]),
                },
            )


def _sla_sanity(specs: dict[str, ModelSpec]) -> Iterator[Problem]:
    for ref, spec in specs.items():
        sla = spec.sla_requirements
        if sla.max_latency_p99_ms < VERY_STRICT_LATENCY_MS:
            yield Problem(
                Severity.INFO,
                "sla-strict-latency",
                f"p99 of {_num(sla.max_latency_p99_ms)} ms is very strict; "
                "check it against a measurement",
                model=ref,
                field="sla_requirements.max_latency_p99_ms",
            )
        if sla.availability > VERY_HIGH_AVAILABILITY:
            yield Problem(
                Severity.INFO,
                "sla-high-availability",
                f"availability {sla.availability:g} is above {VERY_HIGH_AVAILABILITY:g}; "
                "it needs replicas on separate servers",
                model=ref,
                field="sla_requirements.availability",
            )


def _triton(view: CatalogView) -> CompilePlan:
    """What compiling would refuse: Triton's config rules, ensemble connections, I/O
    against artifacts, name collisions, artifacts missing or changed since registration."""
    return plan_compile(
        view.specs,
        view.triton_versions,
        view.resolution.resolved,
        "production",
        verify_artifacts=True,
    )


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
