"""The arithmetic of a measurement, pure: percentiles, Triton statistics deltas,
Prometheus counters, ensemble step shares, SLA verdicts and memory drift.

Nothing here reads a clock or speaks to a server; perf/load.py and perf/measure.py
collect the raw numbers and hand them in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_serializer

from modelyard.catalog.spec import Resources, Sla

# Triton's per-request phases (`inference_stats` of GET v2/models/<m>/stats).
PHASES = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks, as
    numpy's default; ValueError on no values."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not between 0 and 100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class LatencySummary:
    """Client-side latencies of `requests` requests, in milliseconds."""

    requests: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float

    @classmethod
    def of(cls, latencies_s: Sequence[float]) -> LatencySummary:
        ms = [v * 1000 for v in latencies_s]
        return cls(
            len(ms),
            percentile(ms, 50),
            percentile(ms, 90),
            percentile(ms, 99),
            sum(ms) / len(ms),
            min(ms),
            max(ms),
        )


# Triton statistics -------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseTotals:
    """Cumulative (count, nanoseconds) per phase of one model, all versions summed."""

    inferences: int
    executions: int
    phases: dict[str, tuple[int, int]]

    @classmethod
    def from_statistics(cls, statistics: Mapping[str, Any], model: str) -> PhaseTotals:
        inferences = executions = 0
        phases = {phase: (0, 0) for phase in PHASES}
        for entry in statistics.get("model_stats", []):
            if entry.get("name") != model:
                continue
            inferences += int(entry.get("inference_count", 0))
            executions += int(entry.get("execution_count", 0))
            for phase in PHASES:
                value = entry.get("inference_stats", {}).get(phase, {})
                count, ns = phases[phase]
                phases[phase] = (count + int(value.get("count", 0)), ns + int(value.get("ns", 0)))
        return cls(inferences, executions, phases)

    def minus(self, before: PhaseTotals) -> ServerTimes:
        """What happened between `before` and this reading, per request."""
        count = self.phases["success"][0] - before.phases["success"][0]

        def per_request_ms(phase: str) -> float:
            spent = self.phases[phase][1] - before.phases[phase][1]
            return spent / count / 1e6 if count else 0.0

        return ServerTimes(
            requests=count,
            failed=self.phases["fail"][0] - before.phases["fail"][0],
            executions=self.executions - before.executions,
            request_ms=per_request_ms("success"),
            queue_ms=per_request_ms("queue"),
            compute_input_ms=per_request_ms("compute_input"),
            compute_infer_ms=per_request_ms("compute_infer"),
            compute_output_ms=per_request_ms("compute_output"),
        )


class ServerTimes(BaseModel):
    """Triton's own view of the requests of one measurement, averages per request (ms).

    `request_ms` is Triton's end-to-end time inside the server; the rest of the
    client-side latency is HTTP, (de)serialisation and the client itself. JSON rounds
    the times to 4 decimals."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests: int
    failed: int
    executions: int
    request_ms: float
    queue_ms: float
    compute_input_ms: float
    compute_infer_ms: float
    compute_output_ms: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def compute_ms(self) -> float:
        return self.compute_input_ms + self.compute_infer_ms + self.compute_output_ms

    @field_serializer(
        "request_ms",
        "queue_ms",
        "compute_input_ms",
        "compute_infer_ms",
        "compute_output_ms",
        "compute_ms",
    )
    def _rounded(self, value: float) -> float:
        return round(value, 4)


