"""TritonClient over httpx.MockTransport: parsing, errors that name the server and the
model, per-call timeouts. The transport is the seam; the client itself is real."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from modelyard import TritonError
from modelyard.triton.client import TritonClient

URL = "http://triton.test:8000"


def client_of(
    handler: Callable[[httpx.Request], httpx.Response], timeout_s: float = 30.0
) -> TritonClient:
    return TritonClient(URL, timeout_s=timeout_s, transport=httpx.MockTransport(handler))


def test_index_is_parsed() -> None:
    seen: list[tuple[str, str, bytes]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.content))
        return httpx.Response(
            200,
            json=[
                {"name": "a", "version": "1", "state": "READY"},
                {"name": "b", "state": "UNAVAILABLE", "reason": "unloaded"},
            ],
        )

    with client_of(handler) as client:
        index = client.index()
    assert seen == [("POST", "/v2/repository/index", b"{}")]
    assert index[0] == {"name": "a", "version": "1", "state": "READY"}
    assert index[1]["state"] == "UNAVAILABLE"


def test_a_load_cut_off_by_a_reset_names_the_server_and_the_model() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)

    with client_of(handler) as client, pytest.raises(TritonError) as failed:
        client.load("tools.echo")
    message = failed.value.message
    assert URL in message and "tools.echo" in message and "unreachable" in message
    assert "POST /v2/repository/models/tools.echo/load" in message
    assert "Connection reset by peer" in message
    assert isinstance(failed.value.__cause__, httpx.ReadError)


def test_a_refusal_carries_tritons_own_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "failed to load 'tools.echo': bad config"})

    with (
        client_of(handler) as client,
        pytest.raises(TritonError, match=r"model tools.echo: HTTP 400: failed to load"),
    ):
        client.load("tools.echo")


def test_a_server_without_a_model_is_unreachable_without_naming_one() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with client_of(handler) as client:
        with pytest.raises(TritonError, match=r"is unreachable \(ConnectError: .*refused\)"):
            client.index()
        assert client.is_live() is False
        assert client.is_ready("tools.echo", 1) is False


def test_a_call_may_set_its_own_timeout() -> None:
    timeouts: list[dict[str, float | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"])
        if request.url.path.endswith("/load"):
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json=[])

    with client_of(handler, timeout_s=5.0) as client:
        client.index()
        with pytest.raises(TritonError, match=r"model tools.echo: no answer .* within 2 s"):
            client.load("tools.echo", timeout_s=2.0)
    assert timeouts[0]["read"] == 5.0 and timeouts[1]["read"] == 2.0


def test_unload_and_infer_send_what_triton_expects() -> None:
    bodies: dict[str, object] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        bodies[request.url.path] = json.loads(request.content)
        if request.url.path.endswith("/infer"):
            return httpx.Response(200, json={"outputs": [{"name": "Y", "data": [2.0]}]})
        return httpx.Response(200)

    with client_of(handler) as client:
        client.unload("tools.echo", unload_dependents=True)
        answer = client.infer("tools.echo", {"X": ("FP32", [1], [0.0])}, version=2)
    assert bodies["/v2/repository/models/tools.echo/unload"] == {
        "parameters": {"unload_dependents": True}
    }
    assert bodies["/v2/models/tools.echo/versions/2/infer"] == {
        "inputs": [{"name": "X", "datatype": "FP32", "shape": [1], "data": [0.0]}]
    }
    assert answer == {"Y": [2.0]}
