"""The exported rollout script, run with bash against a real local Triton: it deploys and
smoke-tests, rolls back on a failed smoke test (exit 8), and refuses to run once the
catalog no longer matches the plan it was written from."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelyard
from modelyard import Workspace
from modelyard.triton.client import TritonClient
from modelyard.triton.server import LocalTriton, free_port
from tests.support.rollout import FAILS_TO_ANSWER, FAST, GOOD_MODEL, python_model, ready_models
from tests.support.workspaces import Cli, init_workspace

pytestmark = pytest.mark.triton

# The modelyard under test, for the script's compile step (not the one on PATH).
SRC = Path(modelyard.__file__).parents[1]


@pytest.fixture
def served(tmp_path: Path, catalog_url: str) -> Iterator[tuple[Workspace, TritonClient]]:
    """Two python models registered, and a target `test` on a fresh local Triton."""
    root = tmp_path / "ws"
    root.mkdir()
    port = free_port()
    (root / "modelyard.yaml").write_text(
        f"targets:\n  test: {{url: 'http://127.0.0.1:{port}', repository: repo, profile: local}}\n"
    )
    workspace = init_workspace(root, catalog_url)
    workspace.apply(
        [
            python_model(tmp_path, "echo", "1.0", GOOD_MODEL),
            python_model(tmp_path, "other", "1.0", GOOD_MODEL),
        ]
    )
    server = LocalTriton(root / "repo", root / ".modelyard" / "triton", http_port=port)
    client = server.start()
    try:
        yield workspace, client
    finally:
        client.close()
        server.stop()
        workspace.close()


def write_script(workspace: Workspace, path: Path, *refs: str) -> dict[str, object]:
    assert workspace.root is not None
    plan: dict[str, object] = Cli(workspace.root).json(
        "plan", "--target", "test", "--script", str(path), *refs
    )
    return plan


def run_script(path: Path) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "MODELYARD": f"{sys.executable} -m modelyard.cli",
        "PYTHONPATH": str(SRC),
        "READY_TIMEOUT_S": "30",
    }
    return subprocess.run(
        ["bash", str(path)], capture_output=True, text=True, timeout=300, env=environment
    )


def answer(client: TritonClient, name: str) -> float:
    return float(client.infer(name, {"X": ("FP32", [1], [0.0])})["Y"][0])


def repository_link(workspace: Workspace) -> str:
    return os.readlink(workspace.target("test").repository)


def test_the_script_deploys_smoke_tests_and_targets(
    served: tuple[Workspace, TritonClient], tmp_path: Path
) -> None:
    workspace, client = served
    script = tmp_path / "rollout.sh"
    plan = write_script(workspace, script)
    assert f"PLAN_DIGEST={plan['digest']}" in script.read_text()
    ran = run_script(script)
    assert ran.returncode == 0, ran.stderr
    assert "smoke test tools.echo version 1" in ran.stdout
    assert ready_models(client) == {"tools.echo": [1], "tools.other": [1]}
    assert {a.action for a in workspace.rollout_plan("test").actions} == {"keep"}

    # A targeted script: only echo changes; other keeps its files and stays loaded.
    workspace.apply(
        [
            python_model(tmp_path, "echo", "2.0", GOOD_MODEL),
            python_model(tmp_path, "other", "2.0", GOOD_MODEL),
        ]
    )
    targeted = tmp_path / "echo.sh"
    plan = write_script(workspace, targeted, "tools/echo")
    assert plan["summary"] == {"load": 0, "reload": 1, "unload": 0, "keep": 1}
    ran = run_script(targeted)
    assert ran.returncode == 0, ran.stderr
    assert ready_models(client) == {"tools.echo": [2], "tools.other": [1]}
    assert answer(client, "tools.echo") == 2.0 and answer(client, "tools.other") == 1.0
    assert [a.action for a in workspace.rollout_plan("test", refs=["tools/echo"]).actions] == [
        "keep",
        "keep",
    ]


def test_a_failed_smoke_test_rolls_back_and_exits_8(
    served: tuple[Workspace, TritonClient], tmp_path: Path
) -> None:
    workspace, client = served
    assert workspace.deploy("test", options=FAST).ok
    before, link = ready_models(client), repository_link(workspace)
    workspace.apply(
        [
            python_model(tmp_path, "echo", "2.0", FAILS_TO_ANSWER),
            python_model(tmp_path, "alpha", "1.0", GOOD_MODEL),  # loads before echo
        ]
    )
    script = tmp_path / "rollout.sh"
    plan = write_script(workspace, script)
    assert plan["summary"] == {"load": 1, "reload": 1, "unload": 0, "keep": 1}
    ran = run_script(script)
    assert ran.returncode == 8, (ran.stdout, ran.stderr)
    assert "tools.echo: smoke inference on version 2 failed: HTTP 500" in ran.stderr
    assert "cannot answer" in ran.stderr
    assert "rolled back tools.echo, tools.alpha; the server serves what it served" in ran.stderr
    # The repository is the one served before; echo answers as version 1 again, and the
    # model this script loaded first (alpha) is unloaded.
    assert repository_link(workspace) == link
    assert ready_models(client) == before
    assert answer(client, "tools.echo") == 1.0


def test_a_script_refuses_a_catalog_changed_after_it_was_written(
    served: tuple[Workspace, TritonClient], tmp_path: Path
) -> None:
    workspace, client = served
    assert workspace.deploy("test", options=FAST).ok
    before, link = ready_models(client), repository_link(workspace)
    workspace.apply([python_model(tmp_path, "echo", "2.0", GOOD_MODEL)])
    script = tmp_path / "rollout.sh"
    write_script(workspace, script, "tools/echo")
    workspace.apply([python_model(tmp_path, "echo", "3.0", GOOD_MODEL)])  # after writing
    ran = run_script(script)
    assert ran.returncode == 4, (ran.stdout, ran.stderr)
    refusal = [line for line in ran.stderr.splitlines() if "no longer matches" in line]
    assert len(refusal) == 1, ran.stderr
    assert "target 'test': the catalog or the server no longer matches the plan" in refusal[0]
    assert "tools.echo: its files changed" in refusal[0] and "nothing was written" in refusal[0]
    assert "nothing was loaded" in ran.stderr and "loading" not in ran.stdout
    assert ready_models(client) == before
    assert repository_link(workspace) == link
