"""Rollout helpers: deploy options for tests, a python-backend model that answers its own
version, what a Triton has READY, a compiled selection for the runner, and a client that
keeps asking while a deployment runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from modelyard.config import WorkspaceConfig
from modelyard.deploy.runner import DeployOptions
from modelyard.ops.build import Build
from modelyard.ops.context import Context
from modelyard.store import CatalogStore
from modelyard.triton.client import TritonClient
from modelyard.triton.compiler import CompilePlan
from modelyard.triton.config import Profile

FAST = DeployOptions(concurrency=4, load_timeout_s=60, ready_timeout_s=20)

GOOD_MODEL = """
import numpy as np
import triton_python_backend_utils as pb_utils

class TritonPythonModel:
    def initialize(self, args):
        self.version = float(args["model_version"])

    def execute(self, requests):
        return [pb_utils.InferenceResponse([pb_utils.Tensor(
            "Y", np.full((1, 1), self.version, np.float32))]) for _ in requests]
"""


# GOOD_MODEL, but its every inference raises: a version that loads and fails its smoke test.
FAILS_TO_ANSWER = GOOD_MODEL.replace(
    "return [pb_utils.InferenceResponse([pb_utils.Tensor(",
    "raise RuntimeError('cannot answer')\n        return [pb_utils.InferenceResponse([pb_utils.Tensor(",
)


def python_model(
    tmp_path: Path, name: str, version: str, code: str, dependencies: str = ""
) -> Path:
    folder = tmp_path / f"{name}-{version}"
    folder.mkdir()
    (folder / "model.py").write_text(code)
    manifest = folder / "manifest.yaml"
    manifest.write_text(f"""\
name: {name}
version: "{version}"
model_type: regression
framework: python
domain: tools
owner_team: platform
artifact: model.py
{dependencies}
inputs: [{{name: X, data_type: FP32, dims: [1]}}]
outputs: [{{name: Y, data_type: FP32, dims: [1]}}]
resource_requirements: {{max_batch_size: 0, gpu_memory_mb: 0}}
""")
    return manifest


def ready_models(client: TritonClient) -> dict[str, list[int]]:
    ready: dict[str, list[int]] = {}
    for entry in client.index():
        if entry.get("state") == "READY":
            ready.setdefault(entry["name"], []).append(int(entry["version"]))
    return ready


def compiled_selection(
    store: CatalogStore, *, alias: str | None = None, profile: Profile = "local"
) -> tuple[CompilePlan, dict[str, list[str]]]:
    """The catalog's selection compiled, and Triton name -> the Triton names it needs
    (what `deploy` computes, through the same use-case code)."""
    build = Build(Context(store, WorkspaceConfig(), None), alias)
    return build.compiled(profile, "cannot compile"), build.triton_dependencies()


def answer(client: TritonClient, name: str, version: int | None = None) -> float:
    return float(client.infer(name, {"X": ("FP32", [1], [0.0])}, version=version)["Y"][0])


class Asker:
    """A client that keeps sending requests while a deployment runs: unversioned ones
    and, with `pinned`, ones naming that version. It records every answer with the time
    it arrived and every failure."""

    def __init__(
        self,
        client: TritonClient,
        name: str,
        *,
        pinned: int | None = None,
        ask: Callable[[int | None], float] | None = None,
    ) -> None:
        self.pinned = pinned
        self.ask = ask or (lambda version: answer(client, name, version))
        self.answers: list[tuple[float, float]] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._ask)

    def _ask(self) -> None:
        while not self._stop.is_set():
            for version in (None, self.pinned) if self.pinned else (None,):
                try:
                    value = self.ask(version)
                    # Stamped when the answer arrived (not when it was asked): "no
                    # client saw version 2 before it was verified" is about answers, and
                    # a request asked just before may be answered just after.
                    self.answers.append((time.monotonic(), value))
                except Exception as exc:  # any failed request is what the tests look for
                    self.failures.append(repr(exc))
            time.sleep(0.002)

    def __enter__(self) -> Asker:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        # One more exchange after the deployment ended, so what it left serving is seen
        # even when a loaded machine held the last request up for the whole deploy.
        seen = len(self.answers) + len(self.failures)
        deadline = time.monotonic() + 10
        while len(self.answers) + len(self.failures) <= seen and time.monotonic() < deadline:
            time.sleep(0.01)
        self._stop.set()
        self._thread.join()

    @property
    def values(self) -> set[float]:
        return {value for _, value in self.answers}
