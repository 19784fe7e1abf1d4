"""A local Triton shared by a module's tests, a workspace target on it, and models that
sleep a fixed time (python backend)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from modelyard import Workspace
from modelyard.config import read_config
from modelyard.deploy.runner import DeployOptions
from modelyard.triton.server import LocalTriton

FAST = DeployOptions(concurrency=4, load_timeout_s=60, ready_timeout_s=30)

SLEEPING_MODEL = """
import time
import numpy as np
import triton_python_backend_utils as pb_utils

class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            time.sleep({sleep_s})
            value = pb_utils.get_input_tensor_by_name(request, "{input}").as_numpy()
            responses.append(pb_utils.InferenceResponse(
                [pb_utils.Tensor("{output}", value.astype(np.float32))]))
        return responses
"""


@pytest.fixture(scope="module")
def perf_triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTriton]:
    """One tritonserver for the module (its tests run one after another and each deploys
    its own selection, which unloads the previous test's models)."""
    root = tmp_path_factory.mktemp("perf-triton")
    server = LocalTriton(root / "repo", root / "state")
    server.start().close()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def live(workspace: Workspace, perf_triton: LocalTriton) -> Workspace:
    """The workspace with a target `test` on the module's Triton (metrics endpoint included)."""
    assert workspace.root is not None
    path = workspace.root / "modelyard.yaml"
    config = yaml.safe_load(path.read_text()) or {}
    config["targets"] = {
        "test": {
            "url": perf_triton.url,
            "repository": str(perf_triton.repository),
            "profile": "local",
            "metrics_url": f"http://127.0.0.1:{perf_triton.metrics_port}/metrics",
        }
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    workspace.config = read_config(path)
    return workspace


def sleeping_model(
    folder: Path,
    name: str,
    version: str,
    *,
    sleep_ms: float,
    p99_ms: float = 100,
    rps: float = 10,
    instances: int = 1,
    memory_mb: int = 2048,
    input_name: str = "X",
    output_name: str = "Y",
    dependencies: str = "[]",
) -> Path:
    """A python-backend model answering after `sleep_ms`; returns its manifest."""
    model = folder / f"{name}-{version}"
    model.mkdir(parents=True)
    (model / "model.py").write_text(
        SLEEPING_MODEL.format(sleep_s=sleep_ms / 1000, input=input_name, output=output_name)
    )
    manifest = model / "manifest.yaml"
    manifest.write_text(f"""\
name: {name}
version: "{version}"
model_type: regression
framework: python
domain: tools
owner_team: platform
artifact: model.py
dependencies: {dependencies}
inputs: [{{name: {input_name}, data_type: FP32, dims: [1]}}]
outputs: [{{name: {output_name}, data_type: FP32, dims: [1]}}]
resource_requirements: {{max_batch_size: 0, gpu_memory_mb: 0, memory_mb: {memory_mb},
                         cpu_cores: 1, instance_count: {instances}}}
sla_requirements: {{max_latency_p99_ms: {p99_ms}, min_throughput_rps: {rps}}}
""")
    return manifest
