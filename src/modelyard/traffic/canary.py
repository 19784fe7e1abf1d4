"""A stepwise canary rollout's plan and the analysis at the end of each step (pure).

A rollout gives the candidate the weights of its steps in turn (`5,25,50,100`); each
step holds its weight for the interval, then compares the candidate with the baseline:

- **Error rate**, from the gateway's per-arm 5xx counters (Triton counts a python
  backend's error answer as a success: TRAFFIC-FACTS.md), cumulated since the rollout
  started. Two checks, either fails the step:
  1. the candidate against the baseline: the two-proportion score test (Fisher's exact
     test for small counts; traffic/statistics.py), judged against the Lan-DeMets
     O'Brien-Fleming boundary of the step's look, information fraction = step number /
     number of steps. Repeating the test at each step therefore keeps the overall
     false-positive rate at alpha (statistics.py names the sources).
  2. the candidate against `max_error_rate`: its Wilson interval (at alpha) lies wholly
     above it. This one is not corrected for repeated looks: it can only fail a
     candidate whose true rate is near the limit. The O'Brien-Fleming boundary is very
     strict at the first look (about 1e-4 at 1/4), so this check is what stops a
     clearly bad candidate at its first, small step.
- **p99 latency**, from Triton's per model+version summaries scraped by Prometheus
  (the gateway sends every arm through one backend, so its response times are not per
  arm): the candidate's p99 against the manifest's `sla_requirements.max_latency_p99_ms`
  and the candidate's mean latency over the step against the baseline's times
  `1 + max_latency_increase` (and at least `min_latency_increase_ms` more). Triton's
  summaries cover a sliding minute, so an older spike of the baseline (a load beside
  it) would hide a slower candidate; the means over the step (`increase()` of Triton's
  duration and success counters over the interval) see the step alone. Neither is a
  distribution test on per-request samples: Triton exports none, and the gateway times
  all arms in one backend.
- **Throughput**: the requests each arm's Triton version completed per second over the
  hold (`increase()` of Triton's success and failure counters), per unit of the weight
  it had. The gateway routes each request by weight, so a healthy candidate completes
  its share; one that queues or drops them completes far less. The step fails when the
  candidate's rate per unit of weight is below the baseline's times
  `1 - max_throughput_drop` (0.5: half). Counting noise at `min_requests` requests is a
  few percent, far inside that margin, so no test is spent on it. At a step where the
  baseline has no weight (100 %), the reference is the baseline's rate per unit of
  weight at the last step it had some (the driver passes it).
- **Memory drift**: the candidate's measured memory per instance against what its
  manifest declares (`resource_requirements.memory_mb`, `gpu_memory_mb`): placement
  packed the server with the declared figures, so a candidate above them by more than
  `max_memory_drift` (0.1: 10 %) can starve its neighbours and fails the step. Host
  memory is the larger of its python-backend stubs' resident sets and Triton's CPU
  `memory_usage`; GPU memory is Triton's GPU `memory_usage` for the version (perf/).
  A figure that could not be measured (no GPU, a backend that reports none, a Triton on
  another host) is reported as not measured and judges nothing.
- Fewer than `min_requests` candidate requests: **inconclusive**, no look is taken (no
  alpha is spent); the step holds one more interval, at most `max_extensions` times, and
  then fails.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

from modelyard.errors import InputError

Outcome = Literal["passed", "failed", "inconclusive"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_steps(text: str) -> list[int]:
    """`5,25,50,100` -> [5, 25, 50, 100]: increasing percents ending in 100."""
    try:
        steps = [int(part) for part in text.split(",")]
    except ValueError:
        raise InputError(
            f"--steps {text!r}: expected increasing percents ending in 100, e.g. 5,25,50,100"
        ) from None
    if any(not 0 < step <= 100 for step in steps):
        raise InputError(f"--steps {text!r}: each step is a percent from 1 to 100")
    if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
        raise InputError(f"--steps {text!r}: the steps must increase, e.g. 5,25,50,100")
    if steps[-1] != 100:
        raise InputError(
            f"--steps {text!r}: the last step must be 100 (the candidate takes every request)"
        )
    return steps


def parse_interval(text: str) -> float:
    """`60s`, `2m`, `500ms`, `5` (seconds) -> seconds, more than 0."""
    match = _DURATION.match(text)
    if match is None:
        raise InputError(f"--interval {text!r}: expected a duration such as 60s, 2m or 500ms")
    seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds <= 0:
        raise InputError(f"--interval {text!r}: a step must hold for more than 0 s")
    return seconds


@dataclass(frozen=True)
class Thresholds:
    """What a step must meet."""

    max_error_rate: float = 0.01
    min_requests: int = 500
    max_extensions: int = 3
    alpha: float = 0.05
    # The candidate's p99 may exceed the baseline's by this share (0.2: 20 %).
    max_latency_increase: float = 0.2
    # A p99 this close to the baseline's is no regression whatever the share (sub-ms
    # latencies of a fast model move by more than 20 % between scrapes).
    min_latency_increase_ms: float = 5.0
    # The manifest's max_latency_p99_ms; None: no latency check.
    sla_p99_ms: float | None = None
    # The candidate's completed requests per unit of weight may fall this share below the
    # baseline's (0.5: half) before the step fails.
    max_throughput_drop: float = 0.5
    # Measured memory may exceed the manifest's declaration by this share (0.1: 10 %).
    max_memory_drift: float = 0.1
    # The candidate's manifest: resource_requirements.memory_mb and gpu_memory_mb per
    # instance (None: no memory check).
    declared_memory_mb: float | None = None
    declared_gpu_memory_mb: float | None = None

    def check(self) -> None:
        if not 0 <= self.max_error_rate < 1:
            raise InputError("--max-error-rate: expected a share from 0 to 1, e.g. 0.01")
        if self.min_requests < 1:
            raise InputError("--min-requests: expected at least 1")
        if self.max_extensions < 0:
            raise InputError("--max-extensions: expected 0 or more")
        if self.max_latency_increase < 0:
            raise InputError("--max-latency-increase: expected a share of 0 or more, e.g. 0.2")
        if not 0 <= self.max_throughput_drop < 1:
            raise InputError("--max-throughput-drop: expected a share from 0 to 1, e.g. 0.5")
        if self.max_memory_drift < 0:
            raise InputError("--max-memory-drift: expected a share of 0 or more, e.g. 0.1")


@dataclass(frozen=True)
class ArmFigures:
    """One arm since the rollout started: requests and 5xx answers counted by the
    gateway, its p99 latency from Triton's summaries and its mean latency over the step
    from Triton's duration counters; over the hold just ended, the share of the weight
    it had and the requests per second Triton completed; its memory per instance now
    (None: not measured)."""

    requests: int
    errors: int
    p99_ms: float | None = None
    mean_ms: float | None = None  # over the step just held
    share: float = 0.0  # of the model's weight, 0 to 1
    throughput_rps: float | None = None  # over the hold just ended
    memory_mb: float | None = None
    gpu_memory_mb: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Analysis:
    """A step's verdict with every figure it used, and the reason in one sentence."""

    outcome: Outcome
    reason: str
    figures: dict[str, Any]


