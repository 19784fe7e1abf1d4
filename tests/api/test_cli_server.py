"""`modelyard token`, `modelyard audit` and `modelyard server`'s refusal to run open."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
import pytest

from modelyard import InputError, Workspace
from modelyard.cli.server_cmd import is_loopback, open_access_for
from modelyard.triton.server import free_port
from tests.support.netflix import NETFLIX_MODELS
from tests.support.workspaces import Cli


def test_token_create_list_revoke(cli: Cli, workspace: Workspace) -> None:
    created = cli.json(
        "token",
        "create",
        "--team",
        "search_experience",
        "--role",
        "maintainer",
        "--description",
        "ci deploys",
    )
    token, secret = created["token"], created["secret"]
    assert token["role"] == "maintainer" and secret.startswith(token["prefix"])
    found = workspace.access.token_for_secret(secret)
    assert found is not None and found.team == "search_experience"
    text = cli("token", "create", "--team", "ops").stdout.strip()
    assert text.startswith("myd_")
    listed = cli.json("token", "list")["tokens"]
    assert [t["team"] for t in listed] == ["search_experience", "ops"]
    assert "secret" not in str(listed) and secret not in cli("token", "list").stdout
    revoked = cli.json("token", "revoke", str(token["id"]))["token"]
    assert revoked["revoked_at"] is not None
    assert [t["team"] for t in cli.json("token", "list")["tokens"]] == ["ops"]
    assert len(cli.json("token", "list", "--all")["tokens"]) == 2
    cli("token", "revoke", "99", expect=3)
    bad_role = cli.json("token", "create", "--team", "x", "--role", "owner", expect=2)
    assert "role 'owner'" in bad_role["message"]


def test_audit_lists_changes_made_from_the_cli(cli: Cli) -> None:
    cli("apply", str(NETFLIX_MODELS))
    cli("alias", "set", "search/query_understanding", "production", "1.5")
    cli("token", "create", "--team", "ops")
    entries = cli.json("audit")["entries"]
    assert [e["action"] for e in entries] == ["token.create", "alias.set", "model.register"]
    assert all(e["actor"].startswith("local:") for e in entries)
    assert entries[2]["after"]["created_count"] == 6
    only_alias = cli.json("audit", "--action", "alias")["entries"]
    assert len(only_alias) == 1 and only_alias[0]["after"] == {"version": "1.5", "revision": 1}
    assert "alias.set" in cli("audit", "--limit", "2").stdout


def test_server_refuses_a_public_address_without_tokens(cli: Cli) -> None:
    refused = cli("server", "--host", "0.0.0.0", "--port", "1", expect=2)
    assert "refusing to listen on 0.0.0.0" in refused.stderr


def test_open_access_rules() -> None:
    assert open_access_for("127.0.0.1", has_tokens=False, insecure=False) is True
    assert open_access_for("::1", has_tokens=False, insecure=False) is True
    assert open_access_for("localhost", has_tokens=False, insecure=False) is True
    assert open_access_for("0.0.0.0", has_tokens=True, insecure=False) is False
    assert open_access_for("0.0.0.0", has_tokens=False, insecure=True) is True
    with pytest.raises(InputError, match="--insecure"):
        open_access_for("10.1.2.3", has_tokens=False, insecure=False)
    assert not is_loopback("example.org") and is_loopback("127.0.0.2")


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, process.communicate()
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)


@pytest.mark.slow
def test_server_runs_open_on_loopback_until_a_token_exists(workspace: Workspace) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "modelyard.cli",
        "server",
        "--port",
        str(port),
        "--workspace",
        str(workspace.root),
        "--db",
        workspace.db_url,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        me = _wait_for(f"http://127.0.0.1:{port}/api/v1/me", process)
        assert me.status_code == 200 and me.json()["role"] == "admin"
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert b"no API token in the catalog" in stderr

    workspace.access.create_token("ops", "viewer", actor="test")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        refused = _wait_for(f"http://127.0.0.1:{port}/api/v1/me", process)
        assert refused.status_code == 401
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
