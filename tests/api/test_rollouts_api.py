"""Canary rollouts through the REST API, in process: every role reads them (with
`interrupted` for one whose driver died), only the model's team (or an admin) starts or
aborts one, bad input to a start and an abort of nothing are one 4xx that changes
nothing, and a rollout run by the remote CLI (MODELYARD_SERVER) is driven to 100 % by the
server and followed to its end (real Triton, HAProxy, Prometheus and server process)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from modelyard import Workspace
from modelyard.cli.app import app
from modelyard.store.access import AccessLog
from modelyard.store.canary import CanaryLog
from tests.support.api import REC, SEARCH, bearer
from tests.support.canary import LOOSE_SLA, canary_bed, echo, needs_prometheus
from tests.support.experiments import MODEL, SEARCH_16
from tests.support.gateway import Loop, needs_haproxy
from tests.support.server import Server

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


def test_starting_a_rollout_is_the_teams_and_bad_input_changes_nothing(
    client: TestClient, tokens: Tokens, api_ws: Workspace
) -> None:
    """POST /rollouts/{domain}/{name} runs the CLI's checks before anything starts: the
    same roles as an abort, and each bad input one 4xx naming the field."""
    api_ws.apply_text(SEARCH_16, actor="test")
    url = f"/api/v1/rollouts/{MODEL}"
    before = len(AccessLog(api_ws.store).entries(limit=10_000))
    for role, team in (("viewer", SEARCH), ("maintainer", REC)):
        refused = client.post(url, headers=bearer(tokens[(role, team)]), json={"to": "1.6"})
        assert refused.status_code == 403, refused.text
    owner = bearer(tokens[("maintainer", SEARCH)])
    for body, status, field, message in (
        ({"steps": [5, 25, 50]}, 422, "steps", "the last step must be 100"),
        ({"steps": [50, 25, 100]}, 422, "steps", "the steps must increase"),
        ({"interval": 0}, 422, "interval", "a step must hold for more than 0 s"),
        ({"interval": "0s"}, 422, "interval", "a step must hold for more than 0 s"),
        ({"max_error_rate": 2}, 422, "max_error_rate", "expected a share from 0 to 1"),
        ({"to": "9.9"}, 404, None, "has no version 9.9"),
        # No Prometheus for the target: nothing to analyse a step with.
        ({}, 422, None, "no Prometheus for target 'local': start one with"),
    ):
        answer = client.post(url, headers=owner, json={"to": "1.6", **body})
        assert answer.status_code == status, answer.text
        error = answer.json()["error"]
        assert message in error["message"], error
        if field is not None:
            assert error["message"].startswith((f"{field} ", f"{field}:")), error
            assert error["field"] == field, error
    assert len(AccessLog(api_ws.store).entries(limit=10_000)) == before
    assert CanaryLog(api_ws.store).history() == []
    assert client.get("/api/v1/rollouts", headers=owner).json()["rollouts"] == []


@pytest.mark.triton
@pytest.mark.gateway
@needs_haproxy
@needs_prometheus
def test_a_rollout_run_by_the_remote_cli_is_driven_to_100_percent_by_the_server(
    tmp_path: Path, catalog_url: str
) -> None:
    with canary_bed(tmp_path, catalog_url, echo(), LOOSE_SLA) as bed:
        bed.candidate("2.0", echo(), LOOSE_SLA)
        ws = bed.workspace
        owner = ws.access.create_token("platform", "maintainer", "owner", actor="t")[1]
        _, stranger = ws.access.create_token("search", "maintainer", actor="t")
        server = Server(ws, tmp_path / "server.log")
        env = {"MODELYARD_SERVER": server.url, "MODELYARD_TOKEN": owner}
        rollout = [
            *("rollout", "tools/echo", "--to", "2.0", "--steps", "50,100", "--interval", "3s"),
            *("--min-requests", "20", "--max-latency-increase", "5", "--target", "test"),
        ]
        ran: list[Result] = []
        try:
            refused = CliRunner().invoke(
                app, [*rollout, "--json"], env={**env, "MODELYARD_TOKEN": stranger}
            )
            assert refused.exit_code == 9 and "platform" in refused.stdout, refused.stdout
            assert CanaryLog(ws.store).history(model_id="tools/echo") == []
            with Loop(bed.gateway_url) as loop:
                # The CLI follows the server's rollout to its end, printing each step.
                follower = threading.Thread(
                    target=lambda: ran.append(CliRunner().invoke(app, rollout, env=env))
                )
                follower.start()
                while not CanaryLog(ws.store).history(model_id="tools/echo"):
                    assert follower.is_alive(), ran[0].output
                    time.sleep(0.1)
                # A second one while it runs: the CLI's conflict, nothing changed.
                again = httpx.post(
                    f"{server.url}/api/v1/rollouts/tools/echo",
                    headers=bearer(owner),
                    json={"to": "2.0", "steps": [100], "target": "test"},
                )
                assert again.status_code == 409, again.text
                assert "runs on target 'test'" in again.json()["error"]["message"]
                follower.join(timeout=300)
        finally:
            server.stop()
        [result] = ran
        assert result.exit_code == 0, result.output
        for line in ("step 1: 2.0 at 50 %", "step 1 analysis: passed", "step 2: 2.0 at 100 %"):
            assert line in result.output, result.output
        assert "every step passed; 2.0 serves every request and is production" in result.output
        [state] = ws.rollout_status("tools/echo").rollouts
        assert state.rollout.state == "succeeded", state.rollout.reason
        assert state.rollout.actor.startswith("api:token ")
        assert [e.outcome for e in state.events if e.kind == "analysis"] == ["passed", "passed"]
        assert loop.answers.failures == []
        assert [(a.name, a.version) for a in ws.store.aliases("tools/echo")] == [
            ("production", "2.0")
        ]
