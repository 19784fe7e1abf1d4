"""`modelyard perf` against a real local Triton (python backend, CPU).

Tolerances are generous: the machine is shared and has few cores. No test asserts on
its own wall time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelyard import NotFound, TritonError, Workspace
from modelyard.perf.measure import PerfOptions
from tests.support.perf import FAST, sleeping_model

# Latencies and SLA verdicts measured on this machine: another test beside them moves them.
pytestmark = [pytest.mark.triton, pytest.mark.timing]

ONE_LEVEL = PerfOptions(concurrency=(1,), duration_s=10, max_requests=100, warmup_requests=5)


def test_a_20_ms_model_measures_20_ms_misses_10_and_meets_50(
    live: Workspace, tmp_path: Path
) -> None:
    live.apply([sleeping_model(tmp_path, "sleeper", "1.0", sleep_ms=20, p99_ms=10)])
    assert live.deploy("test", options=FAST).ok
    strict = live.perf("tools/sleeper", "test", options=ONE_LEVEL)
    (level,) = strict.levels
    assert level.latency is not None and level.latency.requests == 100
    assert 18 <= level.latency.p50_ms <= 60
    # Triton's own figure: the model's time inside the server, queue included.
    assert level.server is not None and level.server.requests == 100
    assert 18 <= level.server.request_ms <= 60 and level.server.compute_infer_ms >= 18
    assert level.metrics is not None and level.metrics.requests == 100
    assert 18 <= level.metrics.compute_infer_ms <= 60
    # Warm-up excluded and reported; the client's overhead measured apart.
    assert level.warmup_requests == 5 and level.warmup_mean_ms is not None
    assert 0 < strict.client_overhead_ms < level.latency.p50_ms
    assert level.stopped_by == "requests"
    latency = next(c for c in strict.checks if c.target == "latency_p99")
    assert not latency.passed and latency.margin < 0 and not strict.passed

    live.apply([sleeping_model(tmp_path, "sleeper", "1.1", sleep_ms=20, p99_ms=50)])
    assert live.deploy("test", options=FAST).ok
    relaxed = live.perf("tools/sleeper", "test", options=ONE_LEVEL)
    assert relaxed.subject.version == "1.1"  # the newest version the target serves
    latency = next(c for c in relaxed.checks if c.target == "latency_p99")
    assert latency.passed and latency.margin > 0
    assert relaxed.passed

    # The load also stops by itself on time.
    timed = live.perf(
        "tools/sleeper",
        "test",
        options=PerfOptions(
            concurrency=(2,), duration_s=0.5, max_requests=100_000, warmup_requests=0
        ),
    )
    (level,) = timed.levels
    assert level.stopped_by == "time" and level.latency is not None
    assert 1 <= level.latency.requests < 1000 and level.warmup_requests == 0

    kept = live.measurements("tools/sleeper", target="test", limit=4)
    assert sorted((m.version, m.kind) for m in kept) == [
        ("1.1", "memory"),
        ("1.1", "memory"),
        ("1.1", "perf"),
        ("1.1", "perf"),
    ]
    assert len(live.measurements("tools/sleeper")) == 6  # 3 runs, perf and memory each


def test_throughput_scales_with_instances(live: Workspace, tmp_path: Path) -> None:
    live.apply(
        [
            sleeping_model(tmp_path, "single", "1.0", sleep_ms=20, instances=1),
            sleeping_model(tmp_path, "quad", "1.0", sleep_ms=20, instances=4, memory_mb=8),
        ]
    )
    assert live.deploy("test", options=FAST).ok
    options = PerfOptions(concurrency=(4,), duration_s=10, max_requests=120, warmup_requests=8)
    single = live.perf("tools/single", "test", options=options)
    quad = live.perf("tools/quad", "test", options=options)
    assert quad.levels[0].throughput_rps >= 1.8 * single.levels[0].throughput_rps
    # One instance: requests wait in Triton's queue for it.
    assert single.levels[0].server is not None and single.levels[0].server.queue_ms > 10

    # Memory truth: one stub process per instance, measured against the declaration.
    assert quad.memory is not None and len(quad.memory.process_rss_mb) == 4
    assert quad.memory.memory_mb is not None and quad.memory.memory_mb > 8
    assert quad.memory.over_declared == ["memory_mb"]
    assert single.memory is not None and single.memory.over_declared == []

    findings = live.validate(live=True, target="test")
    over = [p for p in findings.problems if p.code == "memory-over-declared"]
    assert [p.model for p in over] == ["tools/quad@1.0"]
    assert "more than the 8 MB declared" in over[0].message

    declared = live.place().model_dump(mode="json")
    calibrated = live.place(calibrated=True).model_dump(mode="json")
    used = sum(s["used_memory_mb"] for s in declared["servers"])
    used_calibrated = sum(s["used_memory_mb"] for s in calibrated["servers"])
    # quad: 4 instances at the measured size instead of 8 MB; single: measured < 2048.
    assert used_calibrated != used
    assert used_calibrated >= 4 * quad.memory.memory_mb


def test_ensemble_end_to_end_and_step_shares(live: Workspace, tmp_path: Path) -> None:
    fast = sleeping_model(tmp_path, "fast_step", "1.0", sleep_ms=5, output_name="MID")
    slow = sleeping_model(
        tmp_path, "slow_step", "1.0", sleep_ms=25, input_name="MID", output_name="Y"
    )
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text("""\
name: pipeline
version: "1.0"
model_type: ensemble
framework: ensemble
domain: tools
owner_team: platform
dependencies: [tools/fast_step, tools/slow_step]
inputs: [{name: X, data_type: FP32, dims: [1]}]
outputs: [{name: Y, data_type: FP32, dims: [1]}]
ensemble:
  steps:
    - {model: tools/fast_step, input_map: {X: X}, output_map: {MID: mid}}
    - {model: tools/slow_step, input_map: {MID: mid}, output_map: {Y: Y}}
