"""A two-server fleet on this machine: two local Triton processes, each given its share."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.deploy.runner import DeployOptions
from modelyard.triton.server import LocalTriton, free_port
from tests.support.netflix import NETFLIX_MODELS
from tests.support.rollout import GOOD_MODEL, python_model, ready_models
from tests.support.workspaces import init_workspace

pytestmark = pytest.mark.triton


def test_each_server_gets_its_own_share(tmp_path: Path, catalog_url: str) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    ports = [free_port(), free_port()]
    servers = "\n".join(
        f"""\
    - name: node-{i}
      url: http://127.0.0.1:{port}
      repository: repo-{i}
      cpu_cores: 32
      memory_mb: 131072
      gpus:
        - {{index: 0, model: A10G, memory_mb: 24576}}
        - {{index: 1, model: A10G, memory_mb: 24576}}"""
        for i, port in enumerate(ports)
    )
    (root / "modelyard.yaml").write_text(f"fleet:\n  servers:\n{servers}\n")
    workspace = init_workspace(root, catalog_url)
    workspace.apply([NETFLIX_MODELS])
    # One replica only (availability below 0.999): it must land on exactly one server.
    single = python_model(tmp_path, "echo", "1.0", GOOD_MODEL)
    single.write_text(single.read_text() + "sla_requirements: {availability: 0.99}\n")
    workspace.apply([single])
    tritons = [
        LocalTriton(root / f"repo-{i}", root / ".modelyard" / f"triton-{i}", http_port=port)
        for i, port in enumerate(ports)
    ]
    clients = [triton.start() for triton in tritons]
    try:
        results = workspace.deploy_fleet(
            profile="local", options=DeployOptions(concurrency=4, ready_timeout_s=30)
        )
        assert all(result.ok for result in results.values())
        served = [ready_models(client) for client in clients]
        placement = workspace.place()
        for i, client_models in enumerate(served):
            expected = {a.model_id.replace("/", ".") for a in placement.on(f"node-{i}")}
            assert set(client_models) == expected
        # The single-replica model is on one server, not both.
        assert sum("tools.echo" in models for models in served) == 1
        # Two replicas of the ensemble: it and all its steps are READY on both servers.
        for models in served:
            for name in (
                "recommendation.recommendation_ranker",
                "recommendation.user_embedding",
                "recommendation.content_embedding",
                "recommendation.ranking_scorer",
            ):
                assert name in models
        assert {r.target for r in workspace.history()} == {"node-0", "node-1"}
    finally:
        for client in clients:
            client.close()
        for triton in tritons:
            triton.stop()
        workspace.close()
