"""Every endpoint of the REST API, in process (ASGI), against a real catalog."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from modelyard import Workspace
from tests.support.api import REC, SEARCH, bearer
from tests.support.netflix import NETFLIX_REFS

Tokens = dict[tuple[str, str], str]

NEW_VERSION = """\
name: query_understanding
version: "1.6"
model_type: classification
framework: onnx
domain: search
owner_team: search_experience
description: a new version from the API
"""


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["ok"] is False and body["status"] == status
    assert body["error"]["code"] == code and body["error"]["message"]
    assert "field" in body["error"]
    return body


def test_openapi_schema_lists_every_route(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = set(schema["paths"])
    assert {
        "/api/v1/models",
        "/api/v1/models/{domain}/{name}",
        "/api/v1/models/{domain}/{name}/aliases/{alias}",
        "/api/v1/validation",
        "/api/v1/plan",
        "/api/v1/jobs",
        "/api/v1/jobs/{job_id}",
        "/api/v1/history",
        "/api/v1/status",
        "/api/v1/report",
        "/api/v1/report/html",
        "/api/v1/audit",
        "/api/v1/tokens",
        "/api/v1/tokens/{token_id}",
    } <= paths
    assert not any(p.startswith("/ui") for p in paths)
    assert schema["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
    # Errors are documented with our shape, not FastAPI's default.
    responses = schema["paths"]["/api/v1/models"]["post"]["responses"]
    assert responses["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")


def test_me_and_unknown_or_missing_token(client: TestClient, tokens: Tokens) -> None:
    me = client.get("/api/v1/me", headers=bearer(tokens[("maintainer", SEARCH)])).json()
    assert me["team"] == SEARCH and me["role"] == "maintainer" and me["prefix"].startswith("myd_")
    missing = client.get("/api/v1/me")
    error_of(missing, 401, "unauthenticated")
    assert missing.headers["www-authenticate"] == "Bearer"
    error_of(client.get("/api/v1/me", headers=bearer("myd_not-a-token")), 401, "unauthenticated")


def test_list_models_with_filters(client: TestClient, tokens: Tokens) -> None:
    headers = bearer(tokens[("viewer", REC)])
    every = client.get("/api/v1/models", headers=headers).json()
    assert every["count"] == 6 and sorted(m["ref"] for m in every["models"]) == NETFLIX_REFS
    search = client.get("/api/v1/models", params={"domain": "search"}, headers=headers).json()
    assert {m["id"] for m in search["models"]} == {
        "search/content_retrieval",
        "search/query_understanding",
    }
    team = client.get(
        "/api/v1/models", params={"team": REC, "framework": "onnx"}, headers=headers
    ).json()
    assert all(m["owner_team"] == REC and m["framework"] == "onnx" for m in team["models"])
    none = client.get("/api/v1/models", params={"domain": "nope"}, headers=headers).json()
    assert none == {"count": 0, "models": []}
    # The example's models carry no labels; tests/cli/test_cli.py matches some.
    gold = client.get("/api/v1/models", params={"label": "tier=gold"}, headers=headers).json()
    assert gold == {"count": 0, "models": []}
    error_of(
        client.get("/api/v1/models", params={"label": "=gold"}, headers=headers),
        422,
        "invalid_input",
    )
    # A page: `count` is every match, the models are the slice, in id order.
    ordered = sorted(m["id"] for m in every["models"])
    pages = [
        client.get("/api/v1/models", params={"limit": 4, "offset": offset}, headers=headers).json()
        for offset in (0, 4, 8)
    ]
    assert [p["count"] for p in pages] == [6, 6, 6]
    assert [[m["id"] for m in p["models"]] for p in pages] == [ordered[:4], ordered[4:], []]
    error_of(
        client.get("/api/v1/models", params={"limit": 0}, headers=headers), 422, "invalid_input"
    )


def test_register_from_manifest_body(client: TestClient, tokens: Tokens, api_ws: Workspace) -> None:
    headers = bearer(tokens[("maintainer", SEARCH)])
    dry = client.post(
        "/api/v1/models", json={"manifest": NEW_VERSION, "dry_run": True}, headers=headers
    ).json()
    assert dry == {
        "ok": True,
        "dry_run": True,
        "created": ["search/query_understanding@1.6"],
        "unchanged": [],
        "transferred": {},
    }
    created = client.post("/api/v1/models", json={"manifest": NEW_VERSION}, headers=headers)
    assert created.status_code == 200 and created.json()["created"] == [
        "search/query_understanding@1.6"
    ]
    again = client.post("/api/v1/models", json={"manifest": NEW_VERSION}, headers=headers).json()
    assert again["unchanged"] == ["search/query_understanding@1.6"] and again["created"] == []
    changed = client.post(
        "/api/v1/models",
        headers=headers,
        json={"manifest": NEW_VERSION.replace("a new version", "other text")},
    )
    body = error_of(changed, 409, "version_conflict")
    assert body["error"]["field"] == "description"
    entry = api_ws.access.entries(action="model.register")[0]
    assert entry.actor.startswith("api:token ") and SEARCH in entry.actor
    assert entry.after == {"created": ["search/query_understanding@1.6"], "created_count": 1}


def test_register_errors_name_the_field(client: TestClient, admin_headers: dict[str, str]) -> None:
    bad = client.post(
        "/api/v1/models",
        headers=admin_headers,
        json={"manifest": NEW_VERSION.replace('version: "1.6"', 'version: "one"')},
    )
    body = error_of(bad, 422, "invalid_input")
    assert body["error"]["field"] == "version" and body["errors"][0]["line"] == 2
    missing_dependency = client.post(
        "/api/v1/models",
        headers=admin_headers,
        json={"manifest": NEW_VERSION + "dependencies: [search/nothing>=1.0]\n"},
    )
    error_of(missing_dependency, 422, "validation_failed")
    empty = client.post("/api/v1/models", headers=admin_headers, json={"manifest": "---\n"})
    error_of(empty, 422, "invalid_input")
    not_json = client.post("/api/v1/models", headers=admin_headers, json={"manifests": "x"})
    body = error_of(not_json, 422, "invalid_input")
    assert body["error"]["field"] in ("manifest", "manifests")


def test_show_dependencies_impact_and_graph(client: TestClient, tokens: Tokens) -> None:
    headers = bearer(tokens[("viewer", SEARCH)])
    shown = client.get(
        "/api/v1/models/recommendation/recommendation_ranker", headers=headers
    ).json()
    assert shown["ref"] == "recommendation/recommendation_ranker@3.0"
    assert shown["versions"] == ["3.0"] and shown["spec"]["owner_team"] == REC
    assert set(shown["dependencies"].values()) >= {"recommendation/user_embedding@1.0"}
    by_version = client.get(
        "/api/v1/models/search/content_retrieval", params={"version": "2.0"}, headers=headers
    )
    assert by_version.json()["ref"] == "search/content_retrieval@2.0"
    error_of(
        client.get(
            "/api/v1/models/search/content_retrieval", params={"version": "9.9"}, headers=headers
        ),
        404,
        "not_found",
    )
    error_of(
        client.get(
            "/api/v1/models/search/content_retrieval", params={"version": "x"}, headers=headers
        ),
        422,
        "invalid_input",
    )
    deps = client.get(
        "/api/v1/models/recommendation/recommendation_ranker/dependencies", headers=headers
    ).json()
    assert deps["model"] == "recommendation/recommendation_ranker"
    assert "recommendation/ranking_scorer@3.0" in deps["dependencies"]
    impact = client.get("/api/v1/models/search/query_understanding/impact", headers=headers).json()
    assert impact == {
        "model": "search/query_understanding",
        "dependents": ["search/content_retrieval@2.0"],
    }
    svg = client.get("/api/v1/models/search/content_retrieval/graph", headers=headers)
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.startswith("<svg") and "query_understanding" in svg.text


def test_alias_compare_and_set(client: TestClient, tokens: Tokens, api_ws: Workspace) -> None:
    headers = bearer(tokens[("maintainer", SEARCH)])
    path = "/api/v1/models/search/query_understanding/aliases/production"
    created = client.put(path, json={"version": "1.5", "expect": "none"}, headers=headers)
    assert created.status_code == 200, created.text
    assert created.json()["version"] == "1.5" and created.json()["revision"] == 1
    error_of(
        client.put(path, json={"version": "1.5", "expect": "none"}, headers=headers),
        409,
        "alias_conflict",
    )
    client.post("/api/v1/models", json={"manifest": NEW_VERSION}, headers=headers)
    stale = client.put(path, json={"version": "1.6", "expect": "1.4"}, headers=headers)
    error_of(stale, 409, "alias_conflict")
    moved = client.put(path, json={"version": "1.6", "expect": "1.5"}, headers=headers).json()
    assert moved["version"] == "1.6" and moved["revision"] == 2
    listed = client.get("/api/v1/models/search/query_understanding/aliases", headers=headers)
    assert [(a["alias"], a["version"]) for a in listed.json()["aliases"]] == [("production", "1.6")]
    everything = client.get("/api/v1/aliases", headers=headers).json()["aliases"]
    assert [a["model"] for a in everything] == ["search/query_understanding"]
    error_of(client.put(path, json={"version": "7.0"}, headers=headers), 404, "not_found")
    error_of(
        client.put(
            "/api/v1/models/search/query_understanding/aliases/Bad Name",
            json={"version": "1.6"},
            headers=headers,
        ),
        422,
        "invalid_input",
    )
    audit = api_ws.access.entries(action="alias.set")
    assert [(e.before, e.after) for e in reversed(audit)] == [
        (None, {"version": "1.5", "revision": 1}),
        ({"version": "1.5", "revision": 1}, {"version": "1.6", "revision": 2}),
    ]
    assert audit[0].object == "search/query_understanding alias production"
    # A move away and back fools `expect`, never `expect_revision`.
    client.put(path, json={"version": "1.5"}, headers=headers)
    client.put(path, json={"version": "1.6"}, headers=headers)
    aba = client.put(path, json={"version": "1.5", "expect_revision": 2}, headers=headers)
    assert "at revision 4" in error_of(aba, 409, "alias_conflict")["error"]["message"]
    zero = client.put(path, json={"version": "1.6", "expect_revision": 0}, headers=headers)
    error_of(zero, 422, "invalid_input")


def test_validation_plan_and_report(client: TestClient, tokens: Tokens) -> None:
    headers = bearer(tokens[("viewer", REC)])
    validation = client.get("/api/v1/validation", headers=headers).json()
    assert validation["models"] == 6 and validation["errors"] == 0
    assert validation["warnings"] == len(
        [p for p in validation["problems"] if p["severity"] == "warning"]
    )
    strict = client.get("/api/v1/validation", params={"strict": True}, headers=headers).json()
    assert strict["strict"] is True
    plan = client.get("/api/v1/plan", headers=headers).json()
    assert plan["models"] == 6 and len(plan["waves"]) >= 2
    assert plan["critical_path_length"] == len(plan["critical_path"])
    error_of(
        client.get("/api/v1/plan", params={"alias": "nothing"}, headers=headers), 404, "not_found"
    )
    report = client.get("/api/v1/report", headers=headers).json()
    assert set(report["structure"]) == {"recommendation", "search"}
    html = client.get("/api/v1/report/html", headers=headers)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert 'id="model-search/content_retrieval@2.0"' in html.text
    assert 'href="/api/v1/report/html?domain=search"' in html.text  # the pages link here
    domain = client.get("/api/v1/report/html", params={"domain": "search"}, headers=headers)
    assert domain.status_code == 200 and 'id="model-search/content_retrieval@2.0"' in domain.text
    assert 'href="/api/v1/report/html?domain=recommendation"' in domain.text
    error_of(
        client.get("/api/v1/report/html", params={"domain": "nowhere"}, headers=headers),
        404,
        "not_found",
    )


def test_targets_status_rollout_plan_history(client: TestClient, tokens: Tokens) -> None:
    headers = bearer(tokens[("viewer", REC)])
    targets = {
        t["name"]: t for t in client.get("/api/v1/targets", headers=headers).json()["targets"]
    }
    assert set(targets) == {"local", "search-only"}
    assert targets["search-only"]["teams"] == [SEARCH] and targets["local"]["teams"] is None
    # Nothing listens on the targets' port: Triton errors are 502 with our shape.
    error_of(
        client.get("/api/v1/status", params={"target": "local"}, headers=headers), 502, "triton"
    )
    error_of(
        client.get("/api/v1/plan/rollout", params={"target": "local"}, headers=headers),
        502,
        "triton",
    )
    error_of(
        client.get("/api/v1/status", params={"target": "nowhere"}, headers=headers),
        404,
        "not_found",
    )
    assert client.get("/api/v1/history", headers=headers).json() == {"deployments": []}
    error_of(
        client.get("/api/v1/history", params={"limit": 0}, headers=headers), 422, "invalid_input"
    )


def test_deploy_job_failure_is_reported(
    client: TestClient, tokens: Tokens, api_ws: Workspace
) -> None:
    headers = bearer(tokens[("maintainer", REC)])
    started = client.post(
        "/api/v1/jobs", json={"target": "local", "load_timeout_s": 5}, headers=headers
    )
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["state"] == "running" and job["target"] == "local"
    state = client.app.state.modelyard  # type: ignore[attr-defined]
    state.jobs.wait(job["id"], 60)
    done = client.get(f"/api/v1/jobs/{job['id']}", headers=headers).json()
    assert done["state"] == "failed" and done["error"]["code"] == "triton"
    assert done["finished_at"] is not None
    listed = client.get("/api/v1/jobs", headers=headers).json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]
    error_of(client.get("/api/v1/jobs/nope", headers=headers), 404, "not_found")
    error_of(
        client.post("/api/v1/jobs", json={"target": "nowhere"}, headers=headers), 404, "not_found"
    )
    error_of(
        client.post("/api/v1/jobs", json={"target": "local", "concurrency": 0}, headers=headers),
        422,
        "invalid_input",
    )
    history = client.get("/api/v1/history", headers=headers).json()["deployments"]
    assert history[0]["outcome"] == "failed" and history[0]["actor"].startswith("api:token ")
    entry = api_ws.access.entries(action="deploy")[0]
    assert entry.object == "target local" and entry.after["ok"] is False


def test_undeploy_needs_a_live_triton(client: TestClient, tokens: Tokens) -> None:
    headers = bearer(tokens[("maintainer", SEARCH)])
    response = client.delete(
        "/api/v1/targets/search-only/models/search/content_retrieval", headers=headers
    )
    error_of(response, 502, "triton")


def test_tokens_and_audit(
    client: TestClient, tokens: Tokens, admin_headers: dict[str, str], api_ws: Workspace
) -> None:
    created = client.post(
        "/api/v1/tokens",
        headers=admin_headers,
        json={"team": "fraud", "role": "maintainer", "description": "ci"},
    )
    assert created.status_code == 201
    token, secret = created.json()["token"], created.json()["secret"]
    assert secret.startswith(token["prefix"]) and token["revoked_at"] is None
    assert client.get("/api/v1/me", headers=bearer(secret)).json()["team"] == "fraud"
    listed = client.get("/api/v1/tokens", headers=admin_headers).json()["tokens"]
    assert token["id"] in [t["id"] for t in listed] and "secret" not in listed[0]
    revoked = client.delete(f"/api/v1/tokens/{token['id']}", headers=admin_headers).json()
    assert revoked["revoked_at"] is not None
    error_of(client.get("/api/v1/me", headers=bearer(secret)), 401, "unauthenticated")
    active = client.get("/api/v1/tokens", headers=admin_headers).json()["tokens"]
    assert token["id"] not in [t["id"] for t in active]
    every = client.get(
        "/api/v1/tokens", params={"include_revoked": True}, headers=admin_headers
    ).json()["tokens"]
    assert token["id"] in [t["id"] for t in every]
    error_of(client.delete("/api/v1/tokens/999999", headers=admin_headers), 404, "not_found")
    error_of(
        client.post("/api/v1/tokens", headers=admin_headers, json={"team": "x", "role": "owner"}),
        422,
        "invalid_input",
    )
    # The secret is never stored: only its SHA-256.
    assert all(
        secret not in str(t.model_dump(mode="json"))
        for t in api_ws.access.tokens(include_revoked=True)
    )

    audit = client.get("/api/v1/audit", params={"action": "token"}, headers=admin_headers).json()
    actions = [(e["action"], e["object"]) for e in audit["entries"]]
    assert actions[:2] == [
        ("token.revoke", f"token {token['id']}"),
        ("token.create", f"token {token['id']}"),
    ]
    revoke = audit["entries"][0]
    assert revoke["before"]["revoked_at"] is None and revoke["after"]["revoked_at"] is not None
    assert revoke["actor"].startswith("api:token ") and revoke["at"]
    limited = client.get("/api/v1/audit", params={"limit": 1}, headers=admin_headers).json()
    assert len(limited["entries"]) == 1


def test_unknown_route_and_method_have_the_error_shape(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    error_of(client.get("/api/v1/nothing", headers=admin_headers), 404, "not_found")
    error_of(client.patch("/api/v1/models", headers=admin_headers), 405, "method_not_allowed")
    error_of(client.get("/docs"), 404, "not_found")  # its scripts would come from a CDN


def test_open_access_only_while_no_token_exists(api_ws: Workspace) -> None:
    from modelyard.api import create_app

    with TestClient(
        create_app(api_ws, open_access=True), base_url="http://127.0.0.1:8080"
    ) as open_client:
        assert open_client.get("/api/v1/me").json()["role"] == "admin"
        api_ws.access.create_token("ops", "viewer", actor="test")
        error_of(open_client.get("/api/v1/me"), 401, "unauthenticated")
    with TestClient(create_app(api_ws)) as closed_client:
        error_of(closed_client.get("/api/v1/models"), 401, "unauthenticated")


def test_history_sets_each_estimate_against_the_time_taken(
    client: TestClient, tokens: Tokens, api_ws: Workspace
) -> None:
    from modelyard.store.history import DeploymentLog

    estimated = DeploymentLog(api_ws.store, estimate={"seconds": 3.5, "loads": []})
    deployment = estimated.start("local", "token:alice", "newest")
    estimated.finish(deployment, "succeeded", [])
    DeploymentLog(api_ws.store).start("local", "token:bob", "newest")  # still running
    headers = bearer(tokens[("viewer", REC)])
    running, done = client.get("/api/v1/history", headers=headers).json()["deployments"]
    assert done["estimated_seconds"] == 3.5 and done["estimate"]["seconds"] == 3.5
    assert done["seconds"] is not None and done["seconds"] >= 0
    assert (running["seconds"], running["estimated_seconds"], running["estimate"]) == (
        None,
        None,
        None,
    )
    error_of(
        client.get("/api/v1/plan/rollout", params={"concurrency": 0}, headers=headers),
        422,
        "invalid_input",
    )