def analyse(
    baseline: ArmFigures,
    candidate: ArmFigures,
    *,
    step: int,
    steps: int,
    extension: int,
    thresholds: Thresholds,
    reference_rps_per_weight: float | None = None,
) -> Analysis:
    """The verdict of step `step` (1-based) of `steps` after `extension` extra intervals.

    `reference_rps_per_weight`: the baseline's completed requests per second per unit of
    weight at the last step it had weight, for a step where it has none.
    """
    figures: dict[str, Any] = {
        "baseline": asdict(baseline),
        "candidate": asdict(candidate),
        "step": step,
        "extension": extension,
    }
    if candidate.requests < thresholds.min_requests:
        figures["min_requests"] = thresholds.min_requests
        few = (
            f"the candidate answered {candidate.requests} requests, fewer than "
            f"--min-requests {thresholds.min_requests}"
        )
        if extension >= thresholds.max_extensions:
            return Analysis(
                "failed", f"{few} after {extension} extensions (--max-extensions)", figures
            )
        return Analysis("inconclusive", f"{few}; holding one more interval", figures)
    # numpy (through the statistics) only once a step is analysed, not in every command
    # that opens a workspace.
    from modelyard.traffic.statistics import compare_proportions, proportion, sequential_test

    fraction = step / steps
    comparison = compare_proportions(
        baseline.errors, baseline.requests, candidate.errors, candidate.requests, thresholds.alpha
    )
    verdict = sequential_test(comparison.p_value, look_fractions(step, steps), thresholds.alpha)
    spent = verdict.nominal_alpha
    interval = proportion(candidate.errors, candidate.requests, alpha=thresholds.alpha)
    figures.update(
        fraction=fraction,
        p_value=comparison.p_value,
        test=comparison.test,
        boundary_p=spent,
        error_rate_low=interval.low,
        max_error_rate=thresholds.max_error_rate,
    )
    errors = (
        f"error rate {candidate.errors}/{candidate.requests} = {candidate.error_rate:.2%} "
        f"vs baseline {baseline.errors}/{baseline.requests} = {baseline.error_rate:.2%} "
        f"({comparison.test} p = {comparison.p_value:.2g}, boundary {spent:.2g} at "
        f"look {step}/{steps})"
    )
    failures = []
    if comparison.effect > 0 and verdict.significant:
        failures.append(f"{errors}: significantly worse than the baseline")
    elif candidate.error_rate > thresholds.max_error_rate and interval.low > (
        thresholds.max_error_rate
    ):
        failures.append(
            f"{errors}: above --max-error-rate {thresholds.max_error_rate:.2%} "
            f"(interval from {interval.low:.2%})"
        )
    latency = _latency(baseline, candidate, thresholds, figures)
    if latency:
        failures.append(f"{latency}; {errors}")
    throughput, slow = _throughput(baseline, candidate, thresholds, reference_rps_per_weight)
    figures["throughput"] = throughput
    if slow:
        failures.append(slow)
    memory, over = _memory(baseline, candidate, thresholds)
    figures["memory"] = memory
    if over:
        failures.append(over)
    if failures:
        return Analysis("failed", "; ".join(failures), figures)
    p99 = (
        f", p99 {candidate.p99_ms:.1f} ms vs baseline {_ms(baseline.p99_ms)}"
        if candidate.p99_ms is not None
        else ""
    )
    return Analysis(
        "passed",
        f"{errors}{p99}; {throughput['summary']}; {memory['summary']}",
        figures,
    )


