"""ModelSpec -> Triton `ModelConfig` protobuf -> config.pbtxt (never string templates).

Rules (documented in the README):

- Backend by framework: onnx -> `onnxruntime`, pytorch -> `pytorch`, tensorflow ->
  `tensorflow`, tensorrt -> `tensorrt`, python -> `python`, ensemble -> platform
  `ensemble`. The `local` profile serves ONNX through the python backend (see
  `onnx_model.py`), since the local Triton has no onnxruntime backend.
- Dynamic batching (when `max_batch_size > 1`): the queue may hold a request for at
  most 10% of its p99 budget and never more than 10 ms (`QUEUE_SHARE_OF_P99`,
  `QUEUE_DELAY_CAP_US`); preferred batch sizes are max/4, max/2 and max.
- Instances: `instance_count` per model; KIND_GPU in production when the model needs
  GPU memory, KIND_CPU otherwise and always in the `local` profile.
- Domain, owner team, SLA and catalog versions are recorded as `parameters`.
- The manifest's `triton` block, in Triton's own field names, replaces whole
  top-level fields of the generated config last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from google.protobuf import json_format, text_format

from modelyard.catalog.spec import ModelSpec, TensorSpec
from modelyard.triton.model_config import model_config_pb2

ModelConfig = model_config_pb2.ModelConfig
Profile = Literal["production", "local"]
PROFILES: tuple[str, ...] = ("production", "local")

QUEUE_SHARE_OF_P99 = 0.10
QUEUE_DELAY_CAP_US = 10_000

BACKENDS = {
    "onnx": "onnxruntime",
    "pytorch": "pytorch",
    "tensorflow": "tensorflow",
    "tensorrt": "tensorrt",
    "python": "python",
}
# The file Triton looks for in a version folder, per backend.
MODEL_FILES = {
    "onnxruntime": "model.onnx",
    "pytorch": "model.pt",
    "tensorflow": "model.savedmodel",
    "tensorrt": "model.plan",
    "python": "model.py",
}


class ConfigBuildError(ValueError):
    """The spec cannot become a valid ModelConfig; the message says which field and why."""


@dataclass(frozen=True)
class StepTarget:
    """Where an ensemble step's model lives in the compiled repository."""

    triton_name: str
    triton_version: int


def backend_for(spec: ModelSpec, profile: Profile) -> str | None:
    """The Triton backend that serves `spec` under `profile` (None for an ensemble)."""
    if spec.framework == "ensemble":
        return None
    if profile == "local" and spec.framework == "onnx":
        return "python"
    return BACKENDS[spec.framework]


def queue_delay_us(latency_p99_ms: float) -> int:
    return min(QUEUE_DELAY_CAP_US, int(latency_p99_ms * 1000 * QUEUE_SHARE_OF_P99))


