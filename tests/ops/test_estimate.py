"""Estimates from the deployment history: recorded when a rollout starts, measured once a
target has loaded a model (the runner through a fake Triton over a real folder)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelyard import Workspace
from modelyard.config import TargetConfig
from modelyard.deploy.runner import DeployOptions, Rollout, rollout_plan
from modelyard.ops.estimate import estimate_plan, recorded_loads, starting_estimate
from modelyard.store.history import DeploymentLog, DeploymentRecord
from tests.support.fake_triton import FakeTriton
from tests.support.rollout import compiled_selection
from tests.support.workspaces import Cli

QUICK = DeployOptions(concurrency=2, load_timeout_s=5, ready_timeout_s=1)
RANKER = "recommendation.recommendation_ranker"
CONFIG = TargetConfig(url="http://fake-triton:8000", repository="repo", profile="local")


def record(actions: list[dict[str, Any]], number: int = 1) -> DeploymentRecord:
    now = datetime.now(UTC)
    return DeploymentRecord(
        id=number,
        target="edge",
        actor="local:ci",
        selection="newest",
        started_at=now,
        finished_at=now,
        outcome="succeeded",
        error=None,
        actions=actions,
    )


def test_only_finished_loads_count_as_measurements() -> None:
    newest = record(
        [
            {"model": "a", "action": "load", "status": "done", "seconds": 1.5, "error": None},
            {"model": "b", "action": "load", "status": "failed", "seconds": 9.0, "error": "x"},
            {"model": "c", "action": "reload", "status": "rolled_back", "seconds": 2.0},
            {"model": "d", "action": "load", "status": "rolled_back", "seconds": 0.1, "error": "x"},
            {"model": "e", "action": "unload", "status": "done", "seconds": 0.2},
            {"model": "f", "action": "load", "status": "skipped", "seconds": None},
        ],
        2,
    )
    older = record([{"model": "a", "action": "load", "status": "done", "seconds": 3.0}])
    assert recorded_loads([newest, older]) == {"a": [1.5, 3.0], "c": [2.0]}


def _deploy(workspace: Workspace, fake: FakeTriton) -> int:
    compiled, dependencies = compiled_selection(workspace.store)
    ctx = workspace.context()
    with fake.serving("edge") as target:
        estimate = starting_estimate(ctx, target, compiled, dependencies, CONFIG, QUICK.concurrency)
        result = Rollout(
            DeploymentLog(workspace.store, estimate=estimate),
            target,
            compiled,
            dependencies,
            selection="newest",
            actor="local:ci",
            options=QUICK,
        ).run()
    return result.deployment_id


def test_a_deployment_records_its_estimate_and_the_next_plan_is_measured(
    netflix: Workspace, cli: Cli, tmp_path: Path
) -> None:
    first = _deploy(netflix, FakeTriton(tmp_path / "repo"))
    [recorded] = netflix.history("edge")
    assert recorded.id == first and recorded.estimate is not None
    assert recorded.estimate["guessed"] == 6 and recorded.estimate["measured"] == 0
    assert {load["how"] for load in recorded.estimate["loads"]} == {
        "guess: default 2 s (no load recorded on this target)"
    }
    # Six loads of 2 s, two at once: three rounds, the ensemble in the last (after its steps).
    assert recorded.estimated_seconds == 6.0
    assert recorded.seconds is not None and recorded.seconds >= 0
    schedule = {load["model"]: load["start_s"] for load in recorded.estimate["loads"]}
    assert schedule[RANKER] == 4.0 and sorted(schedule.values()) == [0, 0, 2, 2, 4, 4]
    assert recorded.estimate["critical_path"][-1] in (RANKER, "search.content_retrieval")

    # The same target, its server restarted empty: every load is measured now.
    compiled, dependencies = compiled_selection(netflix.store)
    with FakeTriton(tmp_path / "repo").serving("edge") as target:
        plan = rollout_plan(target, compiled, dependencies)
    estimate = estimate_plan(netflix.context(), plan, compiled, concurrency=2)
    took = {a["model"]: a["seconds"] for a in recorded.actions}
    assert {load.model: (load.basis, load.samples, load.seconds) for load in estimate.loads} == {
        name: ("measured", 1, seconds) for name, seconds in took.items()
    }
    assert {load.how for load in estimate.loads} == {"median of 1 recorded load(s)"}
    assert estimate.seconds > 0 and len(estimate.critical_path) >= 2

    # history shows the estimate beside what it took, as text and as JSON.
    history = cli.json("history", "--target", "edge")
    [entry] = history["deployments"]
    assert entry["estimated_seconds"] == 6.0 and entry["seconds"] == recorded.seconds
    assert entry["estimate"]["workers"] == 2