def _throughput(
    baseline: ArmFigures,
    candidate: ArmFigures,
    thresholds: Thresholds,
    reference: float | None,
) -> tuple[dict[str, Any], str | None]:
    """The throughput figures, and why the candidate fails on them (None: it does not)."""
    from_baseline = (
        baseline.throughput_rps / baseline.share
        if baseline.throughput_rps is not None and baseline.share > 0
        else None
    )
    base_rate = from_baseline if from_baseline is not None else reference
    cand_rate = (
        candidate.throughput_rps / candidate.share
        if candidate.throughput_rps is not None and candidate.share > 0
        else None
    )
    figures: dict[str, Any] = {
        "baseline_rps": baseline.throughput_rps,
        "candidate_rps": candidate.throughput_rps,
        "baseline_share": baseline.share,
        "candidate_share": candidate.share,
        "baseline_rps_per_weight": base_rate,
        "candidate_rps_per_weight": cand_rate,
        "reference": "baseline"
        if from_baseline is not None
        else ("previous step" if reference is not None else None),
        "max_throughput_drop": thresholds.max_throughput_drop,
        "ratio": None,
    }
    if cand_rate is None or base_rate is None or base_rate <= 0:
        missing = "the candidate's" if cand_rate is None else "the baseline's"
        figures["summary"] = f"throughput not measured ({missing} completed requests unknown)"
        return figures, None
    ratio = cand_rate / base_rate
    figures["ratio"] = ratio
    said = (
        f"throughput {_rps(candidate.throughput_rps)} at {candidate.share:.0%} of the weight = "
        f"{cand_rate:.1f} rps per unit of weight vs the "
        f"{'baseline' if from_baseline is not None else 'baseline (previous step)'}'s "
        f"{base_rate:.1f} ({ratio:.0%})"
    )
    figures["summary"] = said
    if ratio < 1 - thresholds.max_throughput_drop:
        return figures, (
            f"{said}: below {1 - thresholds.max_throughput_drop:.0%} of the baseline's "
            "(--max-throughput-drop); the candidate completes far less than its share"
        )
    return figures, None


