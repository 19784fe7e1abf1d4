"""Canary analysis (pure) and bad input to `rollout` and `metrics`: one clear line, the
right exit code, nothing changed (no Triton needed: each is refused before anything
starts)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from modelyard import InputError, Workspace
from modelyard.ops.canary import is_interrupted
from modelyard.store.access import AccessLog
from modelyard.store.canary import CanaryLog
from modelyard.traffic.canary import (
    ArmFigures,
    Thresholds,
    analyse,
    parse_interval,
    parse_steps,
)
from modelyard.triton.server import free_port
from tests.support.canary import SLA, echo, needs_prometheus
from tests.support.rollout import python_model
from tests.support.workspaces import Cli, init_workspace

STRICT = Thresholds(max_error_rate=0.01, min_requests=100, max_extensions=2, sla_p99_ms=40)


def test_steps_and_intervals() -> None:
    assert parse_steps("5,25,50,100") == [5, 25, 50, 100]
    assert parse_steps("100") == [100]
    assert parse_interval("60s") == 60 and parse_interval("2m") == 120
    assert parse_interval("500ms") == 0.5 and parse_interval("5") == 5
    for bad, message in (
        ("5,25,50", "the last step must be 100"),
        ("50,25,100", "must increase"),
        ("5,5,100", "must increase"),
        ("0,100", "from 1 to 100"),
        ("5,x,100", "expected increasing percents"),
    ):
        with pytest.raises(InputError, match=message):
            parse_steps(bad)
    for bad in ("0", "0s", "soon", "-5s"):
        with pytest.raises(InputError, match="--interval"):
            parse_interval(bad)


def test_a_baseline_without_errors_against_many_candidate_errors() -> None:
    # The score test (not Fisher's: every expected count is large); warnings are errors.
    verdict = analyse(
        ArmFigures(8000, 0), ArmFigures(700, 210), step=1, steps=3, extension=0, thresholds=STRICT
    )
    assert verdict.outcome == "failed" and verdict.figures["test"] == "two-proportion score"


def test_a_step_with_too_few_requests_holds_then_fails() -> None:
    few = ArmFigures(requests=40, errors=0)
    held = analyse(ArmFigures(900, 0), few, step=1, steps=4, extension=0, thresholds=STRICT)
    assert held.outcome == "inconclusive" and "fewer than --min-requests 100" in held.reason
    failed = analyse(ArmFigures(900, 0), few, step=1, steps=4, extension=2, thresholds=STRICT)
    assert failed.outcome == "failed" and "after 2 extensions" in failed.reason


def test_errors_latency_and_a_pass() -> None:
    base = ArmFigures(requests=2000, errors=2, p99_ms=22, mean_ms=20)
    bad = analyse(
        base, ArmFigures(200, 10, 23, 20), step=1, steps=4, extension=0, thresholds=STRICT
    )
    assert bad.outcome == "failed" and "error rate 10/200 = 5.00%" in bad.reason
    assert bad.figures["p_value"] < 0.001 and "p = " in bad.reason
    slow = analyse(
        base, ArmFigures(200, 0, 55, 50), step=1, steps=4, extension=0, thresholds=STRICT
    )
    assert slow.outcome == "failed"
    assert "p99 55.0 ms over the SLA 40 ms (baseline p99 22.0 ms)" in slow.reason
    assert "mean 50.0 ms over the baseline's 20.0 ms + 20%" in slow.reason
    # A sub-ms wobble of a fast model is no regression.
    fast = ArmFigures(2000, 0, 1.0, 0.5)
    fine = analyse(
        fast, ArmFigures(300, 0, 1.5, 0.9), step=2, steps=4, extension=0, thresholds=STRICT
    )
    assert fine.outcome == "passed", fine.reason
    # No SLA asked: latency is not judged.
    unjudged = Thresholds(min_requests=100)
    assert (
        analyse(
            base, ArmFigures(200, 0, 90, 80), step=1, steps=4, extension=0, thresholds=unjudged
        ).outcome
        == "passed"
    )


MEASURED = Thresholds(
    max_error_rate=0.01,
    min_requests=100,
    sla_p99_ms=40,
    declared_memory_mb=512,
    declared_gpu_memory_mb=4096,
)


def _at(
    percent: int,
    rps: float | None,
    memory_mb: float | None = None,
    gpu_memory_mb: float | None = None,
) -> ArmFigures:
    # 2,000 requests without errors, 20 ms: only throughput and memory can fail it.
    return ArmFigures(
        2000,
        0,
        22,
        20,
        share=percent / 100,
        throughput_rps=rps,
        memory_mb=memory_mb,
        gpu_memory_mb=gpu_memory_mb,
    )


def test_a_candidate_completing_far_less_than_its_share_fails_with_figures() -> None:
    # 25 % of the weight: a healthy candidate completes a third of the baseline's rate.
    fine = analyse(_at(75, 300.0), _at(25, 96.0), step=2, steps=4, extension=0, thresholds=MEASURED)
    assert fine.outcome == "passed", fine.reason
    assert fine.figures["throughput"]["ratio"] == pytest.approx(0.96)
    assert "384.0 rps per unit of weight vs the baseline's 400.0 (96%)" in fine.reason
    queued = analyse(
        _at(75, 300.0), _at(25, 30.0), step=2, steps=4, extension=0, thresholds=MEASURED
    )
    assert queued.outcome == "failed"
    assert queued.figures["throughput"]["candidate_rps_per_weight"] == pytest.approx(120)
    assert "throughput 30.0 rps at 25% of the weight = 120.0 rps per unit of weight" in (
        queued.reason
    )
    assert "below 50% of the baseline's (--max-throughput-drop)" in queued.reason


def test_at_100_percent_the_throughput_reference_is_the_previous_step() -> None:
    alone = _at(0, None)
    full = analyse(
        alone,
        _at(100, 150.0),
        step=4,
        steps=4,
        extension=0,
        thresholds=MEASURED,
        reference_rps_per_weight=400.0,
    )
    assert full.outcome == "failed"
    assert full.figures["throughput"]["reference"] == "previous step"
    assert "vs the baseline (previous step)'s 400.0 (38%)" in full.reason
    unknown = analyse(alone, _at(100, 150.0), step=4, steps=4, extension=0, thresholds=MEASURED)
    assert unknown.outcome == "passed"
    assert unknown.figures["throughput"]["ratio"] is None
    assert "throughput not measured (the baseline's completed requests unknown)" in (unknown.reason)


def test_memory_over_the_declaration_fails_and_an_unmeasured_gpu_judges_nothing() -> None:
    within = analyse(
        _at(90, 300.0, memory_mb=40.0),
        _at(10, 33.0, memory_mb=540.0),
        step=1,
        steps=4,
        extension=0,
        thresholds=MEASURED,
    )
    # 540 MB is within 10 % of the 512 declared; no GPU here: not measured, not judged.
    assert within.outcome == "passed", within.reason
    assert "memory 540.0 MB per instance of 512 MB declared (baseline 40.0 MB)" in within.reason
    assert "GPU memory not measured" in within.reason
    assert within.figures["memory"]["gpu_memory_mb"] == {
        "candidate": None,
        "baseline": None,
        "declared": 4096,
        "drift": None,
    }
    assert within.figures["memory"]["memory_mb"]["drift"] == pytest.approx(28)
    over = analyse(
        _at(90, 300.0, memory_mb=40.0),
        _at(10, 33.0, memory_mb=900.0, gpu_memory_mb=6000.0),
        step=1,
        steps=4,
        extension=0,
        thresholds=MEASURED,
    )
    assert over.outcome == "failed"
    assert "resource_requirements.memory_mb by more than 10% (--max-memory-drift)" in over.reason
    # A GPU target's figure is judged the same way.
    assert "GPU memory 6,000.0 MB per instance of 4,096 MB declared" in over.reason
    assert "resource_requirements.gpu_memory_mb" in over.reason


def test_thresholds_for_throughput_and_memory_are_checked() -> None:
    with pytest.raises(InputError, match="--max-throughput-drop"):
        Thresholds(max_throughput_drop=1.0).check()
    with pytest.raises(InputError, match="--max-memory-drift"):
        Thresholds(max_memory_drift=-0.1).check()


def test_an_identical_candidate_fails_at_most_alpha_of_rollouts() -> None:
    """A/A over 4 steps, 300 simulated rollouts: the looks are corrected (alpha spending),
    so identical arms fail in at most alpha of them plus a binomial margin."""
    rng = np.random.default_rng(16)
    thresholds = Thresholds(max_error_rate=1.0, min_requests=1, alpha=0.05)
    failed = 0
    runs = 300
    for _ in range(runs):
        base = cand = base_err = cand_err = 0
        for step, percent in enumerate((5, 25, 50, 100), 1):
            n = 4000
            n_cand = n * percent // 100
            cand += n_cand
            base += n - n_cand
            cand_err += int(rng.binomial(n_cand, 0.02))
            base_err += int(rng.binomial(n - n_cand, 0.02))
            verdict = analyse(
                ArmFigures(base, base_err),
                ArmFigures(cand, cand_err),
                step=step,
                steps=4,
                extension=0,
                thresholds=thresholds,
            )
            if verdict.outcome == "failed":
                failed += 1
                break
    # One-sided failures only (worse than the baseline): at most alpha/2 expected.
    assert failed / runs <= 0.05 + 3 * (0.05 * 0.95 / runs) ** 0.5, failed


@pytest.fixture
def ws(tmp_path: Path, catalog_url: str) -> Iterator[Workspace]:
    root = tmp_path / "ws"
    root.mkdir()
    dead = free_port()
    (root / "modelyard.yaml").write_text(
        f"targets:\n  test: {{url: 'http://127.0.0.1:{free_port()}', repository: repo, "
        f"profile: local, prometheus_url: 'http://127.0.0.1:{free_port()}'}}\n"
        # Nothing answers there: its Prometheus scrapes a Triton that is down.
        f"  lab: {{url: 'http://127.0.0.1:{dead}', metrics_url: 'http://127.0.0.1:{dead}', "
        "repository: lab-repo, profile: local}\n"
    )
    workspace = init_workspace(root, catalog_url)
    workspace.apply([python_model(tmp_path, "echo", "1.0", echo(), SLA)])
    workspace.apply([python_model(tmp_path, "echo2", "1.0", echo())])
    workspace.apply([python_model(tmp_path, "echo", "2.0", echo(), SLA)])
    yield workspace
    workspace.close()


def _refused(ws: Workspace, *args: str, expect: int) -> str:
    assert ws.root is not None
    before = len(AccessLog(ws.store).entries())
    result = Cli(ws.root)(*args, expect=expect)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert len(AccessLog(ws.store).entries()) == before  # nothing changed, nothing audited
    assert CanaryLog(ws.store).history() == []
    return lines[0]


@pytest.mark.parametrize(
    ("extra", "expect", "message"),
    [
        (["--steps", "5,25,50"], 2, "the last step must be 100"),
        (["--steps", "50,25,100"], 2, "the steps must increase"),
        (["--interval", "0"], 2, "a step must hold for more than 0 s"),
        (["--max-error-rate", "2"], 2, "--max-error-rate: expected a share"),
        (["--to", "9.9"], 3, r"tools/echo has no version 9.9"),
        ([], 2, r"Prometheus at http://127.0.0.1:\d+ does not answer"),
    ],
)
def test_bad_rollouts_change_nothing(
    ws: Workspace, extra: list[str], expect: int, message: str
) -> None:
    # A repeated option takes its last value: `extra` overrides these.
    args = ["rollout", "tools/echo", "--to", "2.0", "--interval", "5s", "--target", "test"]
    line = _refused(ws, *args, *extra, expect=expect)
    assert re.search(message, line), line


@pytest.mark.slow
@needs_prometheus
def test_a_latency_check_with_no_latency_in_prometheus_is_refused(ws: Workspace) -> None:
    """A real Prometheus whose Triton does not answer: it has no latency of the model, so
    a rollout that compares latencies is refused; without the check, it goes on to need
    a gateway."""
    assert ws.root is not None
    cli = Cli(ws.root)
    started = cli.json("metrics", "start", "--target", "lab", "--port", str(free_port()))
    try:
        assert started["kind"] == "local" and started["running"] is True
        assert started["scrapes"] == {"triton": False}
        pid = started["pid"]
        line = _refused(ws, "rollout", "tools/echo", "--to", "2.0", "--target", "lab", expect=2)
        assert "has no latency of Triton model tools.echo" in line
        assert "--no-check-latency" in line
        line = _refused(
            ws,
            "rollout",
            "tools/echo",
            "--to",
            "2.0",
            "--no-check-latency",
            "--target",
            "lab",
            expect=3,
        )
        assert "no gateway runs for target 'lab'" in line
    finally:
        stopped = cli.json("metrics", "stop", "--target", "lab")
    assert stopped["running"] is False
    assert not Path(f"/proc/{pid}").exists() or "prometheus" not in Path(
        f"/proc/{pid}/cmdline"
    ).read_text(errors="replace")


def test_status_abort_and_metrics_of_nothing(ws: Workspace) -> None:
    assert ws.root is not None
    cli = Cli(ws.root)
    assert cli.json("rollout", "status")["rollouts"] == []
    line = _refused(ws, "rollout", "abort", "tools/echo", "--target", "test", expect=3)
    assert "no rollout of tools/echo runs on target 'test'; nothing changed" in line
    status = cli.json("metrics", "status", "--target", "test")
    assert status["kind"] == "production" and status["running"] is False
    line = _refused(ws, "metrics", "start", "--target", "test", expect=2)
    assert "uses the Prometheus at http://127.0.0.1:" in line


def test_a_rollout_whose_driver_is_gone_is_interrupted(ws: Workspace) -> None:
    log = CanaryLog(ws.store)
    now = datetime.now(UTC)
    alive = log.start(
        "tools/echo",
        "test",
        baseline="1.0",
        candidate="2.0",
        steps=[10, 100],
        interval_s=5,
        settings={},
        holder="me@elsewhere:1/abc",
        actor="ann",
        now=now,
    )
    assert not is_interrupted(alive, now=now + timedelta(seconds=9))
    assert is_interrupted(alive, now=now + timedelta(seconds=11))  # two intervals, no beat
    # A pid of this host that is gone: at once.
    gone = alive.model_copy(update={"holder": f"me@{socket.gethostname()}:999999999/abc"})
    assert is_interrupted(gone, now=now)
    finished = log.finish(alive, "aborted", "test", weight=0, actor="ann")
    assert not is_interrupted(finished, now=now + timedelta(days=1))
