"""Models that answer after a fixed time (python backend), for live measurements."""

from __future__ import annotations

from pathlib import Path

from modelyard.deploy.runner import DeployOptions

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
