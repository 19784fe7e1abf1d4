"""Yanked and deprecated versions, and the alias rule, through the REST API and dashboard."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from modelyard import Workspace
from tests.support.api import REC, SEARCH, bearer
from tests.support.netflix import register_query_understanding

Tokens = dict[tuple[str, str], str]
QU = "search/query_understanding"
CR = "search/content_retrieval"
VERSIONS = "/api/v1/models/search/query_understanding/versions"


@pytest.fixture
def production(api_ws: Workspace) -> Workspace:
    """query_understanding@1.6 registered; `production` on query_understanding@1.5 and
    content_retrieval@2.0 (which needs query_understanding>=1.0)."""
    register_query_understanding(api_ws, "1.6")
    api_ws.set_alias(QU, "production", "1.5")
    api_ws.set_alias(CR, "production", "2.0")
    return api_ws


def refs_of(plan: dict[str, Any]) -> list[str]:
    return sorted(m["ref"] for wave in plan["waves"] for m in wave)


def error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    message: str = response.json()["error"]["message"]
    return message


def test_alias_selections_take_the_aliased_dependency(
    client: TestClient, tokens: Tokens, production: Workspace
) -> None:
    headers = bearer(tokens[("viewer", REC)])
    plan = client.get("/api/v1/plan", params={"alias": "production"}, headers=headers).json()
    assert refs_of(plan) == [f"{CR}@2.0", f"{QU}@1.5"]
    report = client.get("/api/v1/report", params={"alias": "production"}, headers=headers).json()
    assert [m["ref"] for m in report["structure"]["search"]] == [f"{CR}@2.0", f"{QU}@1.5"]
    shown = client.get(
        "/api/v1/models/search/content_retrieval", params={"alias": "production"}, headers=headers
    ).json()
    assert shown["dependencies"] == {f"{QU}>=1.0": f"{QU}@1.5"}


def test_yank_and_deprecate_through_the_api(
    client: TestClient, tokens: Tokens, production: Workspace
) -> None:
    own = bearer(tokens[("maintainer", SEARCH)])
    yanked = client.put(f"{VERSIONS}/1.6/yank", json={"reason": "wrong tokenizer"}, headers=own)
    assert yanked.status_code == 200, yanked.text
    assert yanked.json()["status"]["status"] == "yanked" and yanked.json()["changed"] is True

    listed = client.get("/api/v1/models", params={"all_versions": True}, headers=own).json()
    status = {m["ref"]: (m["status"], m["status_reason"]) for m in listed["models"]}
    assert status[f"{QU}@1.6"] == ("yanked", "wrong tokenizer")
    assert status[f"{QU}@1.5"] == ("active", None)
    newest = client.get("/api/v1/models", params={"domain": "search"}, headers=own).json()
    assert sorted(m["ref"] for m in newest["models"]) == [f"{CR}@2.0", f"{QU}@1.5"]
    shown = client.get(
        "/api/v1/models/search/query_understanding", params={"version": "1.6"}, headers=own
    ).json()
    assert shown["lifecycle"]["yanked_reason"] == "wrong tokenizer"
    assert refs_of(client.get("/api/v1/plan", headers=own).json()).count(f"{QU}@1.6") == 0

    moved = client.put(
        "/api/v1/models/search/query_understanding/aliases/canary",
        json={"version": "1.6"},
        headers=own,
    )
    assert f"{QU}@1.6 is yanked (wrong tokenizer)" in error(moved, 409, "version_yanked")

    aliased = client.put(f"{VERSIONS}/1.5/yank", json={"reason": "leaks memory"}, headers=own)
    assert "alias 'production' points at it" in error(aliased, 409, "conflict")
    forced = client.put(
        f"{VERSIONS}/1.5/yank", json={"reason": "leaks memory", "force": True}, headers=own
    )
    assert forced.json()["aliases"] == ["production"]
    validation = client.get(
        "/api/v1/validation", params={"alias": "production"}, headers=own
    ).json()
    assert validation["ok"] is False
    assert "alias-yanked" in {p["code"] for p in validation["problems"]}

    assert client.delete(f"{VERSIONS}/1.5/yank", headers=own).json()["status"]["status"] == (
        "active"
    )
    deprecated = client.put(f"{VERSIONS}/1.5/deprecation", json={"reason": "use 1.6"}, headers=own)
    assert deprecated.json()["status"]["deprecated_reason"] == "use 1.6"
    warned = client.get("/api/v1/validation", params={"alias": "production"}, headers=own).json()
    assert [p["model"] for p in warned["problems"] if p["code"] == "deprecated"] == [f"{QU}@1.5"]
    cleared = client.delete(f"{VERSIONS}/1.5/deprecation", headers=own)
    assert cleared.json()["status"]["status"] == "active"

    audit = production.access.entries(action="version.")
    assert [e.action for e in audit] == [
        "version.undeprecate",
        "version.deprecate",
        "version.unyank",
        "version.yank",
        "version.yank",
    ]
    assert all(e.actor.startswith("api:token ") and "maintainer" in e.actor for e in audit)


def test_only_the_owning_team_may_yank(
    client: TestClient, tokens: Tokens, production: Workspace
) -> None:
    body = {"reason": "wrong tokenizer"}
    other = client.put(
        f"{VERSIONS}/1.6/yank", json=body, headers=bearer(tokens[("maintainer", REC)])
    )
    assert "search_experience" in error(other, 403, "forbidden")
    viewer = client.put(
        f"{VERSIONS}/1.6/yank", json=body, headers=bearer(tokens[("viewer", SEARCH)])
    )
    error(viewer, 403, "forbidden")
    admin = bearer(tokens[("admin", REC)])
    error(client.put(f"{VERSIONS}/9.0/yank", json=body, headers=admin), 404, "not_found")
    error(client.put(f"{VERSIONS}/1.x/yank", json=body, headers=admin), 422, "invalid_input")
    error(
        client.put(f"{VERSIONS}/1.6/yank", json={"reason": ""}, headers=admin), 422, "invalid_input"
    )
    assert production.show(f"{QU}@1.6").lifecycle.status == "active"


def test_the_dashboard_shows_yanked_versions(
    client: TestClient, tokens: Tokens, production: Workspace
) -> None:
    production.yank(f"{QU}@1.6", "wrong tokenizer")
    production.deprecate(f"{CR}@2.0", "use search/reranker")
    client.cookies.set("modelyard_token", tokens[("viewer", SEARCH)])
    catalog = client.get("/ui/catalog", params={"domain": "search"}).text
    assert 'title="use search/reranker">deprecated</span>' in catalog
    page = client.get("/ui/models/search/query_understanding", params={"version": "1.6"}).text
    assert "<strong>Yanked</strong>" in page and "wrong tokenizer" in page
    newest = client.get("/ui/models/search/query_understanding").text
    assert (
        "yanked: wrong tokenizer" in newest and "<h1>search/query_understanding@1.5</h1>" in newest
    )