class StepShare(BaseModel):
    """One ensemble step: Triton's time per ensemble request in the step model, and its
    share of the ensemble's end-to-end server time (JSON: rounded to 4 decimals)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    requests: int
    request_ms: float
    queue_ms: float
    compute_ms: float
    share: float

    @field_serializer("request_ms", "queue_ms", "compute_ms", "share")
    def _rounded(self, value: float) -> float:
        return round(value, 4)


def step_shares(ensemble: ServerTimes, steps: Mapping[str, ServerTimes]) -> list[StepShare]:
    """Each step's time per ensemble request, and its share of the ensemble's time.

    A step model may run more (or less) often than the ensemble (shared with other
    callers, or skipped); its total time is spread over the ensemble's requests. Shares
    need not add up to 1: steps can run in parallel, and the ensemble scheduler adds
    its own overhead.
    """
    shares = []
    for model, times in steps.items():
        if ensemble.requests == 0:
            shares.append(
                StepShare(
                    model=model,
                    requests=times.requests,
                    request_ms=0.0,
                    queue_ms=0.0,
                    compute_ms=0.0,
                    share=0.0,
                )
            )
            continue
        scale = times.requests / ensemble.requests
        per_request = times.request_ms * scale
        shares.append(
            StepShare(
                model=model,
                requests=times.requests,
                request_ms=per_request,
                queue_ms=times.queue_ms * scale,
                compute_ms=times.compute_ms * scale,
                share=per_request / ensemble.request_ms if ensemble.request_ms else 0.0,
            )
        )
    return shares


# Prometheus ---------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

MetricSamples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_prometheus(text: str) -> MetricSamples:
    """Samples of Prometheus' text exposition format: (name, labels) -> value."""
    samples: MetricSamples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, _, labels, value = match.groups()
        try:
            number = float(value)
        except ValueError:
            continue
        samples[(name, frozenset(_LABEL.findall(labels or "")))] = number
    return samples


class MetricTimes(BaseModel):
    """Queue and compute time per request from Triton's metrics endpoint (counters in µs;
    JSON: ms rounded to 4 decimals)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests: int
    queue_ms: float
    compute_infer_ms: float
    request_ms: float

    @field_serializer("queue_ms", "compute_infer_ms", "request_ms")
    def _rounded(self, value: float) -> float:
        return round(value, 4)


def metric_times(
    before: MetricSamples, after: MetricSamples, model: str, version: int | None
) -> MetricTimes | None:
    """The model's counter deltas between two scrapes; None if it has no samples."""

    def total(samples: MetricSamples, name: str) -> float | None:
        found = [
            value
            for (metric, labels), value in samples.items()
            if metric == name
            and ("model", model) in labels
            and (version is None or ("version", str(version)) in labels)
        ]
        return sum(found) if found else None

    def delta(name: str) -> float:
        return (total(after, name) or 0.0) - (total(before, name) or 0.0)

    if total(after, "nv_inference_request_success") is None:
        return None
    count = int(delta("nv_inference_request_success"))
    scale = 1 / count / 1000 if count else 0.0
    return MetricTimes(
        requests=count,
        queue_ms=delta("nv_inference_queue_duration_us") * scale,
        compute_infer_ms=delta("nv_inference_compute_infer_duration_us") * scale,
        request_ms=delta("nv_inference_request_duration_us") * scale,
    )


# Levels and SLA verdicts -------------------------------------------------------------


class LevelResult(BaseModel):
    """One concurrency level: the measured requests (warm-up excluded) and what Triton saw.

    JSON: `requests` and `latency_ms` (rounded to 3 decimals) from `latency`, and
    `warmup` with the warm-up's requests and mean."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    concurrency: int
    latency: LatencySummary | None = Field(exclude=True)
    throughput_rps: float
    duration_s: float
    errors: int
    stopped_by: str  # "requests" | "time"
    warmup_requests: int = Field(exclude=True)
    warmup_mean_ms: float | None = Field(exclude=True)
    server: ServerTimes | None = None
    metrics: MetricTimes | None = None
    steps: list[StepShare] = Field(default_factory=list)
    error_samples: list[str] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def requests(self) -> int:
        return self.latency.requests if self.latency else 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def latency_ms(self) -> dict[str, float] | None:
        if self.latency is None:
            return None
        return {k: round(v, 3) for k, v in asdict(self.latency).items() if k != "requests"}

    @computed_field  # type: ignore[prop-decorator]
    @property
    def warmup(self) -> dict[str, int | float | None]:
        mean = self.warmup_mean_ms
        return {
            "requests": self.warmup_requests,
            "mean_ms": round(mean, 3) if mean is not None else None,
        }

    @field_serializer("throughput_rps", "duration_s")
    def _rounded(self, value: float) -> float:
        return round(value, 3)


@dataclass(frozen=True)
class LevelFigures:
    """The figures of a level that SLA verdicts need (also read back from the store)."""

    concurrency: int
    requests: int
    p99_ms: float
    throughput_rps: float

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LevelFigures | None:
        latency = data.get("latency_ms")
        if not latency or not data.get("requests"):
            return None
        return cls(
            int(data["concurrency"]),
            int(data["requests"]),
            float(latency["p99_ms"]),
            float(data["throughput_rps"]),
        )


class SlaCheck(BaseModel):
    """One SLA target against a measurement: the figure, the verdict and the margin
    (positive: room left; negative: missed by). JSON rounds the figures."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: str  # "latency_p99" | "throughput"
    declared: int | float  # as the SLA gives it (its defaults are ints)
    measured: float
    unit: str
    passed: bool
    margin: float
    concurrency: int
    requests: int
    note: str = ""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def margin_pct(self) -> float:
        return 100 * self.margin / self.declared if self.declared else 0.0

    @field_serializer("measured", "margin")
    def _rounded(self, value: float) -> float:
        return round(value, 3)

    @field_serializer("margin_pct")
    def _rounded_pct(self, value: float) -> float:
        return round(value, 1)

    def describe(self) -> str:
        verb = "meets" if self.passed else "misses"
        word = "p99 latency" if self.target == "latency_p99" else "throughput"
        return (
            f"{word} {self.measured:,.2f} {self.unit} {verb} the declared "
            f"{self.declared:g} {self.unit} (margin {self.margin:+,.2f} {self.unit}, "
            f"{self.margin_pct:+.0f}%; concurrency {self.concurrency}, "
            f"{self.requests} requests)" + (f"; {self.note}" if self.note else "")
        )


