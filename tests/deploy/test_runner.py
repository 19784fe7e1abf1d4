"""The runner through a Target whose HTTP goes to a fake Triton (the transport seam) over a
real repository folder: faults a real server cannot produce on demand, mid-rollout."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard import RolloutFailed, Workspace
from modelyard.deploy.runner import DeployOptions, Rollout, rollout_plan
from modelyard.store.history import DeploymentLog
from tests.support.fake_triton import FakeTriton
from tests.support.rollout import GOOD_MODEL, compiled_selection, python_model

QUICK = DeployOptions(concurrency=2, load_timeout_s=5, ready_timeout_s=1)
RANKER = "recommendation.recommendation_ranker"


def test_a_reset_mid_rollout_rolls_back_what_was_loaded(netflix: Workspace, tmp_path: Path) -> None:
    compiled, dependencies = compiled_selection(netflix.store)
    fake = FakeTriton(tmp_path / "repo")
    # The ensemble loads last (it waits for its steps): the others are READY by then.
    fake.reset("load", RANKER)
    log = DeploymentLog(netflix.store)
    with fake.serving("edge") as target:
        rollout = Rollout(
            log,
            target,
            compiled,
            dependencies,
            selection="newest",
            actor="token:alice",
            holder="deployer-1",
            options=QUICK,
        )
        with pytest.raises(RolloutFailed) as failed:
            rollout.run()
    message = failed.value.message
    assert "http://fake-triton:8000 is unreachable: model " + RANKER in message
    assert "rolled back" in message and "serves what it served before" in message
    assert fake.ready == {}  # nothing was served before: every load is undone
    record = log.history("edge")[0]
    assert (record.outcome, record.actor, record.holder) == ("failed", "token:alice", "deployer-1")
    assert record.error is not None and RANKER in record.error
    statuses = {action["model"]: action["status"] for action in record.actions}
    assert set(statuses.values()) == {"rolled_back"} and len(statuses) == 6
    assert ("unload", RANKER) in fake.calls
    assert log.leases() == []  # released


def test_a_failed_upgrade_restores_the_repository_and_the_old_version(
    workspace: Workspace, tmp_path: Path
) -> None:
    log = DeploymentLog(workspace.store)
    fake = FakeTriton(tmp_path / "repo")
    workspace.apply([python_model(tmp_path, "echo", "1.0", GOOD_MODEL)])
    compiled, dependencies = compiled_selection(workspace.store)
    with fake.serving("edge") as target:
        Rollout(
            log, target, compiled, dependencies, selection="newest", actor="local:ci", options=QUICK
        ).run()
        assert fake.ready == {"tools.echo": [1]}
        before = target.published_files()
        assert before is not None

        workspace.apply([python_model(tmp_path, "echo", "2.0", GOOD_MODEL)])
        upgrade, dependencies = compiled_selection(workspace.store)
        plan = rollout_plan(target, upgrade, dependencies)
        assert [(a.triton_name, a.action) for a in plan.changes] == [("tools.echo", "reload")]
        fake.reset("load", "tools.echo")  # the overlap load (versions 1 and 2) is cut off
        rollout = Rollout(
            log, target, upgrade, dependencies, selection="newest", actor="local:ci", options=QUICK
        )
        with pytest.raises(RolloutFailed, match="rolled back tools.echo"):
            rollout.run()
        after = target.published_files()
    assert after is not None
    assert {f.path: f.digest for f in after} == {f.path: f.digest for f in before}
    assert fake.ready == {"tools.echo": [1]}  # reloaded from the restored repository
    record = log.history("edge")[0]
    assert record.outcome == "failed" and record.actor == "local:ci"
    assert record.holder is not None and record.holder != "local:ci"
    assert [a["status"] for a in record.actions] == ["rolled_back"]


def test_a_smoke_inference_that_is_refused_fails_the_rollout(
    workspace: Workspace, tmp_path: Path
) -> None:
    log = DeploymentLog(workspace.store)
    fake = FakeTriton(tmp_path / "repo")
    workspace.apply([python_model(tmp_path, "echo", "1.0", GOOD_MODEL)])
    compiled, dependencies = compiled_selection(workspace.store)
    fake.refuse("infer", "tools.echo", status=500, message="cannot answer")
    with fake.serving("edge") as target:
        rollout = Rollout(
            log, target, compiled, dependencies, selection="newest", actor="local:ci", options=QUICK
        )
        with pytest.raises(RolloutFailed, match="smoke inference on version 1 failed"):
            rollout.run()
    assert fake.ready == {}
    assert log.history("edge")[0].outcome == "failed"
