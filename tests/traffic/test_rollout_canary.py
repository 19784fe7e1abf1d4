"""Stepwise canary rollouts against real Triton, real HAProxy and real Prometheus: a
candidate answering 5 % errors and one 30 ms slower than its baseline are rolled back at
the first step, a good one reaches 100 % and moves `production`, and a rollout killed
mid-step shows as interrupted and is aborted back to its baseline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelyard.ops.doctor import diagnose
from modelyard.store.access import AccessLog
from modelyard.store.canary import CanaryLog
from modelyard.store.experiments import ExperimentLog
from tests.support.canary import LOOSE_SLA, CanaryBed, canary_bed, echo, needs_prometheus
from tests.support.gateway import Loop, needs_haproxy, send
from tests.support.workspaces import Cli

# Each step compares the arms' p99 and error rates: measured alone (pytest.mark.timing).
pytestmark = [
    pytest.mark.triton,
    pytest.mark.gateway,
    pytest.mark.timing,
    needs_haproxy,
    needs_prometheus,
]

MODEL = "tools/echo"


def _weights(bed: CanaryBed) -> dict[str, int]:
    return bed.workspace.gateway_status("test").routes.get("tools.echo", {})


def test_a_candidate_answering_5_percent_errors_is_rolled_back_at_the_first_step(
    tmp_path: Path, catalog_url: str
) -> None:
    with canary_bed(tmp_path, catalog_url, echo()) as bed:
        bed.candidate("2.0", echo(every_nth_error=20))
        with Loop(bed.gateway_url) as loop:
            result = bed.workspace.rollout_canary(
                MODEL,
                "2.0",
                steps="10,50,100",
                interval="4s",
                min_requests=50,
                target="test",
            )
        assert not result.ok and result.rollout.state == "failed"
        analyses = [e for e in result.events if e.kind == "analysis"]
        assert [(a.step, a.outcome) for a in analyses] == [(1, "failed")]
        reason = result.rollout.reason or ""
        assert "step 1 (10 %) failed, rolled back to 1.0" in reason
        assert "error rate" in reason and "p = " in reason, reason
        figures = analyses[0].figures
        assert figures["candidate"]["errors"] > 0 and figures["baseline"]["errors"] == 0
        assert 0.02 <= figures["candidate"]["errors"] / figures["candidate"]["requests"] <= 0.08
        # Weight 0 after the first analysis: the experiment stopped keeping the baseline.
        assert _weights(bed) == {"1.0": 100}
        assert send(bed.gateway_url, 200).values == {1.0: 200}
        assert bed.workspace.store.aliases(MODEL) == []  # no alias moved
        # Only the candidate's own answers failed.
        assert len(loop.answers.failures) == figures["candidate"]["errors"] or all(
            "500" in f for f in loop.answers.failures
        )
        actions = [e.action for e in AccessLog(bed.workspace.store).entries()]
        assert {"rollout.start", "rollout.weight", "rollout.analysis", "rollout.failed"} <= set(
            actions
        )


def test_a_candidate_30_ms_slower_is_rolled_back_naming_p99_sla_and_baseline(
    tmp_path: Path, catalog_url: str
) -> None:
    with canary_bed(tmp_path, catalog_url, echo(delay_ms=20)) as bed:
        bed.candidate("2.0", echo(delay_ms=50))
        # One client at a time: Triton's request latency includes its queue, and one
        # python-backend instance per version queues concurrent requests.
        with Loop(bed.gateway_url, threads=1) as loop:
            result = bed.workspace.rollout_canary(
                MODEL, "2.0", steps="20,100", interval="5s", min_requests=20, target="test"
            )
        assert loop.answers.failures == []  # 0 client requests failed
        assert result.rollout.state == "failed"
        analysis = next(e for e in result.events if e.kind == "analysis")
        assert analysis.step == 1 and analysis.outcome == "failed"
        reason = result.rollout.reason or ""
        print(reason)
        assert "over the SLA 40 ms" in reason, reason
        assert "over the baseline's" in reason and "baseline p99" in reason, reason
        assert "p = " in reason, reason
        candidate, baseline = analysis.figures["candidate"], analysis.figures["baseline"]
        assert candidate["p99_ms"] > 40 and candidate["mean_ms"] >= 45, analysis.figures
        assert baseline["mean_ms"] < 30, analysis.figures
        assert _weights(bed) == {"1.0": 100}


def test_a_good_candidate_reaches_100_percent_and_production_moves(
    tmp_path: Path, catalog_url: str
) -> None:
    with canary_bed(tmp_path, catalog_url, echo(), LOOSE_SLA) as bed:
        bed.candidate("2.0", echo(), LOOSE_SLA)
        cli = Cli(bed.root)
        with Loop(bed.gateway_url) as loop:
            result = cli.json(
                *("rollout", MODEL, "--to", "2.0", "--steps", "25,50,100", "--interval", "3s"),
                *("--min-requests", "50", "--max-latency-increase", "5", "--target", "test"),
            )
        assert loop.answers.failures == []
        assert result["ok"] is True and result["rollout"]["state"] == "succeeded"
        assert result["promoted"] == {"alias": "production", "version": "2.0"}
        kinds = [(e["kind"], e["step"], e["weight"]) for e in result["events"]]
        assert [k for k in kinds if k[0] == "weight"] == [
            ("weight", 1, 25),
            ("weight", 2, 50),
            ("weight", 3, 100),
        ]
        analyses = [e for e in result["events"] if e["kind"] == "analysis"]
        assert [e["outcome"] for e in analyses] == ["passed"] * 3
        # Throughput per unit of weight from Triton's counters: both arms while the
        # baseline has weight, the previous step's baseline at 100 %.
        throughput = [a["figures"]["throughput"] for a in analyses]
        assert [t["reference"] for t in throughput] == ["baseline", "baseline", "previous step"]
        assert all(t["ratio"] > 0.5 for t in throughput), throughput
        # Memory: the python-backend stubs' resident sets here; no GPU, so not measured.
        memory = analyses[0]["figures"]["memory"]
        assert memory["memory_mb"]["candidate"] > 0 and memory["memory_mb"]["baseline"] > 0
        assert memory["gpu_memory_mb"]["candidate"] is None
        assert "GPU memory not measured" in analyses[0]["reason"]
        assert _weights(bed) == {"2.0": 100}
        assert [(a.name, a.version) for a in bed.workspace.store.aliases(MODEL)] == [
            ("production", "2.0")
        ]
        shown = cli.json("rollout", "status", MODEL)["rollouts"][0]
        assert shown["interrupted"] is False and len(shown["events"]) == len(result["events"])
        table = cli("rollout", "status", MODEL).stdout
        assert "succeeded" in table and "passed" in table
        # `history` shows every step beside the deployments.
        history = cli.json("history", "--target", "test")
        assert history["deployments"] and len(history["rollouts"]) == 1
        shown_history = cli("history", "--target", "test").stdout
        for line in ("1.0 -> 2.0 succeeded", "step 1 25% weight", "step 3 100% decision passed"):
            assert line in shown_history, shown_history


def _start_and_kill(bed: CanaryBed, signal_number: int = signal.SIGKILL) -> None:
    """`modelyard rollout` as a process, signalled once its first step's weight is set."""
    command = [
        *(sys.executable, "-m", "modelyard.cli", "rollout", MODEL, "--to", "2.0"),
        *("--steps", "10,100", "--interval", "60s", "--target", "test"),
        *("--workspace", str(bed.root)),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = CanaryLog(bed.workspace.store)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            records = log.history(model_id=MODEL)
            if records and records[0].state == "running" and records[0].weight == 10:
                break
            time.sleep(0.2)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert _weights(bed) == {"1.0": 90, "2.0": 10}
    finally:
        process.send_signal(signal_number)
        process.wait(timeout=60)
        if process.stderr:
            process.stderr.close()


def test_a_rollout_killed_mid_step_shows_interrupted_and_abort_restores(
    tmp_path: Path, catalog_url: str
) -> None:
    with canary_bed(tmp_path, catalog_url, echo()) as bed:
        bed.candidate("2.0", echo())
        _start_and_kill(bed)
        cli = Cli(bed.root)
        shown = cli.json("rollout", "status", MODEL)["rollouts"][0]
        assert shown["rollout"]["state"] == "running" and shown["interrupted"] is True
        assert "interrupted" in cli("rollout", "status").stdout
        doctor = diagnose(bed.root)
        assert any(c.area == "rollouts" and "interrupted" in c.detail for c in doctor.checks)
        aborted = cli.json("rollout", "abort", MODEL, "--target", "test")
        assert aborted["rollout"]["state"] == "aborted"
        assert aborted["interrupted"] is False
        assert _weights(bed) == {"1.0": 100}
        assert ExperimentLog(bed.workspace.store).running("tools/echo", "test") is None
        assert bed.workspace.gateway_status("test").in_sync is True
        assert send(bed.gateway_url, 100).values == {1.0: 100}
        assert bed.workspace.store.aliases(MODEL) == []
        # Killed again; this time a new rollout of the model takes over: the interrupted
        # one goes back to its baseline first, then the new one runs to the end.
        _start_and_kill(bed)
        with Loop(bed.gateway_url) as loop:
            result = bed.workspace.rollout_canary(
                MODEL, "2.0", steps="100", interval="3s", min_requests=20, target="test"
            )
        assert loop.answers.failures == []
        assert result.rollout.state == "succeeded", result.rollout.reason
        previous = CanaryLog(bed.workspace.store).history(model_id=MODEL)[1]
        assert previous.state == "aborted"
        assert previous.reason == "interrupted; a new rollout took over; every request back to 1.0"
        assert _weights(bed) == {"2.0": 100}
        assert bed.workspace.gateway_status("test").in_sync is True
        assert [(a.name, a.version) for a in bed.workspace.store.aliases(MODEL)] == [
            ("production", "2.0")
        ]


def test_ctrl_c_sends_everything_back_to_the_baseline(tmp_path: Path, catalog_url: str) -> None:
    with canary_bed(tmp_path, catalog_url, echo()) as bed:
        bed.candidate("2.0", echo())
        _start_and_kill(bed, signal.SIGINT)
        [record] = CanaryLog(bed.workspace.store).history(model_id=MODEL)
        assert record.state == "aborted"
        assert record.reason == "stopped by Ctrl-C; every request back to 1.0"
        assert _weights(bed) == {"1.0": 100}
        assert bed.workspace.gateway_status("test").in_sync is True
