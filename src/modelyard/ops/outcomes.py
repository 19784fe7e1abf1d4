"""A/B outcomes: feedback keyed by the gateway's request id, and the report that compares an
experiment's arms on them with honest statistics (traffic/statistics.py).

The gateway records which experiment and arm served each request id (a stick table,
traffic/haproxy.py), so a feedback names only the request id and its value. A second
feedback for the same request id replaces the first (a late conversion corrects an
early 0); the replacement is audited with both values.

Metric: when every value is 0 or 1 the outcome is a conversion, and each request the
gateway counted for an arm is a trial (a request with no feedback did not convert); else
it is a mean reward over the requests that got feedback. The first arm is the baseline;
with more than one candidate each is compared at alpha divided by their number
(Bonferroni). Each report that sees more information than the last is a look, recorded in
the catalog: its boundary spends only the alpha the earlier looks left (Lan-DeMets,
O'Brien-Fleming type), and a candidate that crossed at a look stays significant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from modelyard.errors import InputError, NotFound
from modelyard.ops.context import Context
from modelyard.ops.traffic import experiment_model as model_of
from modelyard.ops.traffic import gateway_files
from modelyard.report.experiment import build_experiment_html
from modelyard.report.html import write_html_report
from modelyard.store.experiments import ExperimentLog, ExperimentRecord
from modelyard.store.outcomes import OutcomeLog
from modelyard.traffic.haproxy import REQUEST_ID_MAX, ArmCounts, is_request_id

# traffic/statistics.py brings numpy, which no other command opening a workspace needs:
# each function computing figures imports it itself.
if TYPE_CHECKING:
    from modelyard.traffic import statistics


Metric = Literal["conversion", "reward"]


class RequestOrigin(BaseModel):
    """Which experiment (of which model, on which target) and arm served a request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    experiment: int
    model: str
    target: str
    arm: str


class FeedbackResult(BaseModel):
    """A stored outcome; `replaced` is the value it replaced, if the request had one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool = True
    request_id: str
    experiment: int
    model: str
    target: str
    arm: str
    value: float
    replaced: float | None


class ArmOutcome(BaseModel):
    """One arm: requests the gateway counted, outcomes received, and the estimate (a
    conversion rate or a mean reward) with its interval (Wilson, or t)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    weight: int
    requests: int
    outcomes: int
    n: int
    successes: int | None
    value: float
    low: float
    high: float


class ArmComparison(BaseModel):
    """A candidate against the baseline: effect (candidate minus baseline) with its
    interval, the test's p-value, the p-value this look had to reach, and the verdicts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    baseline: str
    test: str
    effect: float
    low: float
    high: float
    p_value: float
    alpha: float  # this comparison's share of alpha
    nominal_alpha: float | None  # what this look's p-value had to reach (None: no look)
    significant: bool  # after the repeated-look correction
    crossed_at_look: int | None
    uncorrected_significant: bool  # p <= alpha at this look alone, for contrast


class LookSummary(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    look: int
    fraction: float
    at: datetime


class ExperimentReport(BaseModel):
    """`experiment report`: the arms compared on their outcomes, with power analysis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool = True
    experiment: int
    model: str
    target: str
    state: str
    metric: Metric
    alpha: float
    power: float
    mde: float
    arms: list[ArmOutcome]
    comparisons: list[ArmComparison]
    # Per arm, for the MDE: from --baseline-rate (before the test), from the baseline arm's
    # observed rate or the outcomes' spread (during it); `required_per_arm` is the plan.
    required_before: int | None
    required_during: int | None
    required_per_arm: int | None
    information_fraction: float | None
    look: int | None  # this report's look, if it was one
    looks: list[LookSummary]
    generated_at: datetime


# --------------------------------------------------------------------------- feedback