def _memory(
    baseline: ArmFigures, candidate: ArmFigures, thresholds: Thresholds
) -> tuple[dict[str, Any], str | None]:
    """The memory figures against the declaration, and why the candidate fails on them."""
    limit = 1 + thresholds.max_memory_drift
    figures: dict[str, Any] = {"max_memory_drift": thresholds.max_memory_drift}
    said, over = [], []
    for kind, label, measured, base, declared in (
        (
            "memory_mb",
            "memory",
            candidate.memory_mb,
            baseline.memory_mb,
            thresholds.declared_memory_mb,
        ),
        (
            "gpu_memory_mb",
            "GPU memory",
            candidate.gpu_memory_mb,
            baseline.gpu_memory_mb,
            thresholds.declared_gpu_memory_mb,
        ),
    ):
        drift = measured - declared if measured is not None and declared is not None else None
        figures[kind] = {
            "candidate": measured,
            "baseline": base,
            "declared": declared,
            "drift": drift,
        }
        if measured is None:
            said.append(f"{label} not measured")
            continue
        text = f"{label} {measured:,.1f} MB per instance"
        if declared is not None:
            text += f" of {declared:,.0f} MB declared"
        if base is not None:
            text += f" (baseline {base:,.1f} MB)"
        said.append(text)
        if declared is not None and measured > declared * limit:
            over.append(
                f"{text}: over the manifest's resource_requirements.{kind} by more than "
                f"{thresholds.max_memory_drift:.0%} (--max-memory-drift); declare what it "
                "uses, or fix the candidate"
            )
    figures["summary"] = "; ".join(said)
    return figures, "; ".join(over) or None


def _rps(value: float | None) -> str:
    return f"{value:.1f} rps" if value is not None else "unknown"


def _latency(
    baseline: ArmFigures, candidate: ArmFigures, thresholds: Thresholds, figures: dict[str, Any]
) -> str | None:
    """Why the candidate's latency fails (None: it does not, or no check is asked): its
    p99 over the SLA, or its mean over the step over the baseline's by more than
    `max_latency_increase` (and `min_latency_increase_ms`)."""
    if thresholds.sla_p99_ms is None:
        return None
    figures["sla_p99_ms"] = thresholds.sla_p99_ms
    figures["max_latency_increase"] = thresholds.max_latency_increase
    over_sla = candidate.p99_ms is not None and candidate.p99_ms > thresholds.sla_p99_ms
    over_baseline = (
        candidate.mean_ms is not None
        and baseline.mean_ms is not None
        and candidate.mean_ms > baseline.mean_ms * (1 + thresholds.max_latency_increase)
        and candidate.mean_ms - baseline.mean_ms > thresholds.min_latency_increase_ms
    )
    if not over_sla and not over_baseline:
        return None
    sla = "over" if over_sla else "within"
    versus = "over" if over_baseline else "within"
    return (
        f"p99 {_ms(candidate.p99_ms)} {sla} the SLA {thresholds.sla_p99_ms:g} ms (baseline "
        f"p99 {_ms(baseline.p99_ms)}); mean {_ms(candidate.mean_ms)} {versus} the baseline's "
        f"{_ms(baseline.mean_ms)} + {thresholds.max_latency_increase:.0%}"
    )


def _ms(value: float | None) -> str:
    return f"{value:.1f} ms" if value is not None else "unknown"


def weights_at(step_percent: int, baseline: str, candidate: str) -> list[str]:
    """The `--arm` values of a step: the candidate at its percent, the baseline the rest."""
    return [f"{baseline}={100 - step_percent}", f"{candidate}={step_percent}"]


def look_fractions(step: int, steps: int) -> list[float]:
    """The information fractions of the looks up to step `step` (1-based) of `steps`:
    one look per step, none at an inconclusive one."""
    return [k / steps for k in range(1, step + 1)]
