"""Experiments through the REST API against real HAProxy and a real local Triton: the
gateway restarted by an admin, an experiment started, reweighed and stopped by the
model's team, each change audited with the acting token."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelyard.api import create_app
from modelyard.api.auth import COOKIE
from modelyard.store.access import AccessLog
from tests.support.api import bearer
from tests.support.gateway import GatewayBed, gateway_bed, needs_haproxy, send

pytestmark = [pytest.mark.triton, pytest.mark.gateway, needs_haproxy]
ECHO = "/api/v1/experiments/tools/echo"


@pytest.fixture
def bed(tmp_path: Path, catalog_url: str) -> Iterator[GatewayBed]:
    with gateway_bed(tmp_path, catalog_url) as opened:
        yield opened


def test_start_weights_and_stop_through_the_api(bed: GatewayBed) -> None:
    ws = bed.workspace
    access = ws.access
    admin_token, admin = access.create_token("platform", "admin", actor="test")
    owner_token, owner = access.create_token("platform", "maintainer", actor="test")
    _, stranger = access.create_token("search", "maintainer", actor="test")
    with TestClient(create_app(ws)) as client:
        # The admin moves the gateway to a port of the API's choosing: stop, then start.
        assert (
            client.post("/api/v1/targets/test/gateway/stop", headers=bearer(admin)).json()[
                "running"
            ]
            is False
        )
        port = int(bed.gateway_url.rsplit(":", 1)[1])
        started = client.post(
            "/api/v1/targets/test/gateway/start", headers=bearer(admin), json={"port": port}
        ).json()
        assert started["running"] is True and started["url"] == bed.gateway_url
        arms = {"arms": [{"version": "1.0", "weight": 90}, {"version": "2.0", "weight": 10}]}
        refused = client.post(ECHO, headers=bearer(stranger), json={**arms, "target": "test"})
        assert refused.status_code == 403
        took = time.monotonic()
        response = client.post(ECHO, headers=bearer(owner), json={**arms, "target": "test"})
        timings = {"start": time.monotonic() - took}
        assert response.status_code == 201, response.text
        result = response.json()
        assert result["before"] is None and result["deployment"] is not None
        experiment = result["experiment"]
        assert [(a["version"], a["weight"]) for a in experiment["arms"]] == [
            ("1.0", 90),
            ("2.0", 10),
        ]
        answers = send(bed.gateway_url, 1_000)
        assert answers.failures == [] and abs(answers.share("2.0") - 0.10) <= 0.04, answers.arms
        status = client.get(ECHO, headers=bearer(stranger), params={"target": "test"}).json()[
            "experiments"
        ][0]
        assert status["state"] == "running"
        assert {a["version"]: a["weight"] for a in status["arms"]} == {"1.0": 90, "2.0": 10}
        assert {a["version"]: a["requests"] for a in status["arms"]} == dict(answers.arms)
        took = time.monotonic()
        reweighed = client.put(
            f"{ECHO}/weights",
            headers=bearer(owner),
            json={"arms": [{"version": "2.0", "weight": 100}], "target": "test"},
        )
        timings["weights"] = time.monotonic() - took
        assert reweighed.status_code == 200, reweighed.text
        assert reweighed.json()["before"] == {"1.0": 90, "2.0": 10}
        assert send(bed.gateway_url, 200).values == {2.0: 200}
        took = time.monotonic()
        stopped = client.post(
            f"{ECHO}/stop", headers=bearer(owner), json={"keep": "2.0", "target": "test"}
        )
        timings["stop"] = time.monotonic() - took
        print("API call seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["promoted"] == {"alias": "production", "version": "2.0"}
        assert stopped.json()["experiment"]["state"] == "stopped"
        assert client.get("/api/v1/experiments", headers=bearer(owner)).json()["experiments"] == []
        detail = client.get(f"/api/v1/experiments/{experiment['id']}", headers=bearer(owner))
        assert [c["action"] for c in detail.json()["changes"]] == [
            "experiment.start",
            "experiment.set",
            "experiment.stop",
        ]
        client.cookies.set(COOKIE, owner)
        page = client.get(f"/ui/experiments/{experiment['id']}").text
        assert "experiment.stop (kept 2.0)" in page
    assert send(bed.gateway_url, 100).values == {2.0: 100}
    owner_actor = f"api:token {owner_token.id} (platform, maintainer)"
    admin_actor = f"api:token {admin_token.id} (platform, admin)"
    # The newest entry of each action (the bed started the first gateway locally).
    actors = {e.action: e.actor for e in reversed(AccessLog(ws.store).entries(limit=50))}
    assert actors["experiment.start"] == actors["experiment.set"] == owner_actor
    assert actors["experiment.stop"] == actors["alias.set"] == owner_actor
    assert actors["gateway.start"] == actors["gateway.stop"] == admin_actor
