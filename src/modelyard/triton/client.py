"""Triton's HTTP API (KServe v2 plus the repository extension), with typed errors.

The one place that speaks HTTP to Triton. Every refusal becomes a TritonError naming
the server, the model, the status and Triton's own message.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from modelyard.errors import TritonError, TritonUnreachable
from modelyard.triton.inputs import infer_body


class TritonClient:
    """One Triton server's HTTP endpoint.

    Args:
        timeout_s: how long one request may take (a load and an inference may say
            otherwise per call).
        transport: what carries the requests (httpx's default: the network); tests put an
            `httpx.MockTransport` here to produce faults a real server cannot on demand.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TritonClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _request(
        self,
        method: str,
        path: str,
        model: str | None = None,
        json: Any = None,
        timeout_s: float | None = None,
    ) -> httpx.Response:
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        try:
            response = self._http.request(method, path, json=json, timeout=timeout_s)
        except httpx.TimeoutException as exc:
            subject = f"model {model}: " if model else ""
            raise TritonError(
                f"Triton at {self.url} is not answering: {subject}no answer to "
                f"{method} {path} within "
                f"{timeout_s:g} s (a load may still be running in Triton)"
            ) from exc
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if model:  # which request was cut off matters: a load may have begun in Triton
                raise TritonUnreachable(
                    f"Triton at {self.url} is unreachable: model {model}: {method} {path} "
                    f"got no answer ({reason})"
                ) from exc
            raise TritonUnreachable(f"Triton at {self.url} is unreachable ({reason})") from exc
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            subject = f" model {model}:" if model else ""
            raise TritonError(
                f"Triton at {self.url}{subject} HTTP {response.status_code}: {message}"
            )
        return response

    def is_live(self) -> bool:
        try:
            return self._http.get("/v2/health/live").status_code == 200
        except httpx.HTTPError:
            return False

    def metadata(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/v2").json()
        return result

    def index(self) -> list[dict[str, Any]]:
        """Every model in the repository with its state (READY, UNAVAILABLE, ...)."""
        result: list[dict[str, Any]] = self._request("POST", "/v2/repository/index", json={}).json()
        return result

    def load(self, model: str, *, timeout_s: float | None = None) -> None:
        """Load (or reload) a model from the repository; `timeout_s`: this call's own limit."""
        self._request(
            "POST", f"/v2/repository/models/{model}/load", model=model, timeout_s=timeout_s
        )

    def unload(
        self, model: str, *, unload_dependents: bool = False, timeout_s: float | None = None
    ) -> None:
        body = {"parameters": {"unload_dependents": unload_dependents}}
        self._request(
            "POST",
            f"/v2/repository/models/{model}/unload",
            model=model,
            json=body,
            timeout_s=timeout_s,
        )

    def is_ready(self, model: str, version: int | None = None) -> bool:
        path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/ready"
        try:
            return self._http.get(path).status_code == 200
        except httpx.HTTPError:
            return False

    def config(self, model: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "GET", f"/v2/models/{model}/config", model=model
        ).json()
        return result

    def infer(
        self,
        model: str,
        inputs: dict[str, tuple[str, list[int], list[Any]]],
        version: int | None = None,
        *,
        timeout_s: float | None = None,
    ) -> dict[str, list[Any]]:
        """Run one request. `inputs`: name -> (datatype, shape, flat data). Returns output data."""
        body = infer_body(inputs)
        path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"
        answer = self._request("POST", path, model=model, json=body, timeout_s=timeout_s).json()
        return {output["name"]: output["data"] for output in answer["outputs"]}

    def statistics(self, model: str, version: int | None = None) -> dict[str, Any]:
        """Triton's cumulative statistics of a model (every version, or one): counts and
        nanoseconds per phase, and `memory_usage` where the backend reports it."""
        path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/stats"
        result: dict[str, Any] = self._request("GET", path, model=model).json()
        return result

    def ready_round_trip_s(self) -> float:
        """Seconds one `GET v2/health/ready` takes: the client's own overhead per request."""
        began = time.perf_counter()
        self._request("GET", "/v2/health/ready")
        return time.perf_counter() - began

    def wait_live(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.is_live():
                return
            time.sleep(0.1)
        raise TritonError(f"Triton at {self.url} did not become live within {timeout_s:g} s")


def read_metrics(url: str, *, timeout_s: float = 10.0) -> str:
    """Triton's Prometheus metrics (text exposition format) from `url`, e.g.
    `http://host:8002/metrics`; TritonError if the endpoint does not answer."""
    try:
        response = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise TritonError(
            f"Triton metrics at {url} are unreachable ({type(exc).__name__}: {exc})"
        ) from exc
    if response.status_code >= 400:
        raise TritonError(f"Triton metrics at {url}: HTTP {response.status_code}")
    return response.text
