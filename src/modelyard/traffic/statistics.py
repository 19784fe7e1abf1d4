"""The statistics of experiments: comparing two arms honestly (pure: numbers in, numbers out).

- Proportions (conversion, error rates): Wilson score intervals per arm
  (`statsmodels.stats.proportion.proportion_confint`), the two-proportion score test
  (`test_proportions_2indep`, method "score"), Fisher's exact test instead when an
  expected cell count is below 5 (`scipy.stats.fisher_exact`), and Newcomb's hybrid score
  interval for the difference (`confint_proportions_2indep`, method "newcomb").
- Means (reward): t intervals per arm (`scipy.stats.t`), Welch's t-test with its interval
  for the difference (`scipy.stats.ttest_ind(equal_var=False)`), and, for distributions
  such as per-request latencies, the Mann-Whitney U test (`scipy.stats.mannwhitneyu`).
- Power: the sample size per arm for a minimum detectable effect at alpha and power
  (`statsmodels.stats.power.NormalIndPower` on Cohen's h for proportions,
  `TTestIndPower` on Cohen's d for means).
- Repeated looks: testing at every look with the plain alpha inflates the false-positive
  rate (4 looks at 0.05 reject a true null about 13 % of the time). Each look is tested
  against a group-sequential boundary from the Lan-DeMets alpha-spending function of
  O'Brien-Fleming type, alpha(t) = 2 - 2 * Phi(z_(1-alpha/2) / sqrt(t)) for the
  information fraction t in (0, 1] (Lan & DeMets 1983, "Discrete sequential boundaries for
  clinical trials", Biometrika 70(3):659-663; DeMets & Lan 1994, Statistics in Medicine
  13:1341-1352). The boundary of look k spends alpha(t_k) - alpha(t_(k-1)) given that no
  earlier look crossed; that probability comes from the recursive numerical integration of
  Armitage, McPherson & Rowe (1969) as Jennison & Turnbull give it ("Group Sequential
  Methods with Applications to Clinical Trials", 2000, chapter 19): scipy has no
  group-sequential boundaries, so this is the one computation done here, on scipy's normal
  distribution, Simpson's rule and Brent's root finder. Looks may come at any information
  fractions, unplanned; only the fractions of the looks so far are needed, so a stepwise
  rollout can call `sequential_boundaries` at each of its steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelyard.errors import InputError

# scipy and statsmodels are imported inside the functions that use them: together they
# take about a second to import, and every workspace opens this module (through the
# canary use cases) while only statistics need them.

# Expected counts below this in any cell of the 2x2 table: the exact test, not the normal one.
EXACT_BELOW = 5
# A boundary above this is "never crosses": P(|Z| > 8) is about 1e-15.
NEVER = 8.0
_GRID_POINTS = 401  # odd: Simpson's rule on the continuation region of each look

Test = Literal["two-proportion score", "fisher exact", "welch t", "mann-whitney u", "none"]


@dataclass(frozen=True)
class Estimate:
    """One arm: its sample size, the estimate (a rate or a mean) and its interval."""

    n: int
    value: float
    low: float
    high: float
    successes: int | None = None  # proportions only


@dataclass(frozen=True)
class Comparison:
    """Candidate against baseline: the effect (candidate minus baseline) with its interval,
    the test's statistic and two-sided p-value."""

    effect: float
    low: float
    high: float
    statistic: float
    p_value: float
    test: Test


def check_alpha_power(alpha: float, power: float | None = None) -> None:
    """InputError unless 0 < alpha < 0.5 and 0 < power < 1."""
    if not 0 < alpha < 0.5:
        raise InputError(f"--alpha {alpha}: a significance level is between 0 and 0.5")
    if power is not None and not 0 < power < 1:
        raise InputError(f"--power {power}: a power is between 0 and 1, e.g. 0.8")


# --------------------------------------------------------------------------- proportions


