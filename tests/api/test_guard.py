"""The request guard in process: nothing of a body is read before authentication, and
never more than the limit (api.guard). Against a real server: tests/api/test_server_process.py."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import yaml

from modelyard import Workspace
from modelyard.api import create_app
from modelyard.api.limits import LOGIN_MAX_BODY_BYTES, MIB
from modelyard.errors import InputError
from tests.support.api import REC, bearer
from tests.support.asgi import AsgiAnswer, call

CHUNK = b"x" * (64 * 1024)
HUGE = 200 * MIB


def chunks(total: int) -> Iterator[bytes]:
    for _ in range(total // len(CHUNK)):
        yield CHUNK


def problem(answer: AsgiAnswer, status: int, code: str) -> str:
    assert answer.status == status, answer.body[:300]
    body = answer.json()
    assert body["ok"] is False and body["status"] == status and body["errors"] == []
    assert body["error"]["code"] == code and "field" in body["error"]
    message: str = body["error"]["message"]
    return message


@pytest.fixture
def admin(api_ws: Workspace) -> dict[str, str]:
    return bearer(api_ws.access.create_token(REC, "admin", actor="test")[1])


def test_an_unauthenticated_body_is_never_read(api_ws: Workspace) -> None:
    app = create_app(api_ws)
    for headers in ({}, bearer("myd_unknown"), {"Authorization": "Basic eDp5"}):
        answer = call(
            app,
            "POST",
            "/api/v1/models",
            headers={**headers, "Content-Length": str(4 * MIB)},
            chunks=chunks(4 * MIB),
        )
        problem(answer, 401, "unauthenticated")
        assert answer.body_read == 0 and answer.headers["www-authenticate"] == "Bearer"
    # A cookie never authorizes a change, body or not.
    answer = call(app, "PUT", "/api/v1/aliases", headers={"Cookie": "modelyard_token=x"})
    problem(answer, 401, "unauthenticated")


def test_a_declared_length_over_the_limit_is_refused_unread(
    api_ws: Workspace, admin: dict[str, str]
) -> None:
    app = create_app(api_ws)
    for headers in ({}, admin):
        answer = call(
            app,
            "POST",
            "/api/v1/models",
            headers={**headers, "Content-Length": str(HUGE)},
            chunks=chunks(HUGE),
        )
        message = problem(answer, 413, "payload_too_large")
        assert answer.body_read == 0
        assert "limit of 8 MiB" in message and "api.max_body_mb" in message
        assert "--max-body-mb" in message


def test_a_chunked_body_streaming_past_the_limit_is_cut_off(
    api_ws: Workspace, admin: dict[str, str]
) -> None:
    app = create_app(api_ws, max_body_mb=1)
    answer = call(app, "POST", "/api/v1/models", headers=admin, chunks=chunks(HUGE))
    problem(answer, 413, "payload_too_large")
    assert MIB < answer.body_read <= MIB + len(CHUNK)


NEW_VERSION = """\
name: query_understanding
version: "1.6"
model_type: classification
framework: onnx
domain: search
owner_team: search_experience
description: registered through the guard
"""


def test_bodies_within_the_limit_reach_the_api(api_ws: Workspace, admin: dict[str, str]) -> None:
    app = create_app(api_ws, max_body_mb=1)
    body = json.dumps({"manifest": NEW_VERSION}).encode()
    # Sent in three pieces, chunked: the guard joins them before FastAPI parses.
    answer = call(
        app,
        "POST",
        "/api/v1/models",
        headers={**admin, "Content-Type": "application/json"},
        chunks=[body[:5], body[5:20], body[20:]],
    )
    assert answer.status == 200, answer.body
    assert answer.json()["created"] == ["search/query_understanding@1.6"]
    assert answer.body_read == len(body)


def test_the_limit_comes_from_modelyard_yaml(api_ws: Workspace, admin: dict[str, str]) -> None:
    assert api_ws.root is not None
    config_path = api_ws.root / "modelyard.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["api"] = {"max_body_mb": 2}
    config_path.write_text(yaml.safe_dump(config))
    reopened = Workspace.open(api_ws.root, db_url=api_ws.db_url)
    try:
        assert reopened.config.api.max_body_mb == 2
        app = create_app(reopened)
        over = call(
            app, "POST", "/api/v1/models", headers=admin, chunks=chunks(2 * MIB + len(CHUNK))
        )
        assert "limit of 2 MiB" in problem(over, 413, "payload_too_large")
        # The option of `modelyard server` wins over the file.
        assert (
            call(
                create_app(reopened, max_body_mb=3),
                "POST",
                "/api/v1/models",
                headers={**admin, "Content-Type": "application/json"},
                chunks=chunks(2 * MIB + len(CHUNK)),
            ).status
            == 422
        )  # read whole, then refused as JSON it is not
    finally:
        reopened.close()
    config["api"] = {"max_body_mb": 0}
    config_path.write_text(yaml.safe_dump(config))
    with pytest.raises(InputError, match="max_body_mb"):
        Workspace.open(api_ws.root, db_url=api_ws.db_url)


def test_the_login_form_has_a_small_limit_of_its_own(api_ws: Workspace) -> None:
    app = create_app(api_ws)
    answer = call(
        app,
        "POST",
        "/ui/login",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        chunks=chunks(MIB),
    )
    problem(answer, 413, "payload_too_large")
    assert answer.body_read <= LOGIN_MAX_BODY_BYTES + len(CHUNK)


def test_invalid_content_length_is_refused(api_ws: Workspace, admin: dict[str, str]) -> None:
    answer = call(
        create_app(api_ws), "POST", "/api/v1/models", headers={**admin, "Content-Length": "-5"}
    )
    problem(answer, 400, "invalid_input")


def test_the_guards_answers_are_documented(api_ws: Workspace) -> None:
    from fastapi.testclient import TestClient

    with TestClient(create_app(api_ws)) as client:
        schema = client.get("/openapi.json").json()
    for path, method in (("/api/v1/models", "post"), ("/api/v1/me", "get")):
        responses = schema["paths"][path][method]["responses"]
        for status in ("413", "421", "429"):
            assert responses[status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorOut"
            }, (path, status)