resource_requirements: {max_batch_size: 0, gpu_memory_mb: 0, memory_mb: 64}
sla_requirements: {max_latency_p99_ms: 200, min_throughput_rps: 5}
""")
    live.apply([fast, slow, pipeline])
    assert live.deploy("test", options=FAST).ok
    report = live.perf(
        "tools/pipeline",
        "test",
        options=PerfOptions(concurrency=(1,), duration_s=10, max_requests=60, warmup_requests=5),
    )
    assert report.steps == ["tools.fast_step", "tools.slow_step"]
    (level,) = report.levels
    assert level.latency is not None and 28 <= level.latency.p50_ms <= 100
    shares = {s.model: s for s in level.steps}
    assert shares["tools.fast_step"].requests == 60 and shares["tools.slow_step"].requests == 60
    assert 3 <= shares["tools.fast_step"].request_ms <= 30
    assert 23 <= shares["tools.slow_step"].request_ms <= 80
    assert shares["tools.slow_step"].share > 2 * shares["tools.fast_step"].share
    assert 0.5 <= shares["tools.slow_step"].share <= 1.0
    assert report.memory is None and report.passed


def test_validate_live_findings_appear_and_disappear(live: Workspace, tmp_path: Path) -> None:
    # Declared, the chain fits: dep's 25 ms inside caller's 30 ms. Measured, it does not.
    live.apply(
        [
            sleeping_model(tmp_path, "dep", "1.0", sleep_ms=35, p99_ms=25),
            sleeping_model(
                tmp_path, "caller", "1.0", sleep_ms=1, p99_ms=30, dependencies="[tools/dep]"
            ),
        ]
    )

    def live_codes(target: str = "test") -> set[tuple[str, str | None]]:
        return {
            (p.code, p.model)
            for p in live.validate(live=True, target=target).problems
            if p.code.startswith(("sla-live", "memory-over"))
        }

    assert live_codes() == set()  # nothing measured yet
    assert live.deploy("test", options=FAST).ok
    live.perf("tools/dep", "test", options=ONE_LEVEL)
    assert live_codes() == {
        ("sla-live-latency", "tools/dep@1.0"),
        ("sla-live-throughput", "tools/dep@1.0"),
        ("sla-live-chain", "tools/caller@1.0"),
    }
    chain = next(
        p for p in live.validate(live=True, target="test").problems if p.code == "sla-live-chain"
    )
    assert "tools/dep@1.0" in chain.message and "measured" in chain.message
    # Measurements of another target do not count for this one.
    assert live_codes("local") == set()

    # dep's SLA is relaxed in a new version: until it is measured, nothing is known of it.
    # (Generous budgets from here on: a loaded machine must not add findings.)
    live.apply([sleeping_model(tmp_path, "dep", "1.1", sleep_ms=35, p99_ms=2000)])
    assert live_codes() == set()
    assert live.deploy("test", options=FAST).ok
    live.perf("tools/dep", "test", options=ONE_LEVEL)
    # dep now meets its own SLA; the caller's 30 ms still cannot hold it.
    assert live_codes() == {("sla-live-chain", "tools/caller@1.0")}

    # The caller's budget grows (a new version): the last finding goes away.
    live.apply(
        [
            sleeping_model(
                tmp_path, "caller", "2.0", sleep_ms=1, p99_ms=5000, dependencies="[tools/dep]"
            )
        ]
    )
    assert live_codes() == set()


def test_cli_perf_exit_codes_json_and_report(live: Workspace, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from modelyard.cli.app import app

    live.apply([sleeping_model(tmp_path, "sleeper", "1.0", sleep_ms=20, p99_ms=10)])
    assert live.deploy("test", options=FAST).ok
    assert live.root is not None
    base = ["--workspace", str(live.root)]
    runner = CliRunner()
    args = [
        "perf",
        "tools/sleeper",
        "--target",
        "test",
        "--concurrency",
        "1,2",
        "--duration",
        "5s",
        "--requests",
        "30",
        "--warmup",
        "3",
    ]
    result = runner.invoke(app, [*args, *base, "--json"], catch_exceptions=False)
    assert result.exit_code == 1, result.output  # the 10 ms SLA fails
    data = json.loads(result.stdout)
    assert data["passed"] is False and [lv["concurrency"] for lv in data["levels"]] == [1, 2]
    assert all(lv["requests"] == 30 and lv["warmup"]["requests"] == 3 for lv in data["levels"])
    assert data["checks"][0]["target"] == "latency_p99" and data["checks"][0]["margin"] < 0

    shown = runner.invoke(app, [*args, *base], catch_exceptions=False)
    assert shown.exit_code == 1
    assert "FAIL" in shown.stdout and "p99 latency" in shown.stdout
    assert "client overhead" in shown.stdout and "per instance" in shown.stdout

    validation = runner.invoke(
        app, ["validate", "--live", "--target", "test", *base, "--json"], catch_exceptions=False
    )
    codes = {p["code"] for p in json.loads(validation.stdout)["problems"]}
    assert "sla-live-latency" in codes
    strict = runner.invoke(
        app, ["validate", "--live", "--strict", *base, "--json"], catch_exceptions=False
    )
    assert strict.exit_code == 1

    placed = runner.invoke(app, ["place", "--calibrated", *base, "--json"], catch_exceptions=False)
    assert placed.exit_code == 0, placed.output

    page = live.html_report(tmp_path / "report").read_text()
    table = page[page.index('id="measured-table"') : page.index('<h2 id="findings">')]
    assert "tools/sleeper@1.0" in table and 'class="overrun"' in table

    for bad, code in (
        (["--concurrency", "0"], 2),
        (["--duration", "soon"], 2),
        (["--target", "nowhere"], 3),
    ):
        refused = runner.invoke(
            app, ["perf", "tools/sleeper", *bad, *base, "--json"], catch_exceptions=False
        )
        assert refused.exit_code == code, refused.output


def test_perf_only_targets_the_workspace_names_and_served_versions(
    live: Workspace, tmp_path: Path
) -> None:
    live.apply([sleeping_model(tmp_path, "idle", "1.0", sleep_ms=1)])
    with pytest.raises(NotFound, match="no target 'elsewhere'"):
        live.perf("tools/idle", "elsewhere")
    with pytest.raises(TritonError, match="not READY on target 'test'.*deploy it first"):
        live.perf("tools/idle", "test", options=ONE_LEVEL)
    assert live.measurements("tools/idle") == []
