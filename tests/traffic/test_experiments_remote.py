"""The traffic and deploy commands against a real `modelyard server` (MODELYARD_SERVER
and MODELYARD_TOKEN), in front of real HAProxy, nginx and a local Triton: start with a
shadow, status, new weights, the shadow ended, switch and stop, each as the token's team
(another team is refused and nothing changes for clients); a deploy run as the server's
job and followed to its end, a failing one rolled back there and exit 8 here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelyard.cli.app import app
from modelyard.store.access import AccessLog
from modelyard.triton.client import TritonClient
from tests.support.gateway import MODEL, GatewayBed, gateway_bed, needs_haproxy, needs_nginx, send
from tests.support.rollout import FAILS_TO_ANSWER, GOOD_MODEL, python_model, ready_models
from tests.support.server import Server

pytestmark = [pytest.mark.triton, pytest.mark.gateway, pytest.mark.slow, needs_haproxy, needs_nginx]


@pytest.fixture
def bed(tmp_path: Path, catalog_url: str) -> Iterator[GatewayBed]:
    with gateway_bed(tmp_path, catalog_url, versions=("1.0", "2.0", "3.0")) as opened:
        yield opened


def _remote(server: Server, token: str, *args: str) -> tuple[int, Any, str]:
    """Exit code, the --json answer and the error's message ('' when it worked)."""
    env = {"MODELYARD_SERVER": server.url, "MODELYARD_TOKEN": token}
    ran = CliRunner().invoke(app, [*args, "--json"], env=env, catch_exceptions=False)
    answer = json.loads(ran.stdout)
    return ran.exit_code, answer, "" if ran.exit_code == 0 else str(answer["message"])


def test_experiment_commands_through_a_server(bed: GatewayBed, tmp_path: Path) -> None:
    ws = bed.workspace
    owner_token, owner = ws.access.create_token("platform", "maintainer", actor="test")
    _, stranger = ws.access.create_token("search", "maintainer", actor="test")
    server = Server(ws, tmp_path / "server.log")
    try:
        start = ("experiment", "start", "tools/echo", "--arm", "1.0=80", "--arm", "2.0=20")
        code, _, error = _remote(server, stranger, *start, "--target", "test")
        assert code != 0 and "platform" in error, error
        assert ws.experiment_status(target="test").experiments == []
        code, started, error = _remote(
            server, owner, *start, "--shadow", "3.0=50", "--target", "test"
        )
        assert code == 0, error
        assert started["experiment"]["shadow"]["version"] == "3.0"
        answers = send(bed.gateway_url, 500)
        assert answers.failures == [] and set(answers.values) == {1.0, 2.0}
        code, status, _ = _remote(server, stranger, "experiment", "status", "--target", "test")
        assert code == 0
        arms = {a["version"]: a["requests"] for a in status["experiments"][0]["arms"]}
        assert arms == dict(answers.arms)
        code, _, error = _remote(
            server, owner, "experiment", "set", "tools/echo", "--arm", "2.0=100", "--no-shadow",
            "--target", "test",
        )  # fmt: skip
        assert code == 0, error
        assert ws.gateway_status("test").shadows == {}
        assert send(bed.gateway_url, 200).values == {2.0: 200}
        code, _, error = _remote(
            server, owner, "switch", "tools/echo", "--to", "1.0", "--target", "test"
        )
        assert code == 0, error
        assert send(bed.gateway_url, 200).values == {1.0: 200}
        code, stopped, error = _remote(
            server, owner, "experiment", "stop", "tools/echo", "--keep", "1.0", "--target", "test"
        )
        assert code == 0, error
        assert stopped["experiment"]["state"] == "stopped"
        assert stopped["promoted"] == {"alias": "production", "version": "1.0"}
        # Rollouts are read and aborted there too (none runs here: NotFound, exit 3).
        code, rollouts, _ = _remote(server, stranger, "rollout", "status")
        assert code == 0 and rollouts["rollouts"] == []
        code, _, error = _remote(
            server, owner, "rollout", "abort", "tools/echo", "--target", "test"
        )
        assert code == 3 and "no rollout of tools/echo runs" in error, (code, error)
        # A bad arm is refused by the client before anything is sent.
        code, _, error = _remote(server, owner, *start[:3], "--arm", "1.0=x", "--target", "test")
        assert code != 0 and "expected VERSION=PERCENT" in error, error
    finally:
        log = server.stop()
    assert send(bed.gateway_url, 100).values == {1.0: 100}, log[-2000:]
    actor = f"api:token {owner_token.id} (platform, maintainer)"
    entries = AccessLog(ws.store).entries(limit=50)
    changes = [e.action for e in reversed(entries) if e.actor == actor]
    # Each change audited as the token, the deploy of the arms and the alias moved included.
    assert changes == [
        "deploy",
        "experiment.start",
        "experiment.set",
        "switch",
        "experiment.stop",
        "alias.set",
    ]
    assert ws.gateway_status("test").in_sync, MODEL


def test_deploy_through_a_server_follows_its_job(bed: GatewayBed, tmp_path: Path) -> None:
    ws = bed.workspace
    _, owner = ws.access.create_token("platform", "maintainer", actor="test")
    _, viewer = ws.access.create_token("platform", "viewer", actor="test")
    ws.apply([python_model(tmp_path, "echo", "4.0", GOOD_MODEL)])
    server = Server(ws, tmp_path / "server.log")
    triton = TritonClient(bed.triton_url)
    try:
        code, _, error = _remote(server, viewer, "deploy", "--target", "test", "--yes")
        assert code == 9 and "viewer" in error, error
        code, deployed, error = _remote(server, owner, "deploy", "--target", "test", "--yes")
        assert code == 0, error
        assert deployed["target"] == "test" and deployed["ok"] is True, deployed
        assert ready_models(triton)[MODEL] == [4]
        assert send(bed.gateway_url, 50).values == {4.0: 50}
        # A version that fails its smoke inference: rolled back there, exit 8 here.
        ws.apply([python_model(tmp_path, "echo", "5.0", FAILS_TO_ANSWER)])
        code, failed, error = _remote(server, owner, "deploy", "--target", "test", "--yes")
        assert code == 8, (code, failed)
        assert "tools.echo" in error or "tools/echo" in error, error
        assert ready_models(triton)[MODEL] == [4]
        code, history, _ = _remote(server, owner, "history", "--target", "test")
        assert code == 0
        outcomes = [d["outcome"] for d in history["deployments"][:2]]
        assert outcomes == ["failed", "succeeded"], outcomes
    finally:
        triton.close()
        server.stop()
