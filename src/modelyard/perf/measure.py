"""One `modelyard perf` run: load at each concurrency level, Triton's own figures around
it, the memory of the model's instances, and the verdicts against the declared SLA."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_serializer

from modelyard.catalog.spec import Resources, Sla
from modelyard.errors import InputError, TritonError
from modelyard.perf.figures import (
    LatencySummary,
    LevelFigures,
    LevelResult,
    MemoryDrift,
    MetricSamples,
    PhaseTotals,
    SlaCheck,
    check_sla,
    memory_drift,
    memory_usage_bytes,
    metric_times,
    parse_prometheus,
    step_shares,
)
from modelyard.perf.load import LoadProgress, client_overhead_s, run_level
from modelyard.perf.processes import stub_processes
from modelyard.store.timestamps import Timestamp
from modelyard.triton.client import TritonClient, read_metrics
from modelyard.triton.inputs import RequestInputs, request_inputs

MAX_CONCURRENCY = 256


@dataclass(frozen=True)
class PerfOptions:
    """How hard and how long to measure. Each level ends at `max_requests` measured
    requests or after `duration_s`, whichever comes first."""

    concurrency: tuple[int, ...] = (1, 2, 4, 8)
    duration_s: float = 10.0
    max_requests: int = 1000
    warmup_requests: int = 20
    timeout_s: float = 30.0
    overhead_samples: int = 20

    def __post_init__(self) -> None:
        if not self.concurrency or any(not 1 <= c <= MAX_CONCURRENCY for c in self.concurrency):
            raise InputError(
                f"--concurrency: expected levels between 1 and {MAX_CONCURRENCY}, "
                f"got {list(self.concurrency)}"
            )
        if self.duration_s <= 0:
            raise InputError(f"--duration: expected a positive duration, got {self.duration_s:g} s")
        if self.max_requests < 1:
            raise InputError(f"--requests: expected at least 1, got {self.max_requests}")
        if self.warmup_requests < 0:
            raise InputError(f"--warmup: expected 0 or more, got {self.warmup_requests}")


@dataclass(frozen=True)
class PerfSubject:
    """The model version to measure, where it is served, and what it declares."""

    target: str
    url: str
    repository: Path
    model_id: str
    version: str
    triton_name: str
    triton_version: int
    sla: Sla
    resources: Resources
    examples: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    metrics_url: str | None = None


class PerfReport(BaseModel):
    """Everything one run measured, with the verdicts.

    JSON: the subject's model, version, target and Triton name, the options that shape
    the load, the SLA, then the figures; `perf_summary` is the part the catalog keeps.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True)

    ok: bool = True
    subject: PerfSubject = Field(exclude=True)
    measured_at: Timestamp
    options: PerfOptions = Field(exclude=True)
    client_overhead_ms: float
    levels: list[LevelResult]
    checks: list[SlaCheck]
    memory: MemoryDrift | None
    steps: list[str] = Field(serialization_alias="ensemble_steps")
    notes: list[str] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def model(self) -> str:
        return self.subject.model_id

    @computed_field  # type: ignore[prop-decorator]
    @property
    def version(self) -> str:
        return self.subject.version

    @computed_field  # type: ignore[prop-decorator]
    @property
    def target(self) -> str:
        return self.subject.target

    @computed_field  # type: ignore[prop-decorator]
    @property
    def triton_name(self) -> str:
        return self.subject.triton_name

    @computed_field  # type: ignore[prop-decorator]
    @property
    def triton_version(self) -> int:
        return self.subject.triton_version

    @computed_field  # type: ignore[prop-decorator]
    @property
    def url(self) -> str:
        return self.subject.url

    @computed_field(alias="options")  # type: ignore[prop-decorator]
    @property
    def load(self) -> dict[str, Any]:
        """The options that shape the load (JSON: `options`)."""
        return {
            "concurrency": list(self.options.concurrency),
            "duration_s": self.options.duration_s,
            "max_requests": self.options.max_requests,
            "warmup_requests": self.options.warmup_requests,
        }

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sla(self) -> dict[str, Any]:
        return self.subject.sla.model_dump()

    @field_serializer("client_overhead_ms")
    def _rounded(self, value: float) -> float:
        return round(value, 4)

    def perf_summary(self) -> dict[str, Any]:
        """What the catalog keeps of the run (measurements.summary_json, kind perf)."""
        return self.model_dump(mode="json", exclude=_NOT_SUMMARISED)


# What `perf_summary` leaves out: the measurement row has these (or memory has its own).
_NOT_SUMMARISED = {"ok", "model", "version", "target", "measured_at", "memory"}


