"""Helpers for tests against a real local Triton."""

from __future__ import annotations

from modelyard.deploy.runner import DeployOptions
from modelyard.triton.client import TritonClient

FAST = DeployOptions(concurrency=4, load_timeout_s=60, ready_timeout_s=20)


def ready_models(client: TritonClient) -> dict[str, list[int]]:
    """READY versions per model, from the server's repository index."""
    ready: dict[str, list[int]] = {}
    for entry in client.index():
        if entry.get("state") == "READY":
            ready.setdefault(entry["name"], []).append(int(entry["version"]))
    return ready
