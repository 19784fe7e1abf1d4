"""A local Triton shared by a module's tests and a workspace target on it (the models that
sleep a fixed time are in tests/support/perf.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from modelyard import Workspace
from modelyard.config import read_config
from modelyard.triton.server import LocalTriton


@pytest.fixture(scope="module")
def perf_triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTriton]:
    """One tritonserver for the module (its tests run one after another and each deploys
    its own selection, which unloads the previous test's models)."""
    root = tmp_path_factory.mktemp("perf-triton")
    server = LocalTriton(root / "repo", root / "state")
    server.start().close()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def live(workspace: Workspace, perf_triton: LocalTriton) -> Workspace:
    """The workspace with a target `test` on the module's Triton (metrics endpoint included)."""
    assert workspace.root is not None
    path = workspace.root / "modelyard.yaml"
    config = yaml.safe_load(path.read_text()) or {}
    config["targets"] = {
        "test": {
            "url": perf_triton.url,
            "repository": str(perf_triton.repository),
            "profile": "local",
            "metrics_url": f"http://127.0.0.1:{perf_triton.metrics_port}/metrics",
        }
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    workspace.config = read_config(path)
    return workspace