def measure(
    subject: PerfSubject,
    options: PerfOptions,
    *,
    measured_at: datetime,
    progress: LoadProgress | None = None,
) -> PerfReport:
    """Measure `subject` on its server at every concurrency level of `options`.

    Raises:
        TritonError: the server does not answer, or the version is not READY on it.
    """
    name, version = subject.triton_name, subject.triton_version
    notes: list[str] = []
    with TritonClient(subject.url, timeout_s=options.timeout_s) as client:
        if not client.is_ready(name, version):
            raise TritonError(
                f"model {name} version {version} ({subject.model_id}@"
                f"{subject.version}) is not READY on target {subject.target!r} "
                f"({subject.url}); deploy it first: modelyard deploy --target "
                f"{subject.target}"
            )
        config = client.config(name)
        inputs = request_inputs(config, subject.examples)
        steps = _ensemble_steps(config)
        overhead_s = client_overhead_s(client, options.overhead_samples)
        metrics_url = subject.metrics_url
        if metrics_url is not None:
            try:
                read_metrics(metrics_url)
            except TritonError as exc:
                notes.append(f"no queue/compute figures from the metrics endpoint: {exc.message}")
                metrics_url = None
        levels = []
        for concurrency in options.concurrency:
            levels.append(
                _measure_level(
                    client, subject, options, concurrency, inputs, steps, metrics_url, progress
                )
            )
        memory = None
        if steps:
            notes.append("an ensemble has no instances of its own; see its steps for memory")
        else:
            memory = _memory(client, subject, config)
            if memory.memory_mb is None and memory.gpu_memory_mb is None:
                notes.append(
                    "no memory figure: Triton reported no memory_usage and no "
                    "backend process of the model runs on this machine"
                )
    figures = [
        LevelFigures(lv.concurrency, lv.latency.requests, lv.latency.p99_ms, lv.throughput_rps)
        for lv in levels
        if lv.latency
    ]
    return PerfReport(
        subject=subject,
        measured_at=measured_at,
        options=options,
        client_overhead_ms=overhead_s * 1000,
        levels=levels,
        checks=check_sla(figures, subject.sla),
        memory=memory,
        steps=steps,
        notes=notes,
    )


def _measure_level(
    client: TritonClient,
    subject: PerfSubject,
    options: PerfOptions,
    concurrency: int,
    inputs: RequestInputs,
    steps: list[str],
    metrics_url: str | None,
    progress: LoadProgress | None,
) -> LevelResult:
    name, version = subject.triton_name, subject.triton_version
    before: dict[str, PhaseTotals] = {}
    scraped: list[MetricSamples] = []

    def snapshot() -> None:
        before[name] = PhaseTotals.from_statistics(client.statistics(name, version), name)
        for step in steps:
            before[step] = PhaseTotals.from_statistics(client.statistics(step), step)
        if metrics_url is not None:
            scraped.append(parse_prometheus(read_metrics(metrics_url)))

    def report(phase: str, done: int, planned: int) -> None:
        if progress is not None:
            progress(f"concurrency {concurrency}: {phase}", done, planned)

    raw = run_level(
        subject.url,
        name,
        version,
        inputs,
        concurrency=concurrency,
        max_requests=options.max_requests,
        duration_s=options.duration_s,
        warmup_requests=options.warmup_requests,
        timeout_s=options.timeout_s,
        progress=report,
        before_measuring=snapshot,
    )
    server = PhaseTotals.from_statistics(client.statistics(name, version), name).minus(before[name])
    step_times = {
        step: PhaseTotals.from_statistics(client.statistics(step), step).minus(before[step])
        for step in steps
    }
    metrics = None
    if metrics_url is not None and scraped:
        metrics = metric_times(
            scraped[0], parse_prometheus(read_metrics(metrics_url)), name, version
        )
    warmup = raw.warmup_latencies_s
    return LevelResult(
        concurrency=concurrency,
        latency=LatencySummary.of(raw.latencies_s),
        throughput_rps=raw.throughput_rps,
        duration_s=raw.window_s,
        errors=raw.errors,
        stopped_by=raw.stopped_by,
        warmup_requests=len(warmup),
        warmup_mean_ms=1000 * sum(warmup) / len(warmup) if warmup else None,
        server=server,
        metrics=metrics,
        steps=step_shares(server, step_times) if steps else [],
        error_samples=raw.error_samples,
    )


def _ensemble_steps(config: Mapping[str, Any]) -> list[str]:
    if config.get("platform") != "ensemble":
        return []
    steps = config.get("ensemble_scheduling", {}).get("step", [])
    return list(dict.fromkeys(str(step["model_name"]) for step in steps))


def _memory(client: TritonClient, subject: PerfSubject, config: Mapping[str, Any]) -> MemoryDrift:
    groups = config.get("instance_group") or []
    instances = sum(int(group.get("count", 1)) for group in groups) or 1
    return measure_memory(
        client,
        Path(subject.repository),
        subject.triton_name,
        subject.triton_version,
        subject.resources,
        instances,
    )


def measure_memory(
    client: TritonClient,
    repository: Path | None,
    name: str,
    version: int,
    resources: Resources,
    instances: int,
) -> MemoryDrift:
    """The memory of a loaded model version's instances against `resources`: Triton's
    `memory_usage` (GPU where the backend reports it) and the resident sets of its
    backend processes on this machine (`repository`: the folder Triton serves; None
    where it is no local folder); a figure neither gives stays None."""
    usage = memory_usage_bytes(client.statistics(name, version), name, version)
    processes = stub_processes(repository, name, version) if repository else {}
    return memory_drift(resources, instances, sorted(processes.values()), usage)
