"""`serve` serves every model that loads and names the one that did not, with Triton's
reason; `--strict` stops at the first failure instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard import TritonError, Workspace
from tests.support.rollout import GOOD_MODEL, python_model

pytestmark = pytest.mark.triton

BROKEN_MODEL = GOOD_MODEL.replace(
    'self.version = float(args["model_version"])',
    'raise RuntimeError("the weights are missing")',
)


@pytest.fixture
def half_broken(workspace: Workspace, tmp_path: Path) -> Workspace:
    assert BROKEN_MODEL != GOOD_MODEL
    workspace.apply(
        [
            python_model(tmp_path, "echo", "1.0", GOOD_MODEL),
            python_model(tmp_path, "broken", "1.0", BROKEN_MODEL),
        ]
    )
    return workspace


def test_serve_serves_what_loads_and_names_what_did_not(half_broken: Workspace) -> None:
    serving = half_broken.serve_locally()
    try:
        assert serving.loaded == ["tools.echo"]
        assert list(serving.failed) == ["tools.broken"]
        assert "the weights are missing" in serving.failed["tools.broken"]
        assert serving.client.is_ready("tools.echo")
    finally:
        serving.stop()


def test_strict_serve_stops_at_the_first_failure(half_broken: Workspace) -> None:
    with pytest.raises(TritonError, match="the weights are missing"):
        half_broken.serve_locally(strict=True)
