"""Targeted deploys through the API and the dashboard's plan-then-confirm, on a fake
Triton behind the client's transport: the plan a caller reviewed is the one that runs,
and a maintainer names only their own team's models."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from modelyard import Workspace
from modelyard.api import create_app
from modelyard.api.auth import COOKIE
from tests.support.api import REC, SEARCH, bearer
from tests.support.fake_triton import FakeTriton, fake_target_kind

USER_EMBEDDING = "recommendation/user_embedding"


@pytest.fixture
def dev(netflix: Workspace, tmp_path: Path) -> Iterator[tuple[TestClient, Workspace, FakeTriton]]:
    """The Netflix workspace with a target `dev` on a fake Triton, served by the API."""
    assert netflix.root is not None
    config = netflix.root / "modelyard.yaml"
    config.write_text(
        config.read_text()
        + "\ntargets:\n  dev: {kind: fake-triton, url: 'http://fake-triton:8000', "
        "repository: repo-dev, profile: local}\n"
    )
    fake = FakeTriton(netflix.root / "repo-dev")
    opened = Workspace.open(netflix.root, db_url=netflix.db_url)
    try:
        with fake_target_kind(fake), TestClient(create_app(opened)) as client:
            yield client, opened, fake
    finally:
        opened.close()


def token(workspace: Workspace, team: str, role: str = "maintainer") -> dict[str, str]:
    return bearer(workspace.access.create_token(team, role, actor="test")[1])


def plan(client: TestClient, headers: dict[str, str], *refs: str) -> Any:
    answer = client.get(
        "/api/v1/plan/rollout", params={"target": "dev", "ref": list(refs)}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def finished(client: TestClient, headers: dict[str, str], job_id: str) -> Any:
    deadline = time.monotonic() + 60
    while True:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
        if job["state"] != "running":
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def test_plan_then_confirm_deploys_the_plan_shown(
    dev: tuple[TestClient, Workspace, FakeTriton],
) -> None:
    client, workspace, fake = dev
    headers = token(workspace, REC)
    shown = plan(client, headers, USER_EMBEDDING)
    assert shown["targeted"] is True and shown["summary"]["load"] == 1
    assert [(a["model"], a["action"]) for a in shown["actions"]] == [
        ("recommendation.user_embedding", "load")
    ]
    started = client.post(
        "/api/v1/jobs",
        headers=headers,
        json={"target": "dev", "refs": [USER_EMBEDDING], "expect_digest": shown["digest"]},
    )
    assert started.status_code == 202, started.text
    assert started.json()["refs"] == [USER_EMBEDDING]
    job = finished(client, headers, started.json()["id"])
    assert job["state"] == "succeeded", job["error"]
    assert fake.ready == {"recommendation.user_embedding": [1]}

    # The next plan keeps what is served and loads only what it names.
    ranker = plan(client, headers, "recommendation/recommendation_ranker")
    actions = {a["model"]: a["action"] for a in ranker["actions"]}
    assert actions["recommendation.user_embedding"] == "keep"
    assert actions["recommendation.recommendation_ranker"] == "load"
    assert "search.query_understanding" not in actions


def test_a_plan_that_changed_since_it_was_shown_is_refused(
    dev: tuple[TestClient, Workspace, FakeTriton],
) -> None:
    client, workspace, fake = dev
    headers = token(workspace, REC)
    shown = plan(client, headers, USER_EMBEDDING)
    # Someone else deploys meanwhile: the plan shown (load) is not today's (keep).
    workspace.deploy("dev", refs=[USER_EMBEDDING])
    fake.calls.clear()
    refused = client.post(
        "/api/v1/jobs",
        headers=headers,
        json={"target": "dev", "refs": [USER_EMBEDDING], "expect_digest": shown["digest"]},
    )
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "conflict"
    assert (
        "changed since it was shown" in error["message"] and "now does: nothing" in error["message"]
    )
    assert client.get("/api/v1/jobs", headers=headers).json()["jobs"] == []
    assert [c for c in fake.calls if c[0] in ("load", "unload")] == []


def test_a_maintainer_names_only_models_of_their_team(
    dev: tuple[TestClient, Workspace, FakeTriton],
) -> None:
    client, workspace, fake = dev
    search = token(workspace, SEARCH)
    refused = client.post(
        "/api/v1/jobs", headers=search, json={"target": "dev", "refs": [USER_EMBEDDING]}
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == (
        f"{USER_EMBEDDING} is owned by team {REC!r}; your token is for team {SEARCH!r}"
    )
    viewer = token(workspace, REC, "viewer")
    assert (
        client.post(
            "/api/v1/jobs", headers=viewer, json={"target": "dev", "refs": [USER_EMBEDDING]}
        ).status_code
        == 403
    )
    malformed = client.post(
        "/api/v1/jobs",
        headers=search,
        json={"target": "dev", "refs": ["search/query_understanding@"]},
    )
    assert (
        malformed.status_code == 422 and "nothing after '@'" in malformed.json()["error"]["message"]
    )
    admin = token(workspace, SEARCH, "admin")
    started = client.post(
        "/api/v1/jobs", headers=admin, json={"target": "dev", "refs": [USER_EMBEDDING]}
    )
    assert started.status_code == 202
    assert finished(client, admin, started.json()["id"])["state"] == "succeeded"
    assert set(fake.ready) == {"recommendation.user_embedding"}


def test_the_deployments_page_has_the_plan_and_its_confirmation(
    dev: tuple[TestClient, Workspace, FakeTriton],
) -> None:
    client, workspace, _ = dev
    client.cookies.set(COOKIE, workspace.access.create_token(REC, "maintainer", actor="test")[1])
    page = client.get("/ui/deployments").text
    assert 'id="deploy-form"' in page and 'name="refs"' in page
    assert 'id="plan" hidden' in page and 'id="confirm-deploy"' in page


def test_a_maintainers_deploy_never_unloads_or_reloads_another_teams_models(
    dev: tuple[TestClient, Workspace, FakeTriton], tmp_path: Path
) -> None:
    """Issue 18's attack: a maintainer of one team points an alias of their own at a
    selection without the other team's models and deploys it; the other team's models
    used to be unloaded. A maintainer's deploy is their team's models, targeted."""
    client, workspace, fake = dev
    admin = token(workspace, "platform", "admin")
    everything = client.post("/api/v1/jobs", headers=admin, json={"target": "dev"})
    assert finished(client, admin, everything.json()["id"])["state"] == "succeeded"
    served = dict(fake.ready)
    assert len(served) == 6

    search = token(workspace, SEARCH)
    mine = client.put(
        "/api/v1/models/search/query_understanding/aliases/mine",
        json={"version": "1.5", "expect": "none"},
        headers=search,
    )
    assert mine.status_code == 200, mine.text
    job = client.post("/api/v1/jobs", headers=search, json={"target": "dev", "alias": "mine"})
    assert job.status_code == 202, job.text
    done = finished(client, search, job.json()["id"])
    assert done["state"] == "succeeded", done["error"]
    assert fake.ready == served  # nothing of the recommendation team's was touched
    assert not [c for c in fake.calls if c[0] == "unload"]

    # A plan that would reload another team's model is refused before anything starts:
    # a new search model needs user_embedding 1.1, and 1.0 is served.
    spec = workspace.store.get(USER_EMBEDDING).spec
    newer = spec.model_dump(mode="json", exclude_defaults=True) | {"version": "1.1"}
    workspace.apply_text(json.dumps(newer))
    template = workspace.store.get("search/query_understanding").spec
    needs = template.model_dump(mode="json", exclude_defaults=True) | {
        "name": "uses_rec",
        "version": "1.0",
        "dependencies": [f"{USER_EMBEDDING}>=1.1"],
    }
    workspace.apply_text(json.dumps(needs))
    refused = client.post(
        "/api/v1/jobs", headers=search, json={"target": "dev", "refs": ["search/uses_rec"]}
    )
    assert refused.status_code == 403, refused.text
    message = refused.json()["error"]["message"]
    assert "would reload models of other teams: recommendation.user_embedding" in message
    assert fake.ready == served
    # Its owners (or an admin) can.
    rec = token(workspace, REC)
    ok = client.post("/api/v1/jobs", headers=rec, json={"target": "dev"})
    assert ok.status_code == 202, ok.text
    assert finished(client, rec, ok.json()["id"])["state"] == "succeeded"
    assert fake.ready["recommendation.user_embedding"] == [2]
