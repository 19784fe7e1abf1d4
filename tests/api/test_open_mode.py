"""Open mode (api.open_mode): only loopback Host names, and closed for good by the first
token. Against a real server: tests/api/test_server_process.py."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from modelyard import Workspace
from modelyard.api import create_app
from modelyard.api.open_mode import OpenMode, host_name
from modelyard.cli.server_cmd import open_access_for
from tests.support.api import bearer

LOOPBACK = "http://127.0.0.1:8080"


def refused_for_host(response: object) -> str:
    assert getattr(response, "status_code", None) == 421, getattr(response, "text", "")
    body = response.json()  # type: ignore[attr-defined]
    assert body["ok"] is False and body["status"] == 421
    assert body["error"]["code"] == "misdirected_request"
    message: str = body["error"]["message"]
    return message


def test_a_rebinding_host_cannot_create_a_token(api_ws: Workspace) -> None:
    with TestClient(create_app(api_ws, open_access=True), base_url=LOOPBACK) as client:
        evil = {"Host": "attacker.example"}
        message = refused_for_host(
            client.post("/api/v1/tokens", json={"team": "x", "role": "admin"}, headers=evil)
        )
        assert "'attacker.example'" in message and "open mode" in message
        assert "127.0.0.1" in message
        assert api_ws.access.tokens(include_revoked=True) == []
        # Reads and pages too: the whole server is the local admin's.
        refused_for_host(client.get("/api/v1/me", headers=evil))
        refused_for_host(client.get("/ui/catalog", headers=evil))
        refused_for_host(client.get("/openapi.json", headers={"Host": "attacker.example:8080"}))
        for host in ("localhost", "LOCALHOST:8080", "127.0.0.1", "127.0.0.5:1", "[::1]:8080"):
            me = client.get("/api/v1/me", headers={"Host": host})
            assert me.status_code == 200 and me.json()["role"] == "admin", host


@pytest.mark.parametrize(
    "host",
    [
        "attacker.example",
        "localhost.attacker.example",
        "127.0.0.1.nip.io",
        "localhost.",
        "[::1].evil",
        "[::1]:x",
        "127.0.0.1:80:80",
        "localhost:",
        "10.1.2.3:8080",
        "",
        None,
    ],
)
def test_hosts_refused_in_open_mode(host: str | None) -> None:
    assert not OpenMode(True).allows_host(host)


def test_host_names() -> None:
    assert host_name("[::1]:8080") == "::1" and host_name("LocalHost:1") == "localhost"
    assert host_name("example.org") == "example.org" and host_name("[::1") is None


def test_insecure_open_mode_also_takes_ip_hosts(api_ws: Workspace) -> None:
    app = create_app(api_ws, open_access=True, open_ip_hosts=True)
    with TestClient(app, base_url="http://10.1.2.3:8080") as client:
        assert client.get("/api/v1/me").json()["role"] == "admin"
        assert client.get("/api/v1/me", headers={"Host": "[fd00::1]:8080"}).status_code == 200
        message = refused_for_host(client.get("/api/v1/me", headers={"Host": "evil.example"}))
        assert "an IP address" in message


def test_revoking_the_last_token_does_not_reopen_the_server(api_ws: Workspace) -> None:
    with TestClient(create_app(api_ws, open_access=True), base_url=LOOPBACK) as client:
        created = client.post("/api/v1/tokens", json={"team": "ops", "role": "admin"})
        assert created.status_code == 201
        secret, token_id = created.json()["secret"], created.json()["token"]["id"]
        # Closed now: the token is needed, and Host no longer matters (it proves who calls).
        assert client.get("/api/v1/me").status_code == 401
        assert client.get("/api/v1/me", headers=bearer(secret)).json()["role"] == "admin"
        revoked = client.delete(f"/api/v1/tokens/{token_id}", headers=bearer(secret))
        assert revoked.status_code == 200 and not api_ws.access.has_active_tokens()
        me = client.get("/api/v1/me")
        assert me.status_code == 401 and me.json()["error"]["code"] == "unauthenticated"
        assert client.get("/api/v1/me", headers={"Host": "attacker.example"}).status_code == 401
    # Nor does a new server over that catalog start open.
    assert open_access_for("127.0.0.1", has_tokens=True, insecure=False) is False
    with TestClient(create_app(api_ws), base_url=LOOPBACK) as client:
        assert client.get("/api/v1/me").status_code == 401