def proportion(successes: int, n: int, alpha: float = 0.05) -> Estimate:
    """The rate successes/n with its Wilson score interval (0..1 when n is 0)."""
    from statsmodels.stats.proportion import proportion_confint

    if n <= 0:
        return Estimate(n=0, value=0.0, low=0.0, high=1.0, successes=0)
    low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return Estimate(n=n, value=successes / n, low=float(low), high=float(high), successes=successes)


def compare_proportions(
    successes_a: int, n_a: int, successes_b: int, n_b: int, alpha: float = 0.05
) -> Comparison:
    """B against A: the difference of rates with Newcomb's interval, and the p-value of the
    two-proportion score test (Fisher's exact test when an expected count is below 5)."""
    from scipy import stats
    from statsmodels.stats.proportion import confint_proportions_2indep

    if min(n_a, n_b) <= 0:
        return Comparison(0.0, -1.0, 1.0, 0.0, 1.0, "none")
    effect = successes_b / n_b - successes_a / n_a
    low, high = confint_proportions_2indep(
        successes_b, n_b, successes_a, n_a, method="newcomb", compare="diff", alpha=alpha
    )
    pooled = (successes_a + successes_b) / (n_a + n_b)
    smallest = min(n_a, n_b) * min(pooled, 1 - pooled)
    if smallest < EXACT_BELOW:
        table = [[successes_b, n_b - successes_b], [successes_a, n_a - successes_a]]
        odds, p_value = stats.fisher_exact(table)
        return Comparison(
            effect, float(low), float(high), float(odds), float(p_value), "fisher exact"
        )
    z, p_value = proportion_z(successes_a, n_a, successes_b, n_b)
    return Comparison(
        effect, float(low), float(high), float(z), float(p_value), "two-proportion score"
    )


def proportion_z(
    successes_a: ArrayLike, n_a: ArrayLike, successes_b: ArrayLike, n_b: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The score test's z (B minus A) and two-sided p-value, elementwise over arrays (one
    call for a whole simulation). A pair with no variation (all or no successes) gets
    z 0, p 1."""
    from statsmodels.stats.proportion import test_proportions_2indep

    a, na = np.asarray(successes_a, dtype=float), np.asarray(n_a, dtype=float)
    b, nb = np.asarray(successes_b, dtype=float), np.asarray(n_b, dtype=float)
    pooled = (a + b) / (na + nb)
    degenerate = (pooled <= 0) | (pooled >= 1)
    # Nudge the degenerate pairs into a computable one; their results are replaced below.
    safe_a = np.where(degenerate, 1.0, a)
    safe_b = np.where(degenerate, 1.0, b)
    safe_na = np.where(degenerate, 2.0, na)
    safe_nb = np.where(degenerate, 2.0, nb)
    # statsmodels also computes the ratio and odds ratio, which divide by zero when one
    # arm has no successes at all (a baseline with no error); the difference is unharmed.
    with np.errstate(divide="ignore", invalid="ignore"):
        result: Any = test_proportions_2indep(
            safe_b, safe_nb, safe_a, safe_na, method="score", compare="diff", correction=False
        )
    z = np.where(degenerate, 0.0, np.asarray(result.statistic, dtype=float))
    p = np.where(degenerate, 1.0, np.asarray(result.pvalue, dtype=float))
    return z, p


def sample_size_proportions(
    baseline: float, mde: float, *, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Requests per arm needed to detect a change of the rate from `baseline` to
    `baseline + mde` (absolute, e.g. 0.02 for two points) with a two-sided test.

    Raises:
        InputError: a baseline outside (0, 1), an MDE of 0 or one leaving (0, 1).
    """
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    check_alpha_power(alpha, power)
    if not 0 < baseline < 1:
        raise InputError(f"--baseline-rate {baseline}: a rate is between 0 and 1, e.g. 0.10")
    if mde == 0 or not 0 < baseline + mde < 1:
        raise InputError(
            f"--mde {mde}: the minimum detectable effect is an absolute change of the rate "
            f"(e.g. 0.02) that keeps {baseline:g} + MDE between 0 and 1"
        )
    effect = float(proportion_effectsize(baseline + mde, baseline))
    n = NormalIndPower().solve_power(
        effect_size=abs(effect), alpha=alpha, power=power, ratio=1.0, alternative="two-sided"
    )
    return math.ceil(float(n))