def preferred_batch_sizes(max_batch_size: int) -> list[int]:
    return sorted(
        {size for size in (max_batch_size // 4, max_batch_size // 2, max_batch_size) if size >= 2}
    )


def build_model_config(
    spec: ModelSpec,
    *,
    name: str,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    profile: Profile,
    triton_versions: Mapping[str, int],
    steps: Mapping[str, StepTarget] | None = None,
) -> Any:
    """The ModelConfig message for `spec`.

    Args:
        name: the Triton model name (folder name).
        inputs, outputs: the tensors (from the artifact or the manifest).
        triton_versions: catalog version -> integer folder, for every version served.
        steps: for an ensemble, each step's model id -> where that model is compiled.
    """
    config = ModelConfig()
    config.name = name
    resources = spec.resource_requirements
    config.max_batch_size = resources.max_batch_size
    backend = backend_for(spec, profile)
    if backend is None:
        config.platform = "ensemble"
    else:
        config.backend = backend
    for tensor in inputs:
        _add_tensor(config.input.add(), tensor)
    for tensor in outputs:
        _add_tensor(config.output.add(), tensor)
    config.version_policy.specific.versions.extend(sorted(triton_versions.values()))
    if spec.framework == "ensemble":
        _add_ensemble_steps(config, spec, steps or {})
    else:
        if resources.max_batch_size > 1:
            batching = config.dynamic_batching
            batching.max_queue_delay_microseconds = queue_delay_us(
                spec.sla_requirements.max_latency_p99_ms
            )
            batching.preferred_batch_size.extend(preferred_batch_sizes(resources.max_batch_size))
        group = config.instance_group.add()
        group.count = resources.instance_count
        on_gpu = profile == "production" and resources.gpu_memory_mb > 0
        group.kind = (
            model_config_pb2.ModelInstanceGroup.KIND_GPU
            if on_gpu
            else model_config_pb2.ModelInstanceGroup.KIND_CPU
        )
    _add_parameters(config, spec, triton_versions)
    return apply_overrides(config, spec)


def _add_tensor(message: Any, tensor: TensorSpec) -> None:
    message.name = tensor.name
    message.data_type = model_config_pb2.DataType.Value(f"TYPE_{tensor.data_type}")
    try:
        message.dims.extend(tensor.dims)
    except ValueError as exc:  # a catalog written before dims were bounded to int64
        raise ConfigBuildError(
            f"tensor {tensor.name!r}: dims {tensor.dims}: {exc}; Triton's dims are 64-bit integers"
        ) from None


def _add_ensemble_steps(config: Any, spec: ModelSpec, steps: Mapping[str, StepTarget]) -> None:
    assert spec.ensemble is not None
    for position, step in enumerate(spec.ensemble.steps):
        target = steps.get(step.model)
        if target is None:
            raise ConfigBuildError(
                f"{spec.ref}: ensemble.steps[{position}]: {step.model} is not "
                "compiled in this repository"
            )
        message = config.ensemble_scheduling.step.add()
        message.model_name = target.triton_name
        # Pinned, not -1: the ensemble runs exactly the versions it was validated with.
        message.model_version = target.triton_version
        for key, value in step.input_map.items():
            message.input_map[key] = value
        for key, value in step.output_map.items():
            message.output_map[key] = value


def _add_parameters(config: Any, spec: ModelSpec, triton_versions: Mapping[str, int]) -> None:
    sla = spec.sla_requirements
    values = {
        "domain": spec.domain,
        "owner_team": spec.owner_team,
        "sla_latency_p99_ms": f"{sla.max_latency_p99_ms:g}",
        "sla_min_throughput_rps": f"{sla.min_throughput_rps:g}",
        "sla_availability": f"{sla.availability:g}",
        "modelyard_model": spec.id,
        "modelyard_versions": ",".join(
            f"{v}={n}" for v, n in sorted(triton_versions.items(), key=lambda item: item[1])
        ),
    }
    for key, value in values.items():
        config.parameters[key].string_value = value


def apply_overrides(config: Any, spec: ModelSpec) -> Any:
    """Replace top-level fields with the manifest's `triton` block."""
    if not spec.triton:
        return config
    data = json_format.MessageToDict(config, preserving_proto_field_name=True)
    data.update(spec.triton)
    merged = ModelConfig()
    try:
        json_format.ParseDict(data, merged)
    except json_format.ParseError as exc:
        raise ConfigBuildError(f"{spec.ref}: triton: {exc}") from None
    return merged


def to_pbtxt(config: Any) -> str:
    """The config.pbtxt text of a ModelConfig (protobuf text format)."""
    return str(text_format.MessageToString(config))


def parse_pbtxt(text: str, source: str = "config.pbtxt") -> Any:
    """Parse config.pbtxt text; ConfigBuildError with the line on failure."""
    try:
        return text_format.Parse(text, ModelConfig())
    except text_format.ParseError as exc:
        raise ConfigBuildError(f"{source}: {exc}") from None