def request_origin(ctx: Context, request_id: str, *, target: str = "local") -> RequestOrigin:
    """The experiment and arm the target's gateway recorded for `request_id`.

    Raises:
        InputError: an id the gateway never records (see traffic/haproxy.py).
        NotFound: no record of that id (not routed to an experiment's arm, or too old).
    """
    if not is_request_id(request_id):
        raise InputError(
            f"request id {request_id[:140]!r}: expected the gateway's x-request-id (letters, "
            f"digits, '.', '_', ':', '-'; at most {REQUEST_ID_MAX}); nothing was stored"
        )
    ctx.target(target)  # NotFound for a target modelyard.yaml does not name
    found = gateway_files(ctx, target).request_arm(request_id)
    if found is None:
        raise NotFound(
            f"request {request_id}: the gateway of target {target!r} recorded no experiment "
            "arm for it (only requests routed to a running experiment, by their "
            "x-request-id, are recorded); nothing was stored"
        )
    record = ExperimentLog(ctx.store).get(found.experiment)
    # A position past the last arm is the last arm (the route pads its arms with it).
    if not found.position >= 1:
        raise NotFound(
            f"request {request_id}: experiment {record.id} of {record.model} has no arm at "
            f"position {found.position}; nothing was stored"
        )
    arm = record.arms[min(found.position, len(record.arms)) - 1].version
    return RequestOrigin(
        request_id=request_id,
        experiment=record.id,
        model=record.model,
        target=record.target,
        arm=arm,
    )


def record_feedback(
    ctx: Context, request_id: str, value: float, *, target: str = "local"
) -> FeedbackResult:
    """Store the outcome of a request that went through the target's gateway to an
    experiment's arm (1 for a conversion, 0 for none, or any reward); a second one for
    the same request replaces the first.

    Raises:
        InputError: a malformed request id, or a value that is not a finite number.
        NotFound: the gateway recorded no arm for that request id.
    """
    if not math.isfinite(value):
        raise InputError(f"--value {value}: an outcome is a finite number (1, 0, 2.5)")
    origin = request_origin(ctx, request_id, target=target)
    before, after = OutcomeLog(ctx.store).record(
        request_id, origin.experiment, origin.arm, value, actor=ctx.actor, now=ctx.clock()
    )
    return FeedbackResult(
        request_id=request_id,
        experiment=origin.experiment,
        model=origin.model,
        target=origin.target,
        arm=after.arm,
        value=after.value,
        replaced=before.value if before is not None else None,
    )


# --------------------------------------------------------------------------- the report


def experiment_report(
    ctx: Context,
    reference: str,
    *,
    target: str = "local",
    mde: float = 0.02,
    alpha: float = 0.05,
    power: float = 0.8,
    baseline_rate: float | None = None,
) -> ExperimentReport:
    """Compare the experiment's arms on their outcomes (REF: an experiment id, or a model:
    its running experiment on the target, else its latest one there). A report that sees
    more information than the last look is recorded as the next look.

    Raises:
        InputError: alpha, power, MDE or baseline rate out of range.
        NotFound: no such experiment.
    """
    from modelyard.traffic import statistics

    statistics.check_alpha_power(alpha, power)
    if mde == 0 or not math.isfinite(mde):
        raise InputError(f"--mde {mde}: the minimum detectable effect is a nonzero number")
    record = _experiment(ctx, reference, target)
    counters = gateway_files(ctx, record.target).counters() if ctx.root else {}
    outcomes = OutcomeLog(ctx.store).values(record.id)
    every = [v for values in outcomes.values() for v in values]
    metric: Metric = "conversion" if all(v in (0.0, 1.0) for v in every) else "reward"
    arms = [
        _arm(
            arm.version,
            arm.weight,
            counters.get(f"{record.id}/{arm.version}", ArmCounts()),
            outcomes.get(arm.version, []),
            metric,
            alpha,
        )
        for arm in record.arms
    ]
    candidates = arms[1:]
    share = alpha / max(1, len(candidates))
    baseline = arms[0]
    required_before = None
    if baseline_rate is not None:
        required_before = statistics.sample_size_proportions(
            baseline_rate, mde, alpha=share, power=power
        )
    if metric == "conversion":
        required_during = _required_conversion(baseline, mde, share, power)
    else:
        required_during = statistics.sample_size_means(
            statistics.spread(every), mde, alpha=share, power=power
        )
    plan = required_during or required_before
    smallest = min(arm.n for arm in arms)
    fraction = min(1.0, smallest / plan) if plan and smallest > 0 else None

    raw = [_compare(baseline, candidate, outcomes, metric, share) for candidate in candidates]
    log = OutcomeLog(ctx.store)
    previous = log.looks(record.id)
    fractions = [look.fraction for look in previous]
    crossed_before: dict[str, int] = {}
    for look in previous:
        for version, figures in look.figures.items():
            if figures.get("crossed") and version not in crossed_before:
                crossed_before[version] = look.look
    is_new_look = fraction is not None and (
        not fractions or (fraction > fractions[-1] + 1e-9 and fractions[-1] < 1.0)
    )
    look_number: int | None = None
    nominal: float | None = None
    if is_new_look and fraction is not None:
        boundary = statistics.sequential_boundaries([*fractions, fraction], alpha=share)[-1]
        nominal = statistics.nominal_alpha(boundary)
        figures = {
            candidate.version: {
                "p_value": comparison.p_value,
                "effect": comparison.effect,
                "crossed": comparison.p_value <= nominal,
            }
            for candidate, comparison in zip(candidates, raw, strict=True)
        }
        look = log.add_look(record.id, fraction, alpha, figures, actor=ctx.actor, now=ctx.clock())
        look_number = look.look
        previous.append(look)
        for version, item in figures.items():
            if item["crossed"] and version not in crossed_before:
                crossed_before[version] = look.look
    comparisons = [
        ArmComparison(
            version=candidate.version,
            baseline=baseline.version,
            test=comparison.test,
            effect=comparison.effect,
            low=comparison.low,
            high=comparison.high,
            p_value=comparison.p_value,
            alpha=share,
            nominal_alpha=nominal,
            significant=candidate.version in crossed_before,
            crossed_at_look=crossed_before.get(candidate.version),
            uncorrected_significant=comparison.p_value <= share,
        )
        for candidate, comparison in zip(candidates, raw, strict=True)
    ]
    return ExperimentReport(
        experiment=record.id,
        model=record.model,
        target=record.target,
        state=record.state,
        metric=metric,
        alpha=alpha,
        power=power,
        mde=mde,
        arms=arms,
        comparisons=comparisons,
        required_before=required_before,
        required_during=required_during,
        required_per_arm=plan,
        information_fraction=fraction,
        look=look_number,
        looks=[LookSummary(look=x.look, fraction=x.fraction, at=x.at) for x in previous],
        generated_at=ctx.clock(),
    )


