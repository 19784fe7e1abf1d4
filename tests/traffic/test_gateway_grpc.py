"""gRPC through the gateway, against real HAProxy and a real local Triton: every call
passes to Triton's gRPC port, except an unversioned ModelInfer of a model the gateway
routes, which HAProxy cannot split (the version is in the protobuf body) and so refuses
instead of letting Triton hand it to the highest loaded version, the candidate."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from tests.support.gateway import MODEL, GatewayBed, gateway_bed, needs_haproxy, send

pytestmark = [pytest.mark.triton, pytest.mark.gateway, needs_haproxy]


@pytest.fixture
def bed(tmp_path: Path, catalog_url: str) -> Iterator[GatewayBed]:
    with gateway_bed(tmp_path, catalog_url, grpc=True) as opened:
        yield opened


def _infer(url: str, version: str = "", values: int = 1) -> float:
    """One ModelInfer of the echo model over gRPC: the version that answered."""
    with grpcclient.InferenceServerClient(url) as client:
        tensor = grpcclient.InferInput("X", [values], "FP32")
        tensor.set_data_from_numpy(np.zeros(values, np.float32))
        answer = client.infer(MODEL, [tensor], model_version=version)
        return float(answer.as_numpy("Y").flatten()[0])


def _refusal(url: str, version: str = "", values: int = 1) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as refused:
        _infer(url, version, values)
    return refused.value


def test_grpc_passes_through_and_a_routed_model_needs_a_version(bed: GatewayBed) -> None:
    ws = bed.workspace
    assert bed.grpc_url and ws.gateway_status("test").grpc_url == bed.grpc_url
    # Nothing routed: every call goes to Triton as asked (2.0, the deployed one, is
    # Triton's version 2 and the only one loaded).
    assert _infer(bed.grpc_url) == 2.0
    with grpcclient.InferenceServerClient(bed.grpc_url) as client:
        assert client.is_server_ready() and client.is_model_ready(MODEL)

    ws.start_experiment("tools/echo", ["1.0=90", "2.0=10"], target="test")
    # Unversioned: refused with the reason, never answered by the candidate.
    refused = _refusal(bed.grpc_url)
    assert refused.status() == "StatusCode.FAILED_PRECONDITION"
    assert f"{MODEL} is routed by the modelyard gateway" in refused.message()
    assert "name a model_version or call over HTTP" in refused.message()
    # Versioned calls reach the version they name; metadata calls pass.
    assert _infer(bed.grpc_url, "1") == 1.0 and _infer(bed.grpc_url, "2") == 2.0
    with grpcclient.InferenceServerClient(bed.grpc_url) as client:
        assert client.get_model_metadata(MODEL, "1").name == MODEL
    # A request longer than HAProxy's buffer (its body is read only in part) is refused
    # too: HAProxy answers before the client has sent it all, which a client sees as
    # the refusal or as its stream reset, never as an answer (Triton would have answered
    # this shape with INVALID_ARGUMENT).
    large = _refusal(bed.grpc_url, values=100_000)
    assert large.status() in {"StatusCode.FAILED_PRECONDITION", "StatusCode.CANCELLED"}, large
    assert _infer(bed.grpc_url, "1", values=1) == 1.0
    # HTTP clients get the split as before, beside the gRPC frontend.
    answers = send(bed.gateway_url, 400)
    assert answers.failures == [] and set(answers.arms) <= {"1.0", "2.0"}

    # A restart keeps the gRPC frontend (it is part of the recorded state).
    ws.restart_gateway("test")
    assert ws.gateway_status("test").grpc_url == bed.grpc_url
    assert _refusal(bed.grpc_url).status() == "StatusCode.FAILED_PRECONDITION"
    # Ended, keeping 1.0: the gateway stays pinned to it, so unversioned gRPC calls are
    # still refused (Triton's highest loaded version is 2, not the kept one).
    ws.stop_experiment("tools/echo", keep="1.0", target="test")
    assert _refusal(bed.grpc_url).status() == "StatusCode.FAILED_PRECONDITION"
    assert _infer(bed.grpc_url, "1") == 1.0


def _stream(url: str, versions: list[str]) -> list[float | InferenceServerException]:
    """One ModelStreamInfer stream sending a request per version, in order, each after the
    answer to the one before: the values answered, ending with the error if one came."""
    answers: queue.Queue[float | InferenceServerException] = queue.Queue()

    def received(result: Any, error: InferenceServerException | None) -> None:
        answers.put(error if error is not None else float(result.as_numpy("Y").flatten()[0]))

    seen: list[float | InferenceServerException] = []
    with grpcclient.InferenceServerClient(url) as client:
        client.start_stream(callback=received)
        try:
            for version in versions:
                tensor = grpcclient.InferInput("X", [1], "FP32")
                tensor.set_data_from_numpy(np.zeros(1, np.float32))
                client.async_stream_infer(MODEL, [tensor], model_version=version)
                seen.append(answers.get(timeout=30))
                if isinstance(seen[-1], InferenceServerException):
                    break  # an error ends the stream
        finally:
            client.stop_stream()
    return seen


def test_a_stream_of_a_routed_model_needs_a_version_in_its_first_message(
    bed: GatewayBed,
) -> None:
    ws = bed.workspace
    # Nothing routed: a stream goes to Triton as asked.
    assert _stream(bed.grpc_url, ["", ""]) == [2.0, 2.0]
    ws.start_experiment("tools/echo", ["1.0=90", "2.0=10"], target="test")
    refused = _stream(bed.grpc_url, [""])
    assert len(refused) == 1 and isinstance(refused[0], InferenceServerException), refused
    # HAProxy answers while the client's side of the stream is still open, and resets
    # it after the answer: a client sees the refusal or the reset, never an answer.
    print(f"unversioned stream: {refused[0].status()}: {refused[0].message()}")
    assert refused[0].status() in {"StatusCode.FAILED_PRECONDITION", "StatusCode.CANCELLED"}
    if refused[0].status() == "StatusCode.FAILED_PRECONDITION":
        assert f"{MODEL} is routed by the modelyard gateway" in refused[0].message()
    # A versioned first message opens the stream; each message reaches what it names.
    assert _stream(bed.grpc_url, ["1", "2", "1"]) == [1.0, 2.0, 1.0]
    # Unary calls keep their check beside the streams.
    assert _refusal(bed.grpc_url).status() == "StatusCode.FAILED_PRECONDITION"
