"""PUT /api/v1/feedback/{request_id}: the same roles and team scopes as other changes. The
gateway's request records come from the file a stopped gateway process leaves."""

from __future__ import annotations

from fastapi.testclient import TestClient

from modelyard import Workspace
from modelyard.ops import traffic
from modelyard.store.experiments import Arm, ExperimentLog
from modelyard.store.outcomes import OutcomeLog
from modelyard.traffic import haproxy
from tests.support.api import REC, SEARCH, bearer

Tokens = dict[tuple[str, str], str]
MODEL = "recommendation/ranking_scorer"  # owned by REC


def _served(ws: Workspace, request_id: str) -> int:
    (version,) = ws.store.versions([MODEL])
    record = ExperimentLog(ws.store).start(
        MODEL, "local", [Arm(version=version.spec.version, weight=100)], actor="test"
    )
    files = traffic.gateway_files(ws.context(), "local")
    files.folder.mkdir(parents=True, exist_ok=True)
    (files.folder / haproxy.REQUESTS_FILE).write_text(
        f"{request_id} {record.id} 1\n"  # the first (only) arm
    )
    return record.id


def test_feedback_by_role_and_team(api_ws: Workspace, client: TestClient, tokens: Tokens) -> None:
    experiment = _served(api_ws, "req-1")
    url = "/api/v1/feedback/req-1"
    viewer = client.put(url, json={"value": 1}, headers=bearer(tokens[("viewer", REC)]))
    assert viewer.status_code == 403 and "viewer token" in viewer.json()["error"]["message"]
    other = client.put(url, json={"value": 1}, headers=bearer(tokens[("maintainer", SEARCH)]))
    assert other.status_code == 403 and REC in other.json()["error"]["message"]
    assert OutcomeLog(api_ws.store).values(experiment) == {}
    own = client.put(url, json={"value": 1}, headers=bearer(tokens[("maintainer", REC)]))
    assert own.status_code == 200, own.text
    assert own.json()["experiment"] == experiment and own.json()["replaced"] is None
    again = client.put(url, json={"value": 0}, headers=bearer(tokens[("admin", SEARCH)]))
    assert again.status_code == 200 and again.json()["replaced"] == 1
    assert OutcomeLog(api_ws.store).values(experiment) == {"3.0": [0.0]}


def test_unknown_and_malformed_feedback(
    api_ws: Workspace, client: TestClient, tokens: Tokens
) -> None:
    _served(api_ws, "req-1")
    admin = bearer(tokens[("admin", REC)])
    unknown = client.put("/api/v1/feedback/req-2", json={"value": 1}, headers=admin)
    assert unknown.status_code == 404 and "recorded no experiment arm" in unknown.text
    bad = client.put("/api/v1/feedback/a%20b", json={"value": 1}, headers=admin)
    assert bad.status_code == 422 and "x-request-id" in bad.text
    missing = client.put("/api/v1/feedback/req-1", json={}, headers=admin)
    assert missing.status_code == 422
    elsewhere = client.put(
        "/api/v1/feedback/req-1", json={"value": 1, "target": "nowhere"}, headers=admin
    )
    assert elsewhere.status_code == 404 and "no target 'nowhere'" in elsewhere.text


def test_the_report_for_any_caller(api_ws: Workspace, client: TestClient, tokens: Tokens) -> None:
    experiment = _served(api_ws, "req-1")
    viewer = bearer(tokens[("viewer", SEARCH)])
    client.put("/api/v1/feedback/req-1", json={"value": 1}, headers=bearer(tokens[("admin", REC)]))
    report = client.get(f"/api/v1/experiments/{experiment}/report", headers=viewer)
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["metric"] == "conversion" and [a["outcomes"] for a in body["arms"]] == [1]
    missing = client.get("/api/v1/experiments/999/report", headers=viewer)
    assert missing.status_code == 404 and "no experiment 999" in missing.text
    bad = client.get(f"/api/v1/experiments/{experiment}/report?alpha=0.9", headers=viewer)
    assert bad.status_code == 422