# --------------------------------------------------------------------------- means


def mean(values: Sequence[float], alpha: float = 0.05) -> Estimate:
    """The mean of `values` with its t interval (infinite with fewer than two values)."""
    from scipy import stats

    n = len(values)
    if n == 0:
        return Estimate(n=0, value=0.0, low=-math.inf, high=math.inf)
    data = np.asarray(values, dtype=float)
    centre = float(data.mean())
    if n < 2 or float(data.std(ddof=1)) == 0:
        spread = math.inf if n < 2 else 0.0
        return Estimate(n=n, value=centre, low=centre - spread, high=centre + spread)
    low, high = stats.t.interval(1 - alpha, n - 1, loc=centre, scale=stats.sem(data))
    return Estimate(n=n, value=centre, low=float(low), high=float(high))


def spread(values: Sequence[float]) -> float:
    """The sample standard deviation (0 with fewer than two values)."""
    return float(np.std(np.asarray(values, dtype=float), ddof=1)) if len(values) > 1 else 0.0


def compare_means(a: Sequence[float], b: Sequence[float], alpha: float = 0.05) -> Comparison:
    """B against A: the difference of means with Welch's interval and p-value."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return Comparison(0.0, -math.inf, math.inf, 0.0, 1.0, "none")
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    effect = float(xb.mean() - xa.mean())
    if float(xa.std(ddof=1)) == 0 and float(xb.std(ddof=1)) == 0:
        p = 1.0 if effect == 0 else 0.0
        return Comparison(effect, effect, effect, math.copysign(math.inf, effect), p, "welch t")
    result: Any = stats.ttest_ind(xb, xa, equal_var=False)
    interval = result.confidence_interval(confidence_level=1 - alpha)
    return Comparison(
        effect,
        float(interval.low),
        float(interval.high),
        float(result.statistic),
        float(result.pvalue),
        "welch t",
    )


def compare_distributions(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """Whether B's values (per-request latencies, say) tend to differ from A's: the
    Mann-Whitney U test, and the difference of medians as the effect (no interval)."""
    from scipy import stats

    if not a or not b:
        return Comparison(0.0, -math.inf, math.inf, 0.0, 1.0, "none")
    result: Any = stats.mannwhitneyu(b, a, alternative="two-sided")
    effect = float(np.median(b) - np.median(a))
    return Comparison(
        effect, -math.inf, math.inf, float(result.statistic), float(result.pvalue), "mann-whitney u"
    )


def sample_size_means(
    sd: float, mde: float, *, alpha: float = 0.05, power: float = 0.8
) -> int | None:
    """Values per arm needed to detect a change of the mean by `mde` (absolute) when
    values spread by `sd`; None when there is no spread to compare against yet."""
    from statsmodels.stats.power import TTestIndPower

    check_alpha_power(alpha, power)
    if mde == 0:
        raise InputError(f"--mde {mde}: the minimum detectable effect must not be 0")
    if not sd > 0 or not math.isfinite(sd):
        return None
    n = TTestIndPower().solve_power(
        effect_size=abs(mde) / sd, alpha=alpha, power=power, ratio=1.0, alternative="two-sided"
    )
    return math.ceil(float(n))


# --------------------------------------------------------------------------- repeated looks


def spent_alpha(fraction: float, alpha: float = 0.05) -> float:
    """The O'Brien-Fleming-type Lan-DeMets spending function: the part of alpha spent by
    information fraction `fraction` (all of it at 1)."""
    from scipy import stats

    if fraction <= 0:
        return 0.0
    if fraction >= 1:
        return alpha
    return float(2 - 2 * stats.norm.cdf(stats.norm.ppf(1 - alpha / 2) / math.sqrt(fraction)))


def sequential_boundaries(fractions: Sequence[float], alpha: float = 0.05) -> list[float]:
    """The two-sided |z| boundary of each look at the given information fractions
    (increasing, in (0, 1]; a look past the planned sample is at 1 and spends what is left).

    Raises:
        InputError: fractions that are not increasing or not in (0, 1].
    """
    check_alpha_power(alpha)
    rounded = tuple(round(float(f), 9) for f in fractions)
    if any(not 0 < f <= 1 for f in rounded) or any(
        b <= a for a, b in zip(rounded, rounded[1:], strict=False)
    ):
        raise InputError(f"information fractions must increase within (0, 1], got {list(rounded)}")
    return list(_boundaries(rounded, round(alpha, 12)))


def nominal_alpha(boundary: float) -> float:
    """The p-value a look must reach to cross `boundary` (two-sided)."""
    from scipy import stats

    return float(2 * stats.norm.sf(boundary)) if boundary < NEVER else 0.0


@lru_cache(maxsize=256)
def _boundaries(fractions: tuple[float, ...], alpha: float) -> tuple[float, ...]:
    from scipy import integrate, stats

    boundaries: list[float] = []
    # The sub-density of the score S_k = Z_k * sqrt(t_k) on the paths that have not crossed.
    grid: NDArray[np.float64] | None = None
    density: NDArray[np.float64] | None = None
    previous_t, previous_spent = 0.0, 0.0
    for t in fractions:
        spend = spent_alpha(t, alpha) - previous_spent
        step = t - previous_t
        if grid is None or density is None:
            boundary = float(stats.norm.isf(spend / 2)) if spend > 0 else math.inf
        else:
            boundary = _solve_boundary(grid, density, step, t, spend)
        boundary = min(boundary, NEVER)
        boundaries.append(boundary)
        edge = boundary * math.sqrt(t)
        new_grid = np.linspace(-edge, edge, _GRID_POINTS)
        if grid is None or density is None:
            new_density = stats.norm.pdf(new_grid, scale=math.sqrt(t))
        else:
            kernel = stats.norm.pdf(
                (new_grid[:, None] - grid[None, :]) / math.sqrt(step)
            ) / math.sqrt(step)
            new_density = integrate.simpson(kernel * density[None, :], x=grid, axis=1)
        grid, density = new_grid, new_density
        previous_t, previous_spent = t, previous_spent + spend
    return tuple(boundaries)


def _solve_boundary(
    grid: NDArray[np.float64], density: NDArray[np.float64], step: float, t: float, spend: float
) -> float:
    """The boundary c at fraction t whose crossing probability (not crossed before) is
    `spend`."""
    from scipy import integrate, optimize, stats

    scale = math.sqrt(step)

    def crossing(c: float) -> float:
        edge = c * math.sqrt(t)
        outside = stats.norm.sf((edge - grid) / scale) + stats.norm.cdf((-edge - grid) / scale)
        return float(integrate.simpson(outside * density, x=grid)) - spend

    if spend <= 0 or crossing(NEVER) > 0:
        return math.inf
    return float(optimize.brentq(crossing, 1e-6, NEVER, xtol=1e-7))


@dataclass(frozen=True)
class SequentialVerdict:
    """One look: its number, information fraction, boundary, the p-value the look must
    reach, and whether it crossed."""

    look: int
    fraction: float
    boundary: float
    nominal_alpha: float
    significant: bool


def sequential_test(
    p_value: float, fractions: Sequence[float], alpha: float = 0.05
) -> SequentialVerdict:
    """The verdict of the last look in `fractions` for a two-sided p-value."""
    boundaries = sequential_boundaries(fractions, alpha)
    boundary = boundaries[-1]
    threshold = nominal_alpha(boundary)
    return SequentialVerdict(
        look=len(fractions),
        fraction=float(fractions[-1]),
        boundary=boundary,
        nominal_alpha=threshold,
        significant=p_value <= threshold,
    )
