"""Rollouts against a real local Triton: upgrades without failed requests, rollback, lease."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelyard
from modelyard import Conflict, RolloutFailed, ValidationFailed, Workspace
from modelyard.deploy.runner import DeployOptions
from modelyard.store.history import DeploymentLog
from modelyard.triton.client import TritonClient
from modelyard.triton.server import LocalTriton, free_port
from tests.support.netflix import NETFLIX, NETFLIX_MODELS
from tests.support.rollout import (
    FAILS_TO_ANSWER,
    FAST,
    GOOD_MODEL,
    Asker,
    answer,
    python_model,
    ready_models,
)
from tests.support.workspaces import init_workspace

pytestmark = pytest.mark.triton

ARTIFACTS = NETFLIX / "artifacts"

FAILS_AT_LOAD = GOOD_MODEL.replace(
    'self.version = float(args["model_version"])', 'raise RuntimeError("weights are corrupt")'
)
SLOW_TO_LOAD = GOOD_MODEL.replace(
    'self.version = float(args["model_version"])', "import time; time.sleep(8); self.version = 0.0"
)


@pytest.fixture
def deployed(tmp_path: Path, catalog_url: str) -> Iterator[tuple[Workspace, TritonClient]]:
    """A workspace with the Netflix example and a target `test` on a fresh local Triton."""
    root = tmp_path / "ws"
    root.mkdir()
    port = free_port()
    (root / "modelyard.yaml").write_text(
        f"targets:\n  test: {{url: 'http://127.0.0.1:{port}', repository: repo, profile: local}}\n"
    )
    workspace = init_workspace(root, catalog_url)
    workspace.apply([NETFLIX_MODELS])
    server = LocalTriton(root / "repo", root / ".modelyard" / "triton", http_port=port)
    client = server.start()
    try:
        yield workspace, client
    finally:
        client.close()
        server.stop()
        workspace.close()


def test_full_rollout_then_nothing_to_do(deployed: tuple[Workspace, TritonClient]) -> None:
    workspace, client = deployed
    first = workspace.deploy("test", options=FAST)
    assert first.ok and {o.status for o in first.outcomes.values()} == {"done"}
    assert len(ready_models(client)) == 6
    again = workspace.rollout_plan("test")
    assert {a.action for a in again.actions} == {"keep"}
    assert workspace.deploy("test", options=FAST).outcomes == {}
    assert [r.outcome for r in workspace.history("test")] == ["succeeded", "succeeded"]
    assert workspace.status("test").in_sync is True


def test_upgrade_reloads_one_model_and_no_request_fails(
    deployed: tuple[Workspace, TritonClient], tmp_path: Path
) -> None:
    workspace, client = deployed
    workspace.apply([python_model(tmp_path, "echo", "1.0", GOOD_MODEL)])
    workspace.deploy("test", options=FAST)
    assert answer(client, "tools.echo") == 1.0
    workspace.set_alias("tools/echo", "production", "1.0")
    workspace.apply([python_model(tmp_path, "echo", "2.0", GOOD_MODEL)])
    plan = workspace.rollout_plan("test")
    assert [(a.triton_name, a.action) for a in plan.changes] == [("tools.echo", "reload")]

    events: list[tuple[float, str, str]] = []

    def progress(model: str, state: str) -> None:
        events.append((time.monotonic(), model, state))

    with Asker(client, "tools.echo") as asker:
        result = workspace.deploy("test", options=FAST, progress=progress)
    assert result.ok and asker.failures == []
    assert asker.values == {1.0, 2.0}
    # No client saw version 2 before it passed its smoke test where no client could reach it.
    verified = next(at for at, model, state in events if state == "candidate verified")
    first_new = min(at for at, value in asker.answers if value == 2.0)
    assert first_new > verified
    assert ready_models(client)["tools.echo"] == [2]
    # The rest of the catalog was left alone.
    assert {o.model for o in result.outcomes.values()} == {"tools.echo"}

    # Downgrade through the alias: back to version 1.
    downgrade = workspace.deploy("test", alias="production", options=FAST)
    assert downgrade.ok and ready_models(client)["tools.echo"] == [1]
    assert answer(client, "tools.echo") == 1.0


@pytest.mark.parametrize(
    ("code", "options", "message"),
    [
        (FAILS_AT_LOAD, FAST, "weights are corrupt"),
        (SLOW_TO_LOAD, DeployOptions(load_timeout_s=3, ready_timeout_s=3), "echo"),
        (FAILS_TO_ANSWER, FAST, "smoke inference on version 2 failed"),
    ],
    ids=["raises-at-load", "not-ready-in-time", "smoke-fails"],
)
def test_failed_upgrade_rolls_back_to_what_was_served(
    deployed: tuple[Workspace, TritonClient],
    tmp_path: Path,
    code: str,
    options: DeployOptions,
    message: str,
) -> None:
    workspace, client = deployed
    workspace.apply([python_model(tmp_path, "echo", "1.0", GOOD_MODEL)])
    workspace.deploy("test", options=FAST)
    before = ready_models(client)
    workspace.apply([python_model(tmp_path, "echo", "2.0", code)])
    with Asker(client, "tools.echo", pinned=1) as asker:
        started = time.monotonic()
        with pytest.raises(RolloutFailed, match=message) as failed:
            workspace.deploy("test", options=options)
        ended = time.monotonic()
    # Clients never noticed: every request, unversioned or naming version 1, was answered
    # by version 1, while the deploy ran (and once after it: Asker's exit). How many
    # requests fit in the deploy depends on the machine's load, so only "some" is asked:
    # CI once saw exactly 20 where more than 20 had been asked for.
    during = [at for at, _ in asker.answers if started <= at <= ended]
    assert asker.failures == [] and asker.values == {1.0} and len(during) >= 3
    assert "rolled back" in failed.value.message and "tools.echo" in failed.value.message
    time.sleep(0.5 if code is SLOW_TO_LOAD else 0)
    deadline = time.monotonic() + 30
    while ready_models(client) != before and time.monotonic() < deadline:
        time.sleep(0.5)  # a load still running in Triton finishes, then is retired
    assert ready_models(client) == before
    assert answer(client, "tools.echo") == 1.0
    record = workspace.history("test")[0]
    assert record.outcome == "failed" and record.error and message in record.error


PICKY_MODEL = GOOD_MODEL.replace(
    "return [pb_utils.InferenceResponse([pb_utils.Tensor(",
    "for r in requests:\n"
    "            if pb_utils.get_input_tensor_by_name(r, 'X').as_numpy().ravel()[0] != 5.0:\n"
    "                raise RuntimeError('expects the example input')\n"
    "        return [pb_utils.InferenceResponse([pb_utils.Tensor(",
)


def test_smoke_test_sends_the_manifests_example(
    deployed: tuple[Workspace, TritonClient], tmp_path: Path
) -> None:
    workspace, client = deployed
    manifest = python_model(tmp_path, "picky", "1.0", PICKY_MODEL)
    manifest.write_text(
        manifest.read_text().replace(
            "inputs: [{name: X, data_type: FP32, dims: [1]}]",
            "inputs: [{name: X, data_type: FP32, dims: [1], example: [5.0]}]",
        )
    )
    workspace.apply([manifest])
    assert workspace.deploy("test", options=FAST).ok
    assert ready_models(client)["tools.picky"] == [1]


def test_two_deploys_at_once_one_runs(deployed: tuple[Workspace, TritonClient]) -> None:
    workspace, _ = deployed
    outcomes: list[str] = []

    def run() -> None:
        try:
            workspace.deploy("test", options=FAST)
            outcomes.append("ran")
        except Conflict as exc:
            outcomes.append("refused: " + exc.message)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(o.split(":")[0] for o in outcomes) == ["ran", "refused"]
    refused = next(o for o in outcomes if o.startswith("refused"))
    assert "is being deployed by" in refused and "since" in refused


def test_a_dead_holders_lease_expires(deployed: tuple[Workspace, TritonClient]) -> None:
    workspace, _ = deployed
    log = DeploymentLog(workspace.store)
    log.acquire_lease("test", "ghost@nowhere:1", ttl_s=1)
    with pytest.raises(Conflict, match="ghost@nowhere:1"):
        workspace.deploy("test", options=FAST)
    time.sleep(1.2)
    assert workspace.deploy("test", options=FAST).ok


def test_undeploy_refuses_while_needed(deployed: tuple[Workspace, TritonClient]) -> None:
    workspace, client = deployed
    workspace.deploy("test", options=FAST)
    with pytest.raises(Conflict, match="recommendation.recommendation_ranker on 'test' need"):
        workspace.undeploy("recommendation/user_embedding", "test")
    assert workspace.undeploy("search/content_retrieval", "test") == ["search.content_retrieval"]
    unloaded = workspace.undeploy("recommendation/user_embedding", "test", cascade=True)
    assert unloaded == ["recommendation.recommendation_ranker", "recommendation.user_embedding"]
    assert set(ready_models(client)) == {
        "recommendation.content_embedding",
        "recommendation.ranking_scorer",
        "search.query_understanding",
    }


def test_exported_script_deploys_the_same_state(
    deployed: tuple[Workspace, TritonClient], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from modelyard.cli.app import app

    workspace, client = deployed
    assert workspace.root is not None
    script = tmp_path / "rollout.sh"
    result = CliRunner().invoke(
        app,
        [
            "plan",
            "--target",
            "test",
            "--script",
            str(script),
            "--workspace",
            str(workspace.root),
            "--json",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    text = script.read_text()
    # The CLI under test, not the one on PATH, runs the script's compile step.
    environment = {
        **os.environ,
        "MODELYARD": f"{sys.executable} -m modelyard.cli",
        "PYTHONPATH": str(Path(modelyard.__file__).parents[1]),
    }
    broken = text.replace("deploy_model search.query_understanding", "deploy_model no.such_model")
    script.write_text(broken)
    failed = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, timeout=300, env=environment
    )
    assert failed.returncode == 8 and "load of no.such_model failed" in failed.stderr
    assert "the server serves what it served before" in failed.stderr, failed.stderr
    assert ready_models(client) == {}  # what it loaded before the failure was unloaded
    script.write_text(text)
    ran = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, timeout=300, env=environment
    )
    assert ran.returncode == 0, ran.stderr
    assert len(ready_models(client)) == 6
    assert {a.action for a in workspace.rollout_plan("test").actions} == {"keep"}


def test_netflix_upgrade_of_one_embedding(
    deployed: tuple[Workspace, TritonClient], tmp_path: Path
) -> None:
    workspace, client = deployed
    workspace.deploy("test", options=FAST)
    manifest = tmp_path / "qu.yaml"
    source = (NETFLIX_MODELS / "search.yaml").read_text().split("---\n")[0]
    manifest.write_text(
        source.replace('version: "1.5"', 'version: "1.6"').replace("../artifacts", str(ARTIFACTS))
    )
    workspace.apply([manifest])
    result = workspace.deploy("test", options=FAST)
    assert {o.model: o.action for o in result.outcomes.values()} == {
        "search.query_understanding": "reload"
    }
    assert ready_models(client)["search.query_understanding"] == [2]
    assert shutil.which("bash")


def test_netflix_upgrade_of_the_ensemble_no_request_fails(
    deployed: tuple[Workspace, TritonClient], tmp_path: Path
) -> None:
    """An ensemble is verified as a candidate too: its steps name the served models."""
    workspace, client = deployed
    workspace.deploy("test", options=FAST)
    source = (NETFLIX_MODELS / "recommendation.yaml").read_text().split("---\n")
    ranker = next(doc for doc in source if "name: recommendation_ranker" in doc)
    manifest = tmp_path / "ranker.yaml"
    manifest.write_text(ranker.replace('version: "3.0"', 'version: "3.1"'))
    workspace.apply([manifest])
    features = {"user_features": ("FP32", [1, 16], [0.1] * 16)}
    features["item_features"] = ("FP32", [1, 24], [0.2] * 24)

    def score(version: int | None) -> float:
        return float(
            client.infer("recommendation.recommendation_ranker", features, version)["score"][0]
        )

    events: list[str] = []
    with Asker(client, "recommendation.recommendation_ranker", ask=score) as asker:
        result = workspace.deploy(
            "test", options=FAST, progress=lambda model, state: events.append(state)
        )
    assert result.ok and asker.failures == [] and asker.values
    assert {o.model: o.action for o in result.outcomes.values()} == {
        "recommendation.recommendation_ranker": "reload"
    }
    assert "candidate verified" in events
    assert ready_models(client)["recommendation.recommendation_ranker"] == [2]
    assert not any("~" in name for name in ready_models(client))


def test_cli_deploy_status_history(
    deployed: tuple[Workspace, TritonClient], tmp_path: Path
) -> None:
    import json

    from typer.testing import CliRunner

    from modelyard.cli.app import app

    workspace, _ = deployed
    assert workspace.root is not None
    runner = CliRunner()
    base = ["--workspace", str(workspace.root)]

    def run(*args: str) -> tuple[int, dict[str, object]]:
        result = runner.invoke(app, [*args, *base, "--json"], catch_exceptions=False)
        return result.exit_code, json.loads(result.stdout)

    code, status = run("status", "--target", "test")
    assert code == 1 and status["in_sync"] is False  # nothing is loaded yet
    code, plan = run("plan", "--target", "test")
    assert code == 0 and plan["summary"] == {"load": 6, "reload": 0, "unload": 0, "keep": 0}
    code, deployed_now = run("deploy", "--target", "test", "--yes")
    assert code == 0 and deployed_now["ok"] is True and len(deployed_now["models"]) == 6
    code, status = run("status", "--target", "test")
    assert code == 0 and status["in_sync"] is True
    workspace.apply([python_model(tmp_path, "echo", "1.0", FAILS_AT_LOAD)])
    code, failed = run("deploy", "--target", "test", "--yes")
    assert code == 8 and failed["error"] == "rollout_failed"
    assert "weights are corrupt" in str(failed["message"])
    outcome = failed["deployment"]
    assert isinstance(outcome, dict) and outcome["ok"] is False
    assert {m["model"]: m["status"] for m in outcome["models"]} == {"tools.echo": "rolled_back"}
    code, history = run("history", "--target", "test")
    assert [d["outcome"] for d in history["deployments"]] == ["failed", "succeeded"]  # type: ignore[index]
    page = workspace.html_report(tmp_path / "report").read_text()
    assert 'id="history-table"' in page and "weights are corrupt" in page
    live = page[page.index('<h2 id="live">') : page.index('<h2 id="repository">')]
    assert "in sync with the catalog" in live or "drifted" in live
    assert "recommendation.recommendation_ranker" in live


def another_teams_model(tmp_path: Path) -> Path:
    """A new model `tools/other` of team search_team (the others are platform's)."""
    manifest = python_model(tmp_path, "other", "1.0", GOOD_MODEL)
    manifest.write_text(
        manifest.read_text().replace("owner_team: platform", "owner_team: search_team")
    )
    return manifest


def test_one_failed_model_does_not_roll_back_the_others(
    deployed: tuple[Workspace, TritonClient], tmp_path: Path
) -> None:
    """Failures are isolated per model and what needs it: another team's new model and an
    upgrade in the same deploy go through; the broken upgrade keeps serving version 1."""
    workspace, client = deployed
    workspace.apply([python_model(tmp_path, "echo", "1.0", GOOD_MODEL)])
    workspace.deploy("test", options=FAST)
    broken = python_model(tmp_path, "echo", "2.0", FAILS_AT_LOAD)
    needs_echo = python_model(
        tmp_path, "after", "1.0", GOOD_MODEL, dependencies="dependencies: [tools/echo>=2.0]"
    )
    other_team = another_teams_model(tmp_path)
    workspace.apply([broken, needs_echo, other_team])
    with Asker(client, "tools.echo") as asker, pytest.raises(RolloutFailed) as failed:
        workspace.deploy("test", options=FAST)
    assert asker.failures == [] and asker.values == {1.0}
    result = failed.value.result
    assert result is not None
    statuses = {m.model: m.status for m in result.models}
    assert statuses == {"tools.echo": "failed", "tools.after": "skipped", "tools.other": "done"}
    message = failed.value.message
    assert "weights are corrupt" in message and "needs tools.echo, which failed" in message
    assert "deployed tools.other" in message
    ready = ready_models(client)
    assert ready["tools.echo"] == [1] and ready["tools.other"] == [1]
    assert "tools.after" not in ready and len(ready) == 8
    # The repository holds what the server serves: echo's folder went back to version 1.
    repository = workspace.root / "repo"
    assert (repository / "tools.echo" / "1").is_dir()
    assert not (repository / "tools.echo" / "2").exists()
    assert workspace.history("test")[0].outcome == "failed"


def test_a_changed_artifact_blocks_only_its_own_model(
    deployed: tuple[Workspace, TritonClient], tmp_path: Path
) -> None:
    """An artifact edited after registration blocks its model and what needs it, nothing
    else: the model keeps serving the files it was loaded from, another team's new model
    is deployed in the same run, and the deploy fails naming the changed file."""
    workspace, client = deployed
    workspace.apply([python_model(tmp_path, "echo", "1.0", GOOD_MODEL)])
    workspace.deploy("test", options=FAST)
    repository = workspace.root / "repo"
    served_code = (repository / "tools.echo" / "1" / "model.py").read_text()
    (tmp_path / "echo-1.0" / "model.py").write_text(GOOD_MODEL + "# edited in place\n")
    needs_echo = python_model(
        tmp_path, "after", "1.0", GOOD_MODEL, dependencies="dependencies: [tools/echo>=1.0]"
    )
    other_team = another_teams_model(tmp_path)
    workspace.apply([needs_echo, other_team])
    plan = workspace.rollout_plan("test")
    assert {a.triton_name: a.action for a in plan.actions}["tools.echo"] == "keep"
    assert [b.split(":")[0] for b in plan.blocked] == ["tools/echo@1.0", "tools/after@1.0"]
    with Asker(client, "tools.echo") as asker, pytest.raises(RolloutFailed) as failed:
        workspace.deploy("test", options=FAST)
    assert asker.failures == [] and asker.values == {1.0}
    result = failed.value.result
    assert result is not None
    statuses = {m.model: m.status for m in result.models}
    assert statuses == {"tools.echo": "blocked", "tools.after": "blocked", "tools.other": "done"}
    message = failed.value.message
    assert "tools/echo@1.0: artifact" in message and "changed after registration" in message
    assert "needs tools/echo@1.0, which is blocked" in message
    assert "deployed tools.other" in message
    ready = ready_models(client)
    assert ready["tools.echo"] == [1] and ready["tools.other"] == [1]
    assert "tools.after" not in ready
    assert (repository / "tools.echo" / "1" / "model.py").read_text() == served_code
    # Naming the blocked model in a targeted deploy changes nothing.
    with pytest.raises(ValidationFailed, match="changed after registration.*nothing was deployed"):
        workspace.deploy("test", refs=["tools/echo"], options=FAST)
