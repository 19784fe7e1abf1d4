"""The perf command's own flags: durations and concurrency levels."""

from __future__ import annotations

import pytest

from modelyard import InputError, PerfOptions, Workspace
from modelyard.cli.perf_cmd import parse_concurrency, parse_duration_s
from modelyard.store.measurements import MeasurementLog
from tests.support.workspaces import Cli


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10), ("500ms", 0.5), ("2m", 120), ("1.5", 1.5), (" 3 s ", 3), ("1min", 60)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "0s", "-1s", "10h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InputError, match="--duration"):
        parse_duration_s(text)


def test_concurrency_levels() -> None:
    assert parse_concurrency("1,2,4,8") == (1, 2, 4, 8)
    assert parse_concurrency(" 4 ") == (4,)
    for bad in ("", "one", "1,,x"):
        with pytest.raises(InputError, match="--concurrency"):
            parse_concurrency(bad)
    with pytest.raises(InputError, match="between 1 and 256"):
        PerfOptions(concurrency=(0,))
    with pytest.raises(InputError, match="--requests"):
        PerfOptions(max_requests=0)


def test_measurements_lists_recorded_runs(netflix: Workspace, cli: Cli) -> None:
    log = MeasurementLog(netflix.store)
    log.record(
        "search/query_understanding",
        "1.5",
        "test",
        "perf",
        {
            "passed": False,
            "checks": [
                {
                    "target": "latency_p99",
                    "measured": 92.5,
                    "unit": "ms",
                    "declared": 80,
                    "passed": False,
                }
            ],
        },
    )
    log.record(
        "search/query_understanding",
        "1.5",
        "test",
        "memory",
        {"drift": {"memory_mb": -3900.0, "gpu_memory_mb": None}},
    )
    log.record("search/content_retrieval", "2.0", "other", "perf", {"passed": True, "checks": []})
    listed = cli.json("measurements", "search/query_understanding")["measurements"]
    assert [(m["kind"], m["target"]) for m in listed] == [("memory", "test"), ("perf", "test")]
    assert [m["model"] for m in cli.json("measurements", "--target", "other")["measurements"]] == [
        "search/content_retrieval"
    ]
    shown = cli("measurements").stdout
    assert "3 measurement(s)" in shown and "(FAIL)" in shown and "-3,900" in shown
