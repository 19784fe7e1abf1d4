"""Rollout helpers: deploy options for tests, a python-backend model that answers its own
version, what a Triton has READY, and a compiled selection for the runner."""

from __future__ import annotations

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