def check_sla(levels: Iterable[LevelFigures], sla: Sla) -> list[SlaCheck]:
    """Verdicts for the latency and the throughput target.

    An SLA is a pair: serve `min_throughput_rps` with a p99 within `max_latency_p99_ms`.
    So the latency figure is the best p99 among the levels that reach the throughput
    target (all levels if none does), and the throughput figure the best throughput
    among the levels whose p99 is within budget: 0 if none is, since no load was
    served within the budget (the note gives the best throughput at any latency).
    """
    measured = [level for level in levels if level.requests]
    if not measured:
        return []
    budget, needed = sla.max_latency_p99_ms, sla.min_throughput_rps
    fast_enough = [lv for lv in measured if lv.throughput_rps >= needed]
    latency_pool = fast_enough or measured
    best_latency = min(latency_pool, key=lambda lv: (lv.p99_ms, lv.concurrency))
    within = [lv for lv in measured if lv.p99_ms <= budget]
    best_throughput = max(within or measured, key=lambda lv: (lv.throughput_rps, -lv.concurrency))
    served = best_throughput.throughput_rps if within else 0.0
    return [
        SlaCheck(
            target="latency_p99",
            declared=budget,
            measured=best_latency.p99_ms,
            unit="ms",
            passed=best_latency.p99_ms <= budget,
            margin=budget - best_latency.p99_ms,
            concurrency=best_latency.concurrency,
            requests=best_latency.requests,
            note="" if fast_enough else f"no level reached {needed:g} rps",
        ),
        SlaCheck(
            target="throughput",
            declared=needed,
            measured=served,
            unit="rps",
            passed=bool(within) and served >= needed,
            margin=served - needed,
            concurrency=best_throughput.concurrency,
            requests=best_throughput.requests,
            note=""
            if within
            else f"no level had a p99 within {budget:g} ms; the best "
            f"throughput at any latency was {best_throughput.throughput_rps:,.1f} rps",
        ),
    ]


# Memory -------------------------------------------------------------------------------

MB = 1024 * 1024


