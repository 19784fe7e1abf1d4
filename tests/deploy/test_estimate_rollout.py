"""The rollout estimate against a real local Triton: guesses before the first deployment,
the loads it measured afterwards, and history setting the estimate against what it took."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelyard.cli.app import app
from modelyard.triton.server import LocalTriton, free_port
from tests.support.rollout import GOOD_MODEL, python_model
from tests.support.workspaces import init_workspace

pytestmark = pytest.mark.triton

MODELS = ["tools.base", "tools.left", "tools.right"]


def test_plan_estimates_from_the_loads_a_deployment_measured(
    tmp_path: Path, catalog_url: str
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    port = free_port()
    (root / "modelyard.yaml").write_text(
        f"targets:\n  test: {{url: 'http://127.0.0.1:{port}', repository: repo, "
        "profile: local, load_threads: 2}\n"
    )
    workspace = init_workspace(root, catalog_url)
    needs_base = "dependencies: ['tools/base>=1.0']"
    workspace.apply(
        [
            python_model(tmp_path, "base", "1.0", GOOD_MODEL),
            python_model(tmp_path, "left", "1.0", GOOD_MODEL, dependencies=needs_base),
            python_model(tmp_path, "right", "1.0", GOOD_MODEL, dependencies=needs_base),
        ]
    )
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(app, [*args, "--workspace", str(root)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    server = LocalTriton(
        root / "repo", root / ".modelyard" / "triton", http_port=port, load_threads=2
    )
    client = server.start()
    try:
        before = json.loads(run("plan", "--target", "test", "--concurrency", "8", "--json"))
        estimate = before["estimate"]
        assert (estimate["workers"], estimate["load_threads"]) == (2, 2)  # the target's bound
        assert {load["how"] for load in estimate["loads"]} == {
            "guess: default 2 s (no load recorded on this target)"
        }
        assert (estimate["guessed"], estimate["seconds"]) == (3, 4.0)
        assert estimate["critical_path"][0] == "tools.base"

        deployed = json.loads(run("deploy", "--target", "test", "--yes", "--json"))
        took = {m["model"]: m["seconds"] for m in deployed["models"]}
        assert set(took) == set(MODELS)

        # The server restarted empty: the same target, every load measured now.
        for name in ["tools.left", "tools.right", "tools.base"]:
            client.unload(name)
        after = json.loads(run("plan", "--target", "test", "--json"))["estimate"]
        assert {
            load["model"]: (load["basis"], load["samples"], load["seconds"])
            for load in after["loads"]
        } == {name: ("measured", 1, took[name]) for name in MODELS}
        left, right = took["tools.left"], took["tools.right"]
        assert after["seconds"] == pytest.approx(took["tools.base"] + max(left, right), abs=0.002)
        text = run("plan", "--target", "test")
        assert "median of 1 recorded load(s)" in text and "3 measured, 0 guessed" in text

        run("deploy", "--target", "test", "--yes", "--json")
        history = json.loads(run("history", "--target", "test", "--json"))["deployments"]
        newest, first = history
        assert first["estimated_seconds"] == 4.0 and first["estimate"]["guessed"] == 3
        assert newest["estimate"]["measured"] == 3
        assert newest["estimated_seconds"] == after["seconds"]
        assert newest["seconds"] is not None and first["seconds"] is not None
        table = run("history", "--target", "test")
        assert "est. 4.0" in table, table

        # The rollouts wrote no bytecode into the target's repository either.
        generations = root / ".repo.generations"
        assert [d for _, dirs, _ in os.walk(generations) for d in dirs if d == "__pycache__"] == []
    finally:
        client.close()
        server.stop()
        workspace.close()
