"""The authorization matrix: role x own team / other team x action.

The subject is search_experience's models and the `search-only` target (which allows
only search_experience); "own" callers are of that team, "other" ones of
recommendation_platform.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from modelyard import Workspace
from tests.support.api import REC, ROLES, SEARCH, bearer

Headers = dict[str, str]
Action = Callable[[TestClient, Headers], Response]

NEW_SEARCH_VERSION = """\
name: query_understanding
version: "1.7"
model_type: classification
framework: onnx
domain: search
owner_team: search_experience
"""
# A maintainer of recommendation_platform claiming search's model as its own.
HIJACK = NEW_SEARCH_VERSION.replace(
    "owner_team: search_experience", "owner_team: recommendation_platform"
)


def _deploy(target: str) -> Action:
    def action(client: TestClient, headers: Headers) -> Response:
        response = client.post("/api/v1/jobs", json={"target": target}, headers=headers)
        if response.status_code == 202:  # let the job fail (no Triton there) before the next
            client.app.state.modelyard.jobs.wait(response.json()["id"], 60)  # type: ignore[attr-defined]
        return response

    return action


ACTIONS: dict[str, Action] = {
    "read models": lambda c, h: c.get("/api/v1/models", headers=h),
    "read a model": lambda c, h: c.get("/api/v1/models/search/query_understanding", headers=h),
    "read validation": lambda c, h: c.get("/api/v1/validation", headers=h),
    "read history": lambda c, h: c.get("/api/v1/history", headers=h),
    "register a version": lambda c, h: c.post(
        "/api/v1/models", headers=h, json={"manifest": NEW_SEARCH_VERSION}
    ),
    "move an alias": lambda c, h: c.put(
        "/api/v1/models/search/query_understanding/aliases/production",
        headers=h,
        json={"version": "1.5"},
    ),
    "yank a version": lambda c, h: c.put(
        "/api/v1/models/search/query_understanding/versions/1.5/yank",
        headers=h,
        json={"reason": "leaks memory"},
    ),
    "deprecate a version": lambda c, h: c.put(
        "/api/v1/models/search/query_understanding/versions/1.5/deprecation",
        headers=h,
        json={"reason": "use 1.6"},
    ),
    "deploy to a target allowing the team": _deploy("search-only"),
    "undeploy": lambda c, h: c.delete(
        "/api/v1/targets/search-only/models/search/query_understanding", headers=h
    ),
    "list tokens": lambda c, h: c.get("/api/v1/tokens", headers=h),
    "create a token": lambda c, h: c.post(
        "/api/v1/tokens", headers=h, json={"team": SEARCH, "role": "viewer"}
    ),
    "read the audit log": lambda c, h: c.get("/api/v1/audit", headers=h),
}

OK = {
    "register a version": 200,
    "deploy to a target allowing the team": 202,
    "create a token": 201,
    # Authorized, then Triton is unreachable (nothing listens on the target's port).
    "undeploy": 502,
}


def expected(action: str, role: str, relation: str) -> int:
    allowed = OK.get(action, 200)
    if action.startswith("read ") and action != "read the audit log":
        return 200
    if role == "admin":
        return allowed
    if action in ("list tokens", "create a token", "read the audit log"):
        return 403
    if role == "viewer":
        return 403
    return allowed if relation == "own" else 403


# Every role x team relation x action: ~100 apps on fresh catalogs, most of this file's
# time; the fast tier keeps the per-action and per-rule tests below.
@pytest.mark.slow
@pytest.mark.every_backend  # team scoping is SQL
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("relation", ["own", "other"])
@pytest.mark.parametrize("role", ROLES)
def test_matrix(
    client: TestClient, tokens: dict[tuple[str, str], str], role: str, relation: str, action: str
) -> None:
    team = SEARCH if relation == "own" else REC
    response = ACTIONS[action](client, bearer(tokens[(role, team)]))
    want = expected(action, role, relation)
    assert response.status_code == want, response.text
    if want == 403:
        assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_needs_a_token(client: TestClient, action: str) -> None:
    response = ACTIONS[action](client, {})
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"


def test_revoked_token_is_refused_everywhere(
    client: TestClient, api_ws: Workspace, tokens: dict[tuple[str, str], str]
) -> None:
    secret = tokens[("admin", SEARCH)]
    token = api_ws.access.token_for_secret(secret)
    assert token is not None
    api_ws.access.revoke_token(token.id, actor="test")
    for action in ACTIONS.values():
        assert action(client, bearer(secret)).status_code == 401


def test_maintainer_cannot_take_over_another_teams_model(
    client: TestClient, tokens: dict[tuple[str, str], str]
) -> None:
    response = client.post(
        "/api/v1/models", json={"manifest": HIJACK}, headers=bearer(tokens[("maintainer", REC)])
    )
    assert response.status_code == 403
    assert "owned by 'search_experience'" in response.json()["error"]["message"]


def test_maintainer_deploys_anywhere_a_target_allows(
    client: TestClient, tokens: dict[tuple[str, str], str]
) -> None:
    # `local` names no teams: any maintainer may deploy there.
    assert _deploy("local")(client, bearer(tokens[("maintainer", REC)])).status_code == 202


@pytest.mark.slow
def test_one_deploy_job_per_target(
    client: TestClient, tokens: dict[tuple[str, str], str], api_ws: Workspace
) -> None:
    jobs = client.app.state.modelyard.jobs  # type: ignore[attr-defined]
    # Hold the target's lease as another deployer would, so the first job waits for it.
    from modelyard.store.history import DeploymentLog

    DeploymentLog(api_ws.store).acquire_lease("local", "someone-else", ttl_s=2)
    headers = bearer(tokens[("admin", REC)])
    first = client.post(
        "/api/v1/jobs", json={"target": "local", "wait_for_lease_s": 30}, headers=headers
    ).json()
    second = client.post("/api/v1/jobs", json={"target": "local"}, headers=headers)
    assert second.status_code == 409 and first["id"] in second.json()["error"]["message"]
    done = jobs.wait(first["id"], 60)
    # It got the lease when it expired, then found no Triton there.
    assert done.state == "failed" and done.error is not None and done.error.code == "triton"
