"""Two teams deploy at the same moment to one real Triton: each deploy changes its own
team's models only, both end at the new versions, and no client request fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.triton.server import LocalTriton, free_port
from tests.support.concurrency import two_teams_deploy
from tests.support.workspaces import init_workspace

pytestmark = pytest.mark.triton


def test_two_teams_deploying_at_once_touch_only_their_own_models(
    tmp_path: Path, catalog_url: str
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    port = free_port()
    (root / "modelyard.yaml").write_text(
        f"targets:\n  test: {{url: 'http://127.0.0.1:{port}', repository: repo, profile: local}}\n"
    )
    init_workspace(root, catalog_url).close()
    server = LocalTriton(root / "repo", root / ".modelyard" / "triton", http_port=port)
    server.start().close()
    try:
        outcome = two_teams_deploy(root, "test", models_per_team=2)
    finally:
        server.stop()
    assert outcome.deployed == {"team_a": "succeeded", "team_b": "succeeded"}
    assert sorted(outcome.touched_by["team_a"]) == ["team_a.m0", "team_a.m1"]
    assert sorted(outcome.touched_by["team_b"]) == ["team_b.m0", "team_b.m1"]
    assert outcome.cross_team_effects == 0
    assert outcome.served == {
        name: [2] for name in ("team_a.m0", "team_a.m1", "team_b.m0", "team_b.m1")
    }
    assert outcome.requests > 0 and outcome.failed_requests == 0
