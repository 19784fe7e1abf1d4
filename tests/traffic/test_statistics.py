"""The statistics of experiments, checked by simulation (seeded, vectorised: one call of the
module's functions per simulated look for all runs at once)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from modelyard.errors import InputError
from modelyard.traffic.statistics import (
    compare_distributions,
    compare_means,
    compare_proportions,
    mean,
    nominal_alpha,
    proportion,
    proportion_z,
    sample_size_means,
    sample_size_proportions,
    sequential_boundaries,
    sequential_test,
    spent_alpha,
)

ALPHA = 0.05


def upper_margin(runs: int, rate: float) -> float:
    """The share of `runs` that a true `rate` stays below but for 1 time in 1,000."""
    return float(stats.binom.ppf(0.999, runs, rate)) / runs


def lower_margin(runs: int, rate: float) -> float:
    return float(stats.binom.ppf(0.001, runs, rate)) / runs


def test_a_a_is_significant_in_at_most_alpha_of_200_runs() -> None:
    rng = np.random.default_rng(16)
    runs, n = 200, 2000
    a = rng.binomial(n, 0.10, size=runs)
    b = rng.binomial(n, 0.10, size=runs)
    _, p = proportion_z(a, n, b, n)
    share = float(np.mean(p <= ALPHA))
    print(f"A/A: significant in {share:.1%} of {runs} runs")
    assert share <= upper_margin(runs, ALPHA), share


def test_a_b_with_a_two_point_uplift_is_found_at_the_sample_size_power_analysis_asks() -> None:
    n = sample_size_proportions(0.10, 0.02, alpha=ALPHA, power=0.8)
    assert 3700 < n < 4000  # the textbook figure for 10 % -> 12 % is about 3,840 per arm
    rng = np.random.default_rng(17)
    runs = 200
    a = rng.binomial(n, 0.10, size=runs)
    b = rng.binomial(n, 0.12, size=runs)
    z, p = proportion_z(a, n, b, n)
    detected = float(np.mean((p <= ALPHA) & (z > 0)))
    print(f"A/B 10 % -> 12 %: {n} per arm, detected in {detected:.1%} of {runs} runs")
    assert detected >= lower_margin(runs, 0.8), detected


def _looks(
    runs: int, n: int, fractions: list[float], rate_a: float, rate_b: float, seed: int
) -> list[np.ndarray]:
    """p-values of each look for `runs` simulated experiments, the data accumulating."""
    rng = np.random.default_rng(seed)
    sizes = np.diff([0, *(round(f * n) for f in fractions)])
    total_a = np.zeros(runs)
    total_b = np.zeros(runs)
    seen = 0
    p_values = []
    for size in sizes:
        total_a += rng.binomial(size, rate_a, size=runs)
        total_b += rng.binomial(size, rate_b, size=runs)
        seen += size
        _, p = proportion_z(total_a, seen, total_b, seen)
        p_values.append(p)
    return p_values


@pytest.mark.parametrize("fractions", [[0.25, 0.5, 0.75, 1.0], [0.1, 0.3, 0.8, 1.0]])
def test_repeated_looks_keep_alpha_with_the_correction_and_inflate_it_without(
    fractions: list[float],
) -> None:
    runs = 4000
    p_values = _looks(runs, 4000, fractions, 0.10, 0.10, seed=18)
    boundaries = sequential_boundaries(fractions, ALPHA)
    corrected = np.zeros(runs, dtype=bool)
    naive = np.zeros(runs, dtype=bool)
    for p, boundary in zip(p_values, boundaries, strict=True):
        corrected |= p <= nominal_alpha(boundary)
        naive |= p <= ALPHA
    limit = upper_margin(runs, ALPHA)
    print(
        f"A/A, looks at {fractions}: corrected {corrected.mean():.2%}, naive "
        f"{naive.mean():.2%} of {runs} runs (limit {limit:.2%})"
    )
    assert float(corrected.mean()) <= limit, corrected.mean()
    assert float(naive.mean()) > limit, naive.mean()  # so the correction matters


def test_the_corrected_looks_still_find_a_true_effect() -> None:
    fractions = [0.25, 0.5, 0.75, 1.0]
    n = sample_size_proportions(0.10, 0.02, alpha=ALPHA, power=0.8)
    runs = 400
    p_values = _looks(runs, n, fractions, 0.10, 0.12, seed=19)
    crossed = np.zeros(runs, dtype=bool)
    for p, boundary in zip(p_values, sequential_boundaries(fractions, ALPHA), strict=True):
        crossed |= p <= nominal_alpha(boundary)
    print(f"A/B with 4 corrected looks: detected in {crossed.mean():.1%} of {runs} runs")
    # O'Brien-Fleming spending costs little power: about 0.79 against 0.80 for one look.
    assert float(crossed.mean()) >= lower_margin(runs, 0.77), crossed.mean()


def test_boundaries_agree_with_scipys_multivariate_normal() -> None:
    fractions = [0.3, 0.6, 1.0]
    boundaries = sequential_boundaries(fractions, ALPHA)
    t = np.array(fractions)
    covariance = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    for k in range(1, 4):
        limits = np.array(boundaries[:k])
        inside = stats.multivariate_normal(np.zeros(k), covariance[:k, :k]).cdf(
            limits, lower_limit=-limits, rng=np.random.default_rng(0)
        )
        assert 1 - inside == pytest.approx(spent_alpha(fractions[k - 1], ALPHA), abs=2e-4)


def test_one_look_at_the_full_sample_is_the_plain_test() -> None:
    assert sequential_boundaries([1.0], ALPHA)[0] == pytest.approx(1.959964, abs=1e-5)
    verdict = sequential_test(0.049, [1.0], ALPHA)
    assert verdict.significant and verdict.look == 1
    early = sequential_test(0.049, [0.25], ALPHA)
    assert not early.significant and early.nominal_alpha < 0.001


def test_bad_fractions_and_parameters_are_refused() -> None:
    with pytest.raises(InputError, match="increase"):
        sequential_boundaries([0.5, 0.5])
    with pytest.raises(InputError, match="within"):
        sequential_boundaries([0.5, 1.5])
    with pytest.raises(InputError, match="--alpha"):
        sequential_boundaries([1.0], alpha=0.7)
    with pytest.raises(InputError, match="--mde"):
        sample_size_proportions(0.95, 0.1)
    with pytest.raises(InputError, match="--baseline-rate"):
        sample_size_proportions(0.0, 0.02)
    with pytest.raises(InputError, match="--power"):
        sample_size_proportions(0.1, 0.02, power=1.2)


def test_intervals_and_comparisons() -> None:
    rate = proportion(10, 100)
    assert rate.value == 0.1 and rate.low == pytest.approx(0.0552, abs=1e-4)
    assert rate.high == pytest.approx(0.1744, abs=1e-4)  # Wilson, not Wald
    empty = proportion(0, 0)
    assert (empty.low, empty.high) == (0.0, 1.0)
    large = compare_proportions(400, 4000, 520, 4000)
    assert large.test == "two-proportion score" and large.p_value < 0.001
    assert large.low < 0.03 < large.high
    small = compare_proportions(1, 12, 3, 12)
    assert small.test == "fisher exact" and small.p_value > 0.05
    values = [1.0, 2.0, 3.0, 4.0]
    interval = mean(values)
    assert interval.low < 2.5 < interval.high and interval.n == 4
    welch = compare_means(values, [v + 10 for v in values])
    assert welch.effect == 10 and welch.p_value < 0.001 and welch.low < 10 < welch.high
    slower = compare_distributions(
        [20.0 + i % 5 for i in range(50)], [50.0 + i % 5 for i in range(50)]
    )
    assert slower.test == "mann-whitney u" and slower.p_value < 1e-6 and slower.effect == 30
    assert sample_size_means(0.0, 1.0) is None
    assert sample_size_means(1.0, 0.2) == math.ceil(sample_size_means(1.0, 0.2) or 0)
