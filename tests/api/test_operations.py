"""The operable server in process: /healthz, /readyz, /metrics, token expiry, and signed
webhooks delivered by the server's worker to a receiver on loopback (with retries while
it is down). Times are printed, never asserted, but for generous deadlines on polls."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from modelyard import Workspace
from modelyard.api import create_app
from modelyard.errors import InputError
from modelyard.store.access import parse_duration
from modelyard.store.webhooks import WebhookLog
from modelyard.triton.server import free_port
from tests.support.api import REC, SEARCH, bearer
from tests.support.http import QuietHandler

SECRET = "s3cret-for-tests"
ALIAS_PATH = "/api/v1/models/search/query_understanding/aliases/production"
DEADLINE_S = 30.0


class Receiver:
    """A webhook receiver on loopback: records each POST with its arrival time."""

    def __init__(self, port: int = 0) -> None:
        received = self.received = []  # type: list[dict[str, Any]]

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(
                    {"at": time.monotonic(), "headers": dict(self.headers), "body": body}
                )
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    yield started
    started.stop()


def poll(until: Any, deadline_s: float = DEADLINE_S) -> Any:
    end = time.monotonic() + deadline_s
    while True:
        value = until()
        if value:
            return value
        assert time.monotonic() < end, "not before the deadline"
        time.sleep(0.02)


def test_healthz_and_readyz_need_no_token(api_ws: Workspace, tokens: Any) -> None:
    with TestClient(create_app(api_ws)) as client:
        assert client.get("/healthz").json() == {"ok": True, "status": "alive"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        # A catalog behind this server's schema (another version migrated it down).
        with api_ws.store.engine.begin() as connection:
            connection.execute(
                text("UPDATE alembic_version SET version_num = '0013_experiment_outcomes'")
            )
        behind = client.get("/readyz")
        assert behind.status_code == 503
        assert "0013_experiment_outcomes" in behind.json()["error"]["message"]
        assert client.get("/healthz").status_code == 200


def test_metrics_count_requests_by_route_template(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    assert client.get("/api/v1/models/search/query_understanding", headers=admin_headers).is_success
    assert client.get("/api/v1/models/nope/missing", headers=admin_headers).status_code == 404
    assert client.get("/api/v1/me").status_code == 401
    scraped = client.get("/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    lines = scraped.text.splitlines()
    assert (
        'modelyard_http_requests_total{method="GET",route="/api/v1/models/{domain}/{name}",'
        'status="200"} 1.0' in lines
    )
    assert any('route="/api/v1/models/{domain}/{name}",status="404"' in line for line in lines)
    assert any('route="/api/v1/me",status="401"' in line for line in lines)
    assert "query_understanding" not in scraped.text
    assert any(line.startswith("modelyard_http_request_duration_seconds_bucket") for line in lines)
    assert 'modelyard_deploy_jobs{state="running"} 0.0' in lines


def test_metrics_count_deploy_jobs_and_their_durations(client: TestClient, tokens: Any) -> None:
    headers = bearer(tokens[("maintainer", REC)])
    job = client.post(
        "/api/v1/jobs", json={"target": "local", "load_timeout_s": 5}, headers=headers
    )
    assert job.status_code == 202, job.text
    client.app.state.modelyard.jobs.wait(job.json()["id"], 60)  # type: ignore[attr-defined]
    lines = client.get("/metrics").text.splitlines()
    assert 'modelyard_deploy_jobs{state="failed"} 1.0' in lines
    assert 'modelyard_deploy_job_duration_seconds_count{state="failed"} 1.0' in lines


def test_an_expired_token_is_refused_with_when(api_ws: Workspace, client: TestClient) -> None:
    created = datetime.now(UTC) - timedelta(hours=2)
    token, secret = api_ws.access.create_token(
        REC, "viewer", actor="test", now=created, expires_in=timedelta(hours=1)
    )
    refused = client.get("/api/v1/me", headers=bearer(secret))
    assert refused.status_code == 401
    message = refused.json()["error"]["message"]
    assert f"token {token.id} expired at {token.expires_at:%Y-%m-%d %H:%M:%S} UTC" in message
    _, fresh = api_ws.access.create_token(REC, "admin", actor="test", expires_in=timedelta(days=30))
    assert client.get("/api/v1/me", headers=bearer(fresh)).status_code == 200
    listed = client.get("/api/v1/tokens", headers=bearer(fresh)).json()["tokens"]
    assert [t["expires_at"] is not None for t in listed] == [True, True]
    made = client.post(
        "/api/v1/tokens",
        json={"team": SEARCH, "role": "viewer", "expires_in": "12h"},
        headers=bearer(fresh),
    )
    assert made.status_code == 201, made.text
    bad = client.post(
        "/api/v1/tokens", json={"team": SEARCH, "expires_in": "soon"}, headers=bearer(fresh)
    )
    assert bad.status_code == 422 and "expires_in 'soon'" in bad.json()["error"]["message"]
    assert len(api_ws.access.tokens()) == 3


def test_durations() -> None:
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration("90m") == timedelta(minutes=90)
    for bad in ("0d", "30", "1y", "-1d", "9999w"):
        with pytest.raises(InputError, match="--expires-in"):
            parse_duration(bad)


def _signed(delivery: dict[str, Any]) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), delivery["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(delivery["headers"]["X-Modelyard-Signature"], expected)


def test_alias_moved_reaches_a_receiver_signed(
    api_ws: Workspace, tokens: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELYARD_TEST_HOOK_SECRET", SECRET)
    WebhookLog(api_ws.store).add(
        receiver.url, "MODELYARD_TEST_HOOK_SECRET", ["alias.moved"], actor="test"
    )
    headers = bearer(tokens[("maintainer", SEARCH)])
    with TestClient(create_app(api_ws)) as client:
        moved_at = time.monotonic()
        moved = client.put(ALIAS_PATH, json={"version": "1.5"}, headers=headers)
        assert moved.status_code == 200, moved.text
        delivery = poll(lambda: receiver.received and receiver.received[0])
        print(
            f"\nalias.moved reached the receiver {delivery['at'] - moved_at:.3f} s after the move"
        )
        assert delivery["headers"]["X-Modelyard-Event"] == "alias.moved"
        assert _signed(delivery)
        body = json.loads(delivery["body"])
        assert body["event"] == "alias.moved"
        assert body["object"] == "search/query_understanding alias production"
        assert body["after"]["version"] == "1.5"
        log = poll(
            lambda: [
                d
                for d in client.get(
                    "/api/v1/webhooks/deliveries", headers=bearer(tokens[("admin", REC)])
                ).json()["deliveries"]
                if d["state"] == "delivered"
            ]
        )
        assert log[0]["last_status"] == 204 and log[0]["attempts"] == 1
    # Only the subscribed event was delivered (a registration is not alias.moved).
    assert len(receiver.received) == 1


def test_a_receiver_that_is_down_gets_retries_then_the_delivery(
    api_ws: Workspace, tokens: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELYARD_TEST_HOOK_SECRET", SECRET)
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    hooks = WebhookLog(api_ws.store)
    hooks.add(url, "MODELYARD_TEST_HOOK_SECRET", [], actor="test")
    # Made with no server running: the event waits in the outbox.
    api_ws.set_alias("search/query_understanding", "production", "1.5", actor="cli")
    assert hooks.has_pending_events()
    with TestClient(create_app(api_ws, webhook_backoff_s=0.2)):
        # Other events (the tokens made by the fixture) go to the same hook: follow the
        # alias move's delivery only, or another one's tries would be read.
        failed = poll(lambda: [d for d in hooks.deliveries(event="alias.moved") if d.attempts >= 2])
        assert failed[0].state == "pending" and failed[0].last_status is None
        assert "ConnectError" in (failed[0].last_error or "")
        receiver = Receiver(port)
        try:
            delivered = poll(
                lambda: [
                    d
                    for d in hooks.deliveries(event="alias.moved")
                    if d.id == failed[0].id and d.state == "delivered"
                ]
            )
            tries = delivered[0].tries
            print(
                f"\ndelivered on try {len(tries)}: "
                + "; ".join(f"{t.status or t.error}" for t in tries)
            )
            assert [t.status for t in tries][-1] == 204
            assert all(t.error for t in tries[:-1]) and len(tries) >= 3
            assert _signed(receiver.received[0])
        finally:
            receiver.stop()
