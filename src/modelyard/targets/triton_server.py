"""The server half of a target whose server is a Triton reached over HTTP: what every such
kind does the same way, whatever holds its repository (a folder, S3)."""

from __future__ import annotations

from typing import Any

from modelyard.triton.client import TritonClient
from modelyard.triton.inputs import RequestInputs


class TritonServer:
    """Index, load, unload, readiness, config and inference through `client`."""

    client: TritonClient

    def index(self) -> list[dict[str, Any]]:
        return self.client.index()

    def load(self, model: str, *, timeout_s: float | None = None) -> None:
        self.client.load(model, timeout_s=timeout_s)

    def unload(self, model: str, *, timeout_s: float | None = None) -> None:
        self.client.unload(model, timeout_s=timeout_s)

    def is_ready(self, model: str, version: int | None = None) -> bool:
        return self.client.is_ready(model, version)

    def model_config(self, model: str) -> dict[str, Any]:
        return self.client.config(model)

    def infer(
        self,
        model: str,
        inputs: RequestInputs,
        version: int | None = None,
        *,
        timeout_s: float | None = None,
    ) -> dict[str, list[Any]]:
        return self.client.infer(model, inputs, version, timeout_s=timeout_s)
