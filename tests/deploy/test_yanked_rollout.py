"""Deploying an alias, or the newest, never loads a version the alias rule or a yank rules
out (a real local Triton)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard import Workspace
from modelyard.triton.client import TritonClient
from modelyard.triton.server import LocalTriton, free_port
from tests.support.rollout import FAST, GOOD_MODEL, python_model, ready_models
from tests.support.workspaces import init_workspace

pytestmark = pytest.mark.triton

BROKEN = GOOD_MODEL.replace(
    'self.version = float(args["model_version"])', 'raise RuntimeError("weights are corrupt")'
)


@pytest.fixture
def served(tmp_path: Path, catalog_url: str) -> Iterator[tuple[Workspace, TritonClient]]:
    """tools/parser 1.0 (good) and 1.1 (fails to load), tools/echo 1.0 needing
    tools/parser>=1.0, alias `production` on parser 1.0 and echo 1.0; a target `test` on a
    fresh local Triton."""
    root = tmp_path / "ws"
    root.mkdir()
    port = free_port()
    (root / "modelyard.yaml").write_text(
        f"targets:\n  test: {{url: 'http://127.0.0.1:{port}', repository: repo, profile: local}}\n"
    )
    workspace = init_workspace(root, catalog_url)
    models = tmp_path / "models"
    models.mkdir()
    workspace.apply(
        [
            python_model(models, "parser", "1.0", GOOD_MODEL),
            python_model(models, "parser", "1.1", BROKEN),
            python_model(models, "echo", "1.0", GOOD_MODEL, "dependencies: [tools/parser>=1.0]"),
        ]
    )
    workspace.set_alias("tools/parser", "production", "1.0")
    workspace.set_alias("tools/echo", "production", "1.0")
    server = LocalTriton(root / "repo", root / ".modelyard" / "triton", http_port=port)
    client = server.start()
    try:
        yield workspace, client
    finally:
        client.close()
        server.stop()
        workspace.close()


def test_deploying_an_alias_loads_the_aliased_dependency_and_a_yank_keeps_it_out(
    served: tuple[Workspace, TritonClient],
) -> None:
    workspace, client = served
    pinned = workspace.deploy("test", alias="production", options=FAST)
    assert pinned.ok
    assert ready_models(client) == {"tools.parser": [1], "tools.echo": [1]}
    # The newest selection would load the broken 1.1 (folder 2); yanked, it is out of
    # every selection.
    [parser] = [a for a in workspace.rollout_plan("test").actions if a.model_id == "tools/parser"]
    assert (parser.action, parser.versions) == ("reload", [2])
    workspace.yank("tools/parser@1.1", "weights are corrupt")
    newest = workspace.deploy("test", options=FAST)
    assert newest.ok and ready_models(client) == {"tools.parser": [1], "tools.echo": [1]}
    assert [r.outcome for r in workspace.history("test")] == ["succeeded", "succeeded"]
