"""Canary helpers: a workspace with a local Triton (its metrics port in modelyard.yaml),
the gateway and a local Prometheus in front, a baseline echo model served, and
python-backend candidates that answer slowly or with errors."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelyard import Workspace
from modelyard.ops import canary, traffic
from modelyard.traffic import haproxy
from modelyard.traffic.nginx import ShadowProxy
from modelyard.triton.server import LocalTriton, free_port
from tests.support.rollout import FAST, python_model
from tests.support.workspaces import init_workspace

# CI installs Debian's prometheus (make system-test); elsewhere these tests say why they skip.
needs_prometheus = pytest.mark.skipif(
    shutil.which("prometheus") is None
    and not Path("/usr/bin/prometheus").exists()
    and not os.environ.get("CI"),
    reason="no prometheus: apt-get install prometheus",
)

SLA = "sla_requirements: {max_latency_p99_ms: 40}"
# For the tests of a good candidate's way through: on a busy 2-core CI machine a 40 ms
# SLA (and a 20 % mean increase) can catch a scheduler stall of the echo's one instance,
# not a bad candidate. The slower candidate's test is the one about latency.
LOOSE_SLA = "sla_requirements: {max_latency_p99_ms: 500}"


def echo(delay_ms: float = 0, every_nth_error: int = 0) -> str:
    """A model answering its Triton version after `delay_ms`; with `every_nth_error`, every
    n-th request (not the first: the smoke inference passes) gets an error answer, which
    the client sees as HTTP 500 and Triton counts as a success."""
    return f"""
import time
import numpy as np
import triton_python_backend_utils as pb_utils

class TritonPythonModel:
    def initialize(self, args):
        self.version = float(args["model_version"])
        self.count = 0

    def execute(self, requests):
        answers = []
        for _ in requests:
            self.count += 1
            if {delay_ms}:
                time.sleep({delay_ms} / 1000.0)
            if {every_nth_error} and self.count % {every_nth_error or 1} == 0:
                answers.append(pb_utils.InferenceResponse(
                    error=pb_utils.TritonError("the candidate failed")))
                continue
            answers.append(pb_utils.InferenceResponse([pb_utils.Tensor(
                "Y", np.full((1, 1), self.version, np.float32))]))
        return answers
"""


@dataclass
class CanaryBed:
    """A workspace, target `test` on a local Triton, the gateway and Prometheus."""

    workspace: Workspace
    root: Path
    tmp_path: Path
    gateway_url: str = ""

    def candidate(self, version: str, code: str, manifest_extra: str = SLA) -> None:
        self.workspace.apply([python_model(self.tmp_path, "echo", version, code, manifest_extra)])


@contextmanager
def canary_bed(
    tmp_path: Path, catalog_url: str, baseline_code: str, manifest_extra: str = SLA
) -> Iterator[CanaryBed]:
    """Echo 1.0 (`baseline_code`, SLA p99 40 ms unless `manifest_extra` says otherwise)
    served, gateway and Prometheus running; every process stopped afterwards."""
    root = tmp_path / "ws"
    root.mkdir()
    port, metrics_port = free_port(), free_port()
    (root / "modelyard.yaml").write_text(
        "targets:\n  test: {"
        f"url: 'http://127.0.0.1:{port}', metrics_url: 'http://127.0.0.1:{metrics_port}', "
        "repository: repo, profile: local}\n"
    )
    workspace = init_workspace(root, catalog_url)
    server = LocalTriton(
        root / "repo", root / ".modelyard" / "triton", http_port=port, metrics_port=metrics_port
    )
    client = server.start()
    bed = CanaryBed(workspace, root, tmp_path)
    try:
        workspace.apply([python_model(tmp_path, "echo", "1.0", baseline_code, manifest_extra)])
        workspace.deploy("test", options=FAST)
        status = workspace.start_gateway("test", port=free_port())
        assert status.url is not None
        bed.gateway_url = status.url
        metrics = workspace.start_metrics("test", port=free_port())
        assert metrics.running and all(metrics.scrapes.values()), metrics
        yield bed
    finally:
        ctx = workspace.context()
        canary.metrics_files(ctx, "test").stop()
        files = traffic.gateway_files(ctx, "test")
        haproxy.stop(files, files.pids())
        ShadowProxy(files.folder).stop()
        client.close()
        server.stop()
        workspace.close()


def recorded_rollout(
    workspace: Workspace, model: str, baseline: str, candidate: str, *, actor: str = "ann"
) -> int:
    """A finished rollout in the catalog as the driver records one, figures from the real
    analysis: step 1 (10 %) passed, step 2 (50 %) inconclusive then failed on errors
    (p99 not known at the second look), rolled back. Returns its id."""
    from modelyard.store.canary import CanaryLog
    from modelyard.traffic.canary import ArmFigures, Thresholds, analyse

    log = CanaryLog(workspace.store)
    record = log.start(
        model,
        "local",
        baseline=baseline,
        candidate=candidate,
        steps=[10, 50, 100],
        interval_s=30,
        settings={},
        holder="ann@elsewhere:1/abc",
        actor=actor,
    )
    thresholds = Thresholds(min_requests=100, sla_p99_ms=40, declared_memory_mb=512)
    looks = [
        (
            1,
            10,
            0,
            ArmFigures(900, 1, 21, 18, 0.9, 30, 40),
            ArmFigures(100, 0, 23, 19, 0.1, 3.3, 45),
        ),
        (2, 50, 0, ArmFigures(1400, 2, None, 18, 0.5), ArmFigures(90, 1, None, 19, 0.5)),
        (2, 50, 1, ArmFigures(1900, 2, 22, 18, 0.5), ArmFigures(600, 60, 24, 19, 0.5, 20)),
    ]
    for step, weight, extension, base, cand in looks:
        if extension == 0:
            log.add_event(record, "weight", step=step, weight=weight, actor=actor)
        verdict = analyse(
            base, cand, step=step, steps=3, extension=extension, thresholds=thresholds
        )
        log.add_event(
            record,
            "analysis",
            step=step,
            weight=weight,
            actor=actor,
            outcome=verdict.outcome,
            reason=verdict.reason,
            figures=verdict.figures,
        )
    log.add_event(
        record,
        "decision",
        step=2,
        weight=0,
        actor=actor,
        outcome="failed",
        reason=f"rolled back to {baseline}: {verdict.reason}",
    )
    log.finish(
        log.get(record.id),
        "failed",
        f"step 2 (50 %) failed, rolled back to {baseline}: {verdict.reason}",
        weight=0,
        actor=actor,
    )
    return record.id
