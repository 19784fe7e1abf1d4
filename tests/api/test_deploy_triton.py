"""A deployment started through the API against a real local Triton, followed to the end."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from modelyard import Workspace
from modelyard.api import create_app
from modelyard.triton.client import TritonClient
from modelyard.triton.server import LocalTriton, free_port
from tests.support.api import REC, SEARCH, bearer

pytestmark = pytest.mark.triton


@pytest.fixture
def triton_target(netflix: Workspace) -> Iterator[tuple[Workspace, TritonClient]]:
    """The Netflix workspace with a target `test` (for recommendation_platform) on a fresh
    local Triton."""
    assert netflix.root is not None
    port = free_port()
    config = netflix.root / "modelyard.yaml"
    config.write_text(
        config.read_text()
        + f"""
targets:
  test: {{url: 'http://127.0.0.1:{port}', repository: repo, profile: local, teams: [{REC}]}}
"""
    )
    opened = Workspace.open(netflix.root, db_url=netflix.db_url)
    server = LocalTriton(
        netflix.root / "repo", netflix.root / ".modelyard" / "triton", http_port=port
    )
    client = server.start()
    try:
        yield opened, client
    finally:
        client.close()
        server.stop()
        opened.close()


def test_deploy_through_the_api(triton_target: tuple[Workspace, TritonClient]) -> None:
    workspace, triton = triton_target
    token, secret = workspace.access.create_token(REC, "maintainer", actor="test")
    _, other = workspace.access.create_token(SEARCH, "maintainer", actor="test")
    headers = bearer(secret)
    with TestClient(create_app(workspace)) as client:
        refused = client.post("/api/v1/jobs", json={"target": "test"}, headers=bearer(other))
        assert refused.status_code == 403
        plan = client.get("/api/v1/plan/rollout", params={"target": "test"}, headers=headers)
        # A maintainer deploys their team's models and what they need (content_embedding,
        # another team's, is not served yet: loading it is allowed), nothing else.
        assert plan.json()["targeted"] is True and plan.json()["summary"]["load"] == 4

        started = client.post(
            "/api/v1/jobs",
            headers=headers,
            json={"target": "test", "load_timeout_s": 120, "ready_timeout_s": 60},
        )
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        seen_states: set[str] = set()
        deadline = time.monotonic() + 300
        while True:  # follow it as a client would: poll the job
            job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
            seen_states |= set(job["models"].values())
            if job["state"] != "running":
                break
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        assert job["state"] == "succeeded", job["error"]
        assert job["result"]["ok"] is True and len(job["result"]["models"]) == 4
        assert set(job["models"].values()) == {"ready"}
        states = [e["state"] for e in job["progress"]]
        assert states.count("loading") == 4 and states.count("ready") == 4
        assert seen_states  # progress was readable while the job ran

        ready = {e["name"] for e in triton.index() if e.get("state") == "READY"}
        assert ready == {
            "recommendation.user_embedding",
            "recommendation.content_embedding",
            "recommendation.ranking_scorer",
            "recommendation.recommendation_ranker",
        }
        history = client.get("/api/v1/history", params={"target": "test"}, headers=headers).json()[
            "deployments"
        ]
        assert history[0]["outcome"] == "succeeded"
        assert history[0]["actor"].startswith(f"api:token {token.id} ({REC}, maintainer)")
        entry = workspace.access.entries(action="deploy")[0]
        assert entry.object == "target test" and entry.after["ok"] is True
        # The model page shows it live.
        client.cookies.set("modelyard_token", secret)
        page = client.get("/ui/models/recommendation/user_embedding").text
        assert "recommendation.user_embedding" in page and ">serving<" in page
        # An undeploy through the API is audited as the token that asked, not the process.
        client.cookies.clear()
        gone = client.delete(
            "/api/v1/targets/test/models/recommendation/recommendation_ranker", headers=headers
        )
        assert gone.status_code == 200, gone.text
        assert gone.json()["unloaded"] == ["recommendation.recommendation_ranker"]
        undeployed = workspace.access.entries(action="undeploy")[0]
        assert undeployed.actor.startswith(f"api:token {token.id} ({REC}, maintainer)")
        assert undeployed.after == {"unloaded": ["recommendation.recommendation_ranker"]}
        record = workspace.history("test")[0]
        assert record.selection == "undeploy recommendation/recommendation_ranker"
        assert record.actor == undeployed.actor and record.holder != record.actor
