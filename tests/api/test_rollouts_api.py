"""Canary rollouts through the REST API, in process: every role reads them (with
`interrupted` for one whose driver died), only the model's team (or an admin) aborts one,
and an abort of nothing is one 404 that changes nothing."""

from __future__ import annotations

import socket

from fastapi.testclient import TestClient

from modelyard import Workspace
from modelyard.store.access import AccessLog
from modelyard.store.canary import CanaryLog
from tests.support.api import REC, SEARCH, bearer
from tests.support.experiments import MODEL, SEARCH_16

Tokens = dict[tuple[str, str], str]


def test_rollouts_are_read_by_everyone_and_aborted_by_the_team(
    client: TestClient, tokens: Tokens, api_ws: Workspace
) -> None:
    api_ws.apply_text(SEARCH_16, actor="test")
    # Its driver was a process of this host that is gone: interrupted.
    record = CanaryLog(api_ws.store).start(
        MODEL,
        "local",
        baseline="1.5",
        candidate="1.6",
        steps=[10, 100],
        interval_s=60,
        settings={},
        holder=f"ann@{socket.gethostname()}:999999999/abc",
        actor="ann",
    )
    viewer = bearer(tokens[("viewer", REC)])
    [listed] = client.get("/api/v1/rollouts", headers=viewer).json()["rollouts"]
    assert listed["rollout"]["id"] == record.id and listed["interrupted"] is True
    of_model = client.get(f"/api/v1/rollouts/{MODEL}", headers=viewer).json()["rollouts"]
    assert [r["rollout"]["state"] for r in of_model] == ["running"]
    assert client.get("/api/v1/rollouts").status_code == 401
    before = len(AccessLog(api_ws.store).entries(limit=10_000))
    for role, team in (("viewer", SEARCH), ("maintainer", REC)):
        refused = client.post(
            f"/api/v1/rollouts/{MODEL}/abort", headers=bearer(tokens[(role, team)]), json={}
        )
        assert refused.status_code == 403, refused.text
    assert len(AccessLog(api_ws.store).entries(limit=10_000)) == before
    owner = bearer(tokens[("maintainer", SEARCH)])
    aborted = client.post(f"/api/v1/rollouts/{MODEL}/abort", headers=owner, json={})
    assert aborted.status_code == 200, aborted.text
    body = aborted.json()
    assert body["rollout"]["state"] == "aborted" and body["interrupted"] is False
    assert body["rollout"]["reason"] == "interrupted, then aborted; every request back to 1.5"
    again = client.post(f"/api/v1/rollouts/{MODEL}/abort", headers=owner, json={})
    assert again.status_code == 404
    assert "no rollout of search/query_understanding runs" in again.json()["error"]["message"]