class MemoryDrift(BaseModel):
    """Measured memory per instance against the declaration.

    `memory_mb` is the larger of the instances' process memory (resident set of the
    backend's stub processes) and Triton's `memory_usage` for CPU and pinned memory,
    spread over the instances; `gpu_memory_mb` is Triton's GPU `memory_usage` spread
    over the instances, None where Triton reported none (a CPU-only server, or a
    backend that does not report it).

    JSON (what the catalog keeps, read back by `from_dict`): `declared`, `measured` and
    `drift`, each with `memory_mb` and `gpu_memory_mb`, MB rounded to 2 decimals.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True)

    instances: int
    declared_memory_mb: int = Field(exclude=True)
    declared_gpu_memory_mb: int = Field(exclude=True)
    memory_mb: float | None = Field(exclude=True)
    gpu_memory_mb: float | None = Field(exclude=True)
    process_rss_mb: list[float]
    triton_memory_usage: dict[str, int] = Field(serialization_alias="triton_memory_usage_bytes")

    @property
    def memory_drift_mb(self) -> float | None:
        return None if self.memory_mb is None else self.memory_mb - self.declared_memory_mb

    @property
    def gpu_memory_drift_mb(self) -> float | None:
        return (
            None if self.gpu_memory_mb is None else self.gpu_memory_mb - self.declared_gpu_memory_mb
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def declared(self) -> dict[str, int]:
        return {"memory_mb": self.declared_memory_mb, "gpu_memory_mb": self.declared_gpu_memory_mb}

    @computed_field  # type: ignore[prop-decorator]
    @property
    def measured(self) -> dict[str, float | None]:
        return {"memory_mb": _mb(self.memory_mb), "gpu_memory_mb": _mb(self.gpu_memory_mb)}

    @computed_field  # type: ignore[prop-decorator]
    @property
    def drift(self) -> dict[str, float | None]:
        return {
            "memory_mb": _mb(self.memory_drift_mb),
            "gpu_memory_mb": _mb(self.gpu_memory_drift_mb),
        }

    @computed_field  # type: ignore[prop-decorator]
    @property
    def over_declared(self) -> list[str]:
        """The resources (`memory_mb`, `gpu_memory_mb`) measured above their declaration."""
        over = []
        if self.memory_drift_mb is not None and self.memory_drift_mb > 0:
            over.append("memory_mb")
        if self.gpu_memory_drift_mb is not None and self.gpu_memory_drift_mb > 0:
            over.append("gpu_memory_mb")
        return over

    @field_serializer("process_rss_mb")
    def _rounded(self, values: list[float]) -> list[float]:
        return [round(v, 2) for v in values]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MemoryDrift:
        """A drift from its JSON form (a stored memory measurement's summary)."""
        return cls(
            instances=int(data["instances"]),
            declared_memory_mb=int(data["declared"]["memory_mb"]),
            declared_gpu_memory_mb=int(data["declared"]["gpu_memory_mb"]),
            memory_mb=data["measured"]["memory_mb"],
            gpu_memory_mb=data["measured"]["gpu_memory_mb"],
            process_rss_mb=list(data.get("process_rss_mb", [])),
            triton_memory_usage=dict(data.get("triton_memory_usage_bytes", {})),
        )


def _mb(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def memory_usage_bytes(
    statistics: Mapping[str, Any], model: str, version: int | None
) -> dict[str, int]:
    """Triton's `memory_usage` of a model (bytes by type: CPU, CPU_PINNED, GPU)."""
    totals: dict[str, int] = {}
    for entry in statistics.get("model_stats", []):
        if entry.get("name") != model or (
            version is not None and str(entry.get("version")) != str(version)
        ):
            continue
        for usage in entry.get("memory_usage", []) or []:
            kind = str(usage.get("type", "CPU"))
            totals[kind] = totals.get(kind, 0) + int(usage.get("byte_size", 0))
    return totals


def memory_drift(
    resources: Resources,
    instances: int,
    process_rss_bytes: Sequence[int],
    triton_usage: Mapping[str, int],
) -> MemoryDrift:
    """Compare measured memory with `resources` (declared per instance)."""
    count = max(1, instances)
    host_reported = triton_usage.get("CPU", 0) + triton_usage.get("CPU_PINNED", 0)
    candidates = [rss / MB for rss in process_rss_bytes]
    if host_reported:
        candidates.append(host_reported / MB / count)
    gpu = triton_usage.get("GPU")
    return MemoryDrift(
        instances=count,
        declared_memory_mb=resources.memory_mb,
        declared_gpu_memory_mb=resources.gpu_memory_mb,
        memory_mb=max(candidates) if candidates else None,
        gpu_memory_mb=gpu / MB / count if gpu else None,
        process_rss_mb=[rss / MB for rss in process_rss_bytes],
        triton_memory_usage=dict(triton_usage),
    )
