"""Experiments and the gateway through the REST API, in process: reads for every role,
changes only for the model's team (or an admin) on a target that allows it, bad input
as one problem document that changes nothing. Each change that passes the checks reaches
the same operation as the CLI, which here stops where it needs a gateway or a Triton."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from modelyard import Workspace
from modelyard.api import create_app
from modelyard.ops import traffic
from modelyard.store.access import AccessLog
from modelyard.store.experiments import Arm, ExperimentLog, ExperimentRecord
from modelyard.traffic import haproxy
from modelyard.triton.server import free_port
from tests.support.api import REC, SEARCH, bearer
from tests.support.experiments import MODEL, SEARCH_16
from tests.support.fake_triton import FakeTriton, fake_target_kind
from tests.support.gateway import needs_haproxy

Tokens = dict[tuple[str, str], str]


@pytest.fixture
def running(api_ws: Workspace) -> ExperimentRecord:
    """A 90/10 experiment on query_understanding (1.5, 1.6) at `local`, changed once."""
    api_ws.apply_text(SEARCH_16, actor="test")
    log = ExperimentLog(api_ws.store)
    started = log.start(
        MODEL, "local", [Arm(version="1.5", weight=90), Arm(version="1.6", weight=10)], actor="ann"
    )
    return log.reweigh(
        started.id, [Arm(version="1.5", weight=70), Arm(version="1.6", weight=30)], actor="bob"
    )[1]


def _audited(ws: Workspace) -> int:
    return len(AccessLog(ws.store).entries(limit=10_000))


def test_every_role_reads_experiments(
    client: TestClient, tokens: Tokens, api_ws: Workspace, running: ExperimentRecord
) -> None:
    log = ExperimentLog(api_ws.store)
    log.stop(running.id, "1.6", actor="carl")
    second = log.start(
        MODEL, "local", [Arm(version="1.6", weight=50), Arm(version="1.5", weight=50)], actor="dan"
    )
    viewer = bearer(tokens[("viewer", REC)])
    listed = client.get("/api/v1/experiments", headers=viewer).json()["experiments"]
    assert [e["id"] for e in listed] == [second.id]  # running only, as `experiment status`
    first = listed[0]
    assert first["model"] == MODEL and first["kind"] == "split" and first["state"] == "running"
    assert [(a["version"], a["weight"], a["requests"], a["errors"]) for a in first["arms"]] == [
        ("1.6", 50, 0, 0),
        ("1.5", 50, 0, 0),
    ]
    every = client.get("/api/v1/experiments", params={"state": "all"}, headers=viewer).json()
    assert [e["id"] for e in every["experiments"]] == [second.id, running.id]
    elsewhere = client.get("/api/v1/experiments", params={"target": "search-only"}, headers=viewer)
    assert elsewhere.json()["experiments"] == []
    of_model = client.get(f"/api/v1/experiments/{MODEL}", headers=viewer).json()["experiments"]
    assert [(e["id"], e["state"], e["kept"]) for e in of_model] == [
        (second.id, "running", None),
        (running.id, "stopped", "1.6"),
    ]
    # One experiment with its changes: the weights before and after, who, in order.
    detail = client.get(f"/api/v1/experiments/{running.id}", headers=viewer).json()
    assert [
        (c["action"], c["actor"], c["before"], c["after"], c["kept"]) for c in detail["changes"]
    ] == [
        ("experiment.start", "ann", None, {"1.5": 90, "1.6": 10}, None),
        ("experiment.set", "bob", {"1.5": 90, "1.6": 10}, {"1.5": 70, "1.6": 30}, None),
        ("experiment.stop", "carl", {"1.5": 70, "1.6": 30}, {"1.5": 0, "1.6": 100}, "1.6"),
    ]
    missing = client.get("/api/v1/experiments/999", headers=viewer)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == (
        "no experiment 999; `modelyard experiment status` lists them"
    )
    unknown = client.get("/api/v1/experiments/search/nothing", headers=viewer)
    assert unknown.status_code == 404 and "search/nothing" in unknown.json()["error"]["message"]
    assert client.get("/api/v1/experiments").status_code == 401


Change = Callable[[TestClient, dict[str, str]], Response]
CHANGES: dict[str, Change] = {
    "start": lambda c, h: c.post(
        f"/api/v1/experiments/{MODEL}",
        headers=h,
        json={"arms": [{"version": "1.5", "weight": 50}, {"version": "1.6", "weight": 50}]},
    ),
    "set": lambda c, h: c.put(
        f"/api/v1/experiments/{MODEL}/weights",
        headers=h,
        json={"arms": [{"version": "1.6", "weight": 100}]},
    ),
    "stop": lambda c, h: c.post(
        f"/api/v1/experiments/{MODEL}/stop", headers=h, json={"keep": "1.6"}
    ),
    "switch": lambda c, h: c.post(
        f"/api/v1/experiments/{MODEL}/switch", headers=h, json={"to": "1.5"}
    ),
}
# Past the checks, each stops in the operation itself: the model has an experiment running
# already (start), or no gateway runs on the target to route the change.
REACHED = {
    "start": (409, f"{MODEL} already has experiment"),
    "set": (404, "no gateway runs for target 'local'"),
    "stop": (404, "no gateway runs for target 'local'"),
    "switch": (404, "no gateway runs for target 'local'"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_only_the_models_team_or_an_admin_changes_its_traffic(
    client: TestClient, tokens: Tokens, api_ws: Workspace, running: ExperimentRecord, change: str
) -> None:
    act = CHANGES[change]
    before = _audited(api_ws)
    refused = {
        ("viewer", SEARCH): f"a viewer token cannot change {MODEL}; ask for a maintainer token "
        "of team 'search_experience'",
        ("viewer", REC): "a viewer token cannot change",
        ("maintainer", REC): f"{MODEL} is owned by team 'search_experience'; your token is for "
        "team 'recommendation_platform'",
    }
    for (role, team), message in refused.items():
        response = act(client, bearer(tokens[(role, team)]))
        assert response.status_code == 403, (role, team, response.text)
        body = response.json()
        assert body["ok"] is False and body["error"]["code"] == "forbidden"
        assert message in body["error"]["message"]
    for caller in (("maintainer", SEARCH), ("admin", REC)):
        response = act(client, bearer(tokens[caller]))
        status, message = REACHED[change]
        assert response.status_code == status, (caller, response.text)
        assert message in response.json()["error"]["message"]
    # Nothing changed: the experiment as it was, and no audit entry.
    assert ExperimentLog(api_ws.store).history() == [running]
    assert _audited(api_ws) == before


def test_a_maintainer_changes_traffic_only_on_targets_that_allow_the_team(
    client: TestClient, tokens: Tokens, api_ws: Workspace
) -> None:
    response = client.post(
        "/api/v1/experiments/recommendation/user_embedding",
        headers=bearer(tokens[("maintainer", REC)]),
        json={
            "arms": [{"version": "1.0", "weight": 90}, {"version": "1.0", "weight": 10}],
            "target": "search-only",
        },
    )
    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "target 'search-only' allows deployments by search_experience, not by team "
        "'recommendation_platform'"
    )


ARMS_90_10 = [{"version": "1.5", "weight": 90}, {"version": "1.6", "weight": 10}]


@pytest.mark.parametrize(
    ("path", "method", "body", "status", "field", "message"),
    [
        (
            "",
            "POST",
            {"arms": [{"version": "1.5", "weight": 90}, {"version": "1.6", "weight": 20}]},
            422,
            "arms",
            "arms: the weights must add up to 100, got 110 (1.5=90, 1.6=20)",
        ),
        (
            "",
            "POST",
            {"arms": [{"version": "1.5", "weight": 100}]},
            422,
            "arms",
            "arms: an experiment needs at least two arms; `switch` moves all",
        ),
        (
            "",
            "POST",
            {"arms": [{"version": "one", "weight": 50}, {"version": "1.6", "weight": 50}]},
            422,
            "arms",
            "arms 'one=50': ",
        ),
        (
            "",
            "POST",
            {"arms": ARMS_90_10, "sticky_header": "x user"},
            422,
            "sticky_header",
            "sticky_header 'x user': expected a header name of letters, digits and '-'",
        ),
        ("", "POST", {"arms": [{"version": "1.5", "weight": 101}]}, 422, "arms[0].weight", ""),
        ("", "POST", {"arms": []}, 422, "arms", ""),
        (
            "",
            "POST",
            {"arms": [{"version": "1.5", "weight": 90}, {"version": "9.9", "weight": 10}]},
            404,
            None,
            f"{MODEL} has no version 9.9 (registered: 1.5, 1.6)",
        ),
        ("", "POST", {"arms": ARMS_90_10, "target": "nowhere"}, 404, None, "no target 'nowhere'"),
        (
            "/weights",
            "PUT",
            {"arms": [{"version": "2.0", "weight": 100}]},
            422,
            "arms",
            "arms: 2.0 is not an arm of this experiment (arms: 1.5, 1.6)",
        ),
        ("/stop", "POST", {"keep": "3.0"}, 422, "keep", "keep: 3.0 is not an arm of experiment"),
        ("/stop", "POST", {"keep": "3.0", "extra": 1}, 422, "extra", ""),
        ("/switch", "POST", {"to": "7.0"}, 404, None, f"{MODEL} has no version 7.0"),
    ],
)
def test_bad_input_is_one_problem_and_changes_nothing(
    client: TestClient,
    admin_headers: dict[str, str],
    api_ws: Workspace,
    running: ExperimentRecord,
    path: str,
    method: str,
    body: dict[str, Any],
    status: int,
    field: str | None,
    message: str,
) -> None:
    before = _audited(api_ws)
    response = client.request(
        method, f"/api/v1/experiments/{MODEL}{path}", json=body, headers=admin_headers
    )
    assert response.status_code == status, response.text
    error = response.json()
    assert error["ok"] is False and error["status"] == status
    assert error["error"]["field"] == field
    assert message in error["error"]["message"]
    assert "\n" not in error["error"]["message"]
    assert ExperimentLog(api_ws.store).history() == [running]
    assert _audited(api_ws) == before


def test_gateway_changes_need_an_admin(client: TestClient, tokens: Tokens) -> None:
    for role in ("viewer", "maintainer"):
        for action in ("start", "stop", "restart"):
            response = client.post(
                f"/api/v1/targets/local/gateway/{action}",
                headers=bearer(tokens[(role, SEARCH)]),
                json={},
            )
            assert response.status_code == 403, response.text
            assert response.json()["error"]["message"] == (
                f"this needs an admin token; yours is {role} of team 'search_experience'"
            )
    status = client.get("/api/v1/targets/local/gateway", headers=bearer(tokens[("viewer", REC)]))
    assert status.status_code == 200
    assert status.json()["running"] is False and status.json()["routes"] == {}
    unknown = client.get("/api/v1/targets/nowhere/gateway", headers=bearer(tokens[("admin", REC)]))
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"].startswith("no target 'nowhere' in modelyard.yaml")
    admin = bearer(tokens[("admin", REC)])
    stop = client.post("/api/v1/targets/local/gateway/stop", headers=admin)
    assert stop.status_code == 404
    assert "no gateway runs for target 'local'" in stop.json()["error"]["message"]
    bad_port = client.post("/api/v1/targets/local/gateway/start", headers=admin, json={"port": 0})
    assert bad_port.status_code == 422 and bad_port.json()["error"]["field"] == "port"


@pytest.mark.gateway
@needs_haproxy
def test_an_admin_starts_and_stops_a_real_gateway(
    client: TestClient, tokens: Tokens, api_ws: Workspace, running: ExperimentRecord
) -> None:
    admin = bearer(tokens[("admin", REC)])
    port = free_port()
    try:
        started = client.post(
            "/api/v1/targets/local/gateway/start", headers=admin, json={"port": port}
        )
        assert started.status_code == 200, started.text
        shown = started.json()
        assert shown["running"] is True and shown["url"] == f"http://127.0.0.1:{port}"
        # It routes the recorded experiment at once.
        assert shown["in_sync"] is True
        assert shown["routes"] == {"search.query_understanding": {"1.5": 70, "1.6": 30}}
        again = client.post("/api/v1/targets/local/gateway/start", headers=admin, json={})
        assert again.status_code == 409
        assert f"runs already on port {port}" in again.json()["error"]["message"]
        # A change the team may make now reaches Triton, which does not answer here: the
        # arm is not verified, so nothing is recorded.
        weights = client.put(
            f"/api/v1/experiments/{MODEL}/weights",
            headers=bearer(tokens[("maintainer", SEARCH)]),
            json={"arms": [{"version": "1.6", "weight": 100}]},
        )
        assert weights.status_code == 502, weights.text
        assert ExperimentLog(api_ws.store).history() == [running]
        restarted = client.post("/api/v1/targets/local/gateway/restart", headers=admin)
        assert restarted.status_code == 200 and restarted.json()["in_sync"] is True
    finally:
        stopped = client.post("/api/v1/targets/local/gateway/stop", headers=admin)
        files = traffic.gateway_files(api_ws.context(), "local")
        haproxy.stop(files, files.pids())
    assert stopped.status_code == 200 and stopped.json()["running"] is False
    token_id = api_ws.access.token_for_secret(tokens[("admin", REC)])
    assert token_id is not None
    entries = AccessLog(api_ws.store).entries(action="gateway")
    assert [e.action for e in entries] == ["gateway.stop", "gateway.restart", "gateway.start"]
    assert {e.actor for e in entries} == {f"api:token {token_id.id} ({REC}, admin)"}


def test_a_maintainers_experiment_may_not_reload_another_teams_models(
    netflix: Workspace, tmp_path: Path
) -> None:
    """Starting an experiment deploys the selection beside its arms: for a maintainer,
    refused when that reloads a model of another team (as a maintainer's deploy is)."""
    assert netflix.root is not None
    config = netflix.root / "modelyard.yaml"
    config.write_text(
        config.read_text()
        + "\ntargets:\n  dev: {kind: fake-triton, url: 'http://fake-triton:8000', "
        "repository: repo-dev, profile: local}\n"
    )
    fake = FakeTriton(netflix.root / "repo-dev")
    ws = Workspace.open(netflix.root, db_url=netflix.db_url)
    try:
        with fake_target_kind(fake), TestClient(create_app(ws)) as client:
            ws.deploy("dev")
            served = dict(fake.ready)
            ws.apply_text(SEARCH_16, actor="test")
            # Recommendation's newer user_embedding: the newest selection reloads it (and
            # the ranker ensemble that uses it).
            spec = ws.store.get("recommendation/user_embedding").spec
            newer = spec.model_dump(mode="json", exclude_defaults=True) | {"version": "1.1"}
            ws.apply_text(json.dumps(newer), actor="test")
            before = _audited(ws)
            body = {"arms": ARMS_90_10, "target": "dev"}
            search = bearer(ws.access.create_token(SEARCH, "maintainer", actor="test")[1])
            refused = client.post(f"/api/v1/experiments/{MODEL}", headers=search, json=body)
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"]["message"] == (
                f"deploying the arms of {MODEL} to dev would reload models of other teams: "
                "recommendation.recommendation_ranker (recommendation_platform), "
                "recommendation.user_embedding (recommendation_platform); ask those teams "
                "or an admin to deploy them first; nothing changed"
            )
            switched = client.post(
                f"/api/v1/experiments/{MODEL}/switch",
                headers=search,
                json={"to": "1.6", "target": "dev"},
            )
            assert switched.status_code == 403, switched.text
            assert fake.ready == served
            assert _audited(ws) == before + 1  # the token only
            admin = bearer(ws.access.create_token(REC, "admin", actor="test")[1])
            allowed = client.post(f"/api/v1/experiments/{MODEL}", headers=admin, json=body)
            assert allowed.status_code == 404  # past the check: no gateway runs on dev
            assert "no gateway runs for target 'dev'" in allowed.json()["error"]["message"]
    finally:
        ws.close()