def _experiment(ctx: Context, reference: str, target: str) -> ExperimentRecord:
    log = ExperimentLog(ctx.store)
    if reference.isdigit():
        return log.get(int(reference))
    model_id = model_of(reference)
    ctx.store.get(model_id)  # NotFound for an unknown model
    found = log.running(model_id, target) or next(
        iter(log.history(target=target, model_id=model_id)), None
    )
    if found is None:
        raise NotFound(
            f"{model_id} has no experiment on target {target!r}; `modelyard experiment "
            "status` lists them"
        )
    return found


def _arm(
    version: str,
    weight: int,
    counts: ArmCounts,
    values: Sequence[float],
    metric: Metric,
    alpha: float,
) -> ArmOutcome:
    from modelyard.traffic import statistics

    if metric == "conversion":
        n = max(counts.requests, len(values))
        successes = sum(1 for v in values if v == 1.0)
        estimate = statistics.proportion(successes, n, alpha)
    else:
        estimate = statistics.mean(values, alpha)
    return ArmOutcome(
        version=version,
        weight=weight,
        requests=counts.requests,
        outcomes=len(values),
        n=estimate.n,
        successes=estimate.successes,
        value=estimate.value,
        low=estimate.low,
        high=estimate.high,
    )


def _compare(
    baseline: ArmOutcome,
    candidate: ArmOutcome,
    outcomes: dict[str, list[float]],
    metric: Metric,
    alpha: float,
) -> statistics.Comparison:
    from modelyard.traffic import statistics

    if metric == "conversion":
        return statistics.compare_proportions(
            baseline.successes or 0, baseline.n, candidate.successes or 0, candidate.n, alpha
        )
    return statistics.compare_means(
        outcomes.get(baseline.version, []), outcomes.get(candidate.version, []), alpha
    )


def _required_conversion(
    baseline: ArmOutcome, mde: float, alpha: float, power: float
) -> int | None:
    from modelyard.traffic import statistics

    rate = baseline.value
    if baseline.n == 0 or not 0 < rate < 1 or not 0 < rate + mde < 1:
        return None
    return statistics.sample_size_proportions(rate, mde, alpha=alpha, power=power)


def write_experiment_html(report: ExperimentReport, out_dir: Path) -> Path:
    """Write the report's page to `out_dir/index.html` (atomically); returns its path."""
    return write_html_report(build_experiment_html(report.model_dump(mode="json")), out_dir)
