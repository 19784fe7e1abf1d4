"""The pure arithmetic of a measurement: no server, no clock."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.catalog.spec import Resources, Sla
from modelyard.perf.figures import (
    LatencySummary,
    LevelFigures,
    MemoryDrift,
    PhaseTotals,
    check_sla,
    memory_drift,
    memory_usage_bytes,
    metric_times,
    parse_prometheus,
    percentile,
    step_shares,
)

MB = 1024 * 1024


@given(
    st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=200),
    st.sampled_from([0, 1, 50, 90, 99, 99.9, 100]),
)
def test_percentile_matches_numpy(values: list[float], q: float) -> None:
    assert percentile(values, q) == pytest.approx(
        float(np.percentile(values, q)), rel=1e-9, abs=1e-9
    )


def test_percentile_refuses_nothing_and_nonsense() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], 101)


def test_latency_summary_in_milliseconds() -> None:
    summary = LatencySummary.of([0.010, 0.020, 0.030, 0.040])
    assert summary.requests == 4
    assert summary.p50_ms == pytest.approx(25)
    assert summary.min_ms == pytest.approx(10) and summary.max_ms == pytest.approx(40)
    assert summary.mean_ms == pytest.approx(25)


def _stats(
    name: str, success: tuple[int, int], queue: int, infer: int, version: str = "1"
) -> dict[str, object]:
    count, ns = success
    return {
        "model_stats": [
            {
                "name": name,
                "version": version,
                "inference_count": count,
                "execution_count": count,
                "inference_stats": {
                    "success": {"count": count, "ns": ns},
                    "fail": {"count": 0, "ns": 0},
                    "queue": {"count": count, "ns": queue},
                    "compute_input": {"count": count, "ns": 0},
                    "compute_infer": {"count": count, "ns": infer},
                    "compute_output": {"count": count, "ns": 0},
                },
                "memory_usage": [
                    {"type": "CPU", "id": 0, "byte_size": 100 * MB},
                    {"type": "GPU", "id": 0, "byte_size": 512 * MB},
                ],
            }
        ]
    }


def test_statistics_deltas_per_request() -> None:
    before = PhaseTotals.from_statistics(
        _stats("m", (10, 200_000_000), 10_000_000, 150_000_000), "m"
    )
    after = PhaseTotals.from_statistics(
        _stats("m", (30, 600_000_000), 50_000_000, 450_000_000), "m"
    )
    times = after.minus(before)
    assert times.requests == 20
    assert times.request_ms == pytest.approx(20)
    assert times.queue_ms == pytest.approx(2)
    assert times.compute_infer_ms == pytest.approx(15)
    assert times.compute_ms == pytest.approx(15)
    # Another model's statistics do not count.
    assert PhaseTotals.from_statistics(_stats("other", (5, 1), 1, 1), "m").inferences == 0


def test_ensemble_step_shares() -> None:
    ensemble = PhaseTotals.from_statistics(_stats("e", (10, 300_000_000), 0, 0), "e").minus(
        PhaseTotals.from_statistics(_stats("e", (0, 0), 0, 0), "e")
    )
    step = PhaseTotals.from_statistics(
        _stats("s", (10, 200_000_000), 20_000_000, 150_000_000), "s"
    ).minus(PhaseTotals.from_statistics(_stats("s", (0, 0), 0, 0), "s"))
    twice = PhaseTotals.from_statistics(_stats("t", (20, 100_000_000), 0, 100_000_000), "t").minus(
        PhaseTotals.from_statistics(_stats("t", (0, 0), 0, 0), "t")
    )
    shares = {s.model: s for s in step_shares(ensemble, {"s": step, "t": twice})}
    assert shares["s"].request_ms == pytest.approx(20) and shares["s"].share == pytest.approx(2 / 3)
    assert shares["s"].queue_ms == pytest.approx(2)
    # A step run twice per ensemble request: its time is spread over the ensemble's requests.
    assert shares["t"].request_ms == pytest.approx(10) and shares["t"].share == pytest.approx(1 / 3)


def test_prometheus_counters_per_request() -> None:
    before = parse_prometheus(
        "# HELP nv_inference_request_success Number of successful requests\n"
        'nv_inference_request_success{model="m",version="1"} 10\n'
        'nv_inference_queue_duration_us{model="m",version="1"} 1000\n'
        'nv_inference_compute_infer_duration_us{model="m",version="1"} 200000\n'
        'nv_inference_request_duration_us{model="m",version="1"} 210000\n'
        'nv_inference_request_success{model="other",version="1"} 99\n'
    )
    after = parse_prometheus(
        'nv_inference_request_success{model="m",version="1"} 30\n'
        'nv_inference_queue_duration_us{model="m",version="1"} 41000\n'
        'nv_inference_compute_infer_duration_us{model="m",version="1"} 600000\n'
        'nv_inference_request_duration_us{model="m",version="1"} 650000\n'
        "nv_cpu_memory_used_bytes 1.5e+09\n"
    )
    times = metric_times(before, after, "m", 1)
    assert times is not None
    assert times.requests == 20
    assert times.queue_ms == pytest.approx(2)
    assert times.compute_infer_ms == pytest.approx(20)
    assert times.request_ms == pytest.approx(22)
    assert metric_times(before, after, "absent", 1) is None
    assert after[("nv_cpu_memory_used_bytes", frozenset())] == 1.5e9


def _level(concurrency: int, p99_ms: float, rps: float) -> LevelFigures:
    return LevelFigures(concurrency, 100, p99_ms, rps)


def test_sla_verdicts_with_margins() -> None:
    levels = [_level(1, 22, 45), _level(4, 30, 150), _level(8, 70, 160)]
    latency, throughput = check_sla(levels, Sla(max_latency_p99_ms=50, min_throughput_rps=100))
    # The best p99 among the levels that reach 100 rps (concurrency 4, not 1).
    assert (latency.passed, latency.measured, latency.concurrency) == (True, 30, 4)
    assert latency.margin == pytest.approx(20) and latency.margin_pct == pytest.approx(40)
    # The best throughput among the levels within 50 ms (not the 160 rps at 70 ms).
    assert (throughput.passed, throughput.measured, throughput.concurrency) == (True, 150, 4)
    assert throughput.margin == pytest.approx(50)

    latency, throughput = check_sla(levels, Sla(max_latency_p99_ms=10, min_throughput_rps=10))
    assert not latency.passed and latency.measured == 22 and latency.margin == pytest.approx(-12)
    assert "misses the declared 10 ms" in latency.describe()
    assert not throughput.passed and throughput.measured == 0
    assert (
        "no level had a p99 within 10 ms; the best throughput at any latency was 160.0 rps"
        in throughput.note
    )

    latency, _ = check_sla(levels, Sla(max_latency_p99_ms=100, min_throughput_rps=1000))
    assert latency.passed and latency.measured == 22 and "no level reached" in latency.note
    assert check_sla([], Sla()) == []


def test_memory_drift_from_processes_and_triton() -> None:
    resources = Resources(memory_mb=100, gpu_memory_mb=1000, instance_count=2)
    drift = memory_drift(resources, 2, [80 * MB, 120 * MB], {})
    assert drift.memory_mb == pytest.approx(120) and drift.memory_drift_mb == pytest.approx(20)
    assert drift.gpu_memory_mb is None and drift.over_declared == ["memory_mb"]

    usage = memory_usage_bytes(_stats("m", (1, 1), 0, 0), "m", 1)
    assert usage == {"CPU": 100 * MB, "GPU": 512 * MB}
    assert memory_usage_bytes(_stats("m", (1, 1), 0, 0), "m", 2) == {}
    drift = memory_drift(resources, 2, [], usage)
    assert drift.memory_mb == pytest.approx(50) and drift.gpu_memory_mb == pytest.approx(256)
    assert drift.over_declared == []
    assert MemoryDrift.from_dict(drift.model_dump(mode="json")) == drift
    assert memory_drift(resources, 1, [], {}).memory_mb is None
