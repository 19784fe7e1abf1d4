"""Pure checks of Triton model configurations, so modelyard rejects what a server would.

The rules mirror what Triton's core enforces when it loads a model:

* core `src/model_config_utils.cc`: `ValidateModelConfig`, `ValidateModelIOConfig`
  (`ValidateIOShape`, `ValidateModelInput`, `ValidateModelOutput`, `ValidateBatchIO`),
  `ValidateInstanceGroup`, `ValidateModelMetrics`, `ValidateEnsembleSchedulingConfig`,
  and the platform/backend inference of `AutoCompleteBackendFields`;
* core `src/ensemble_scheduler/ensemble_utils.cc`: `ValidateEnsembleConfig` (checks that
  need the composing models' configs);
* core `src/model_repository_manager/`: model names, circular ensembles, version folders;
* `backend_model.cc` (the `runtime` library must stay inside the backend directory) and the
  DALI backend (`default_model_filename` must be a plain file name).

Two differences from Triton, both on purpose:

* Triton stops at the first failure; every check here reports all it finds.
* Triton validates a config *after* auto-complete has filled it from the model files. A
  config that leaves out `name`, `platform`/`backend`, `input`/`output` or `instance_group`
  can still load, so those omissions are not reported; rules that depend on a value
  auto-complete would supply (the platform, the inputs) are skipped when it is missing.

Nothing here reads files or talks to a server: configs come in as `ModelConfig` messages.
(A repository's layout, version folders and a misplaced `config.pbtxt`, is checked where
one is read: `triton/importer.py`.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

# The generated messages are `Any` to mypy, so every value read from them is converted
# (int(), str()) before it leaves a function.
from modelyard.triton.model_config import model_config_pb2

__all__ = [
    "KNOWN_PLATFORMS",
    "ConfigIssue",
    "check_ensemble_connections",
    "check_file_names",
    "check_model_config",
]

ENSEMBLE_PLATFORM = "ensemble"

# Platforms Triton's core knows (constants.h); a custom backend may pair with any platform.
KNOWN_PLATFORMS = frozenset(
    {
        "tensorrt_plan",
        "tensorflow_graphdef",
        "tensorflow_savedmodel",
        "onnxruntime_onnx",
        "pytorch_libtorch",
        ENSEMBLE_PLATFORM,
    }
)

# The backend each known platform runs on.
_BACKEND_FOR_PLATFORM = {
    "tensorrt_plan": "tensorrt",
    "tensorflow_graphdef": "tensorflow",
    "tensorflow_savedmodel": "tensorflow",
    "onnxruntime_onnx": "onnxruntime",
    "pytorch_libtorch": "pytorch",
}

# Backends whose platform core checks (GetBackendType / GetBackendTypeFromPlatform):
# with one of these, a platform that is set must be the matching one.
_PLATFORM_CHECKED_BACKENDS = frozenset({"tensorrt", "tensorflow", "onnxruntime", "pytorch"})

# default_model_filename values from which AutoCompleteBackendFields infers a backend.
_BACKEND_FOR_FILENAME = {
    "model.graphdef": "tensorflow",
    "model.savedmodel": "tensorflow",
    "model.plan": "tensorrt",
    "model.onnx": "onnxruntime",
    "model.xml": "openvino",
    "model.pt": "pytorch",
    "model.py": "python",
}

# The platform auto-complete fills in once it knows the backend.
_PLATFORM_FOR_BACKEND = {
    "tensorrt": "tensorrt_plan",
    "onnxruntime": "onnxruntime_onnx",
    "pytorch": "pytorch_libtorch",
}

_WILDCARD_DIM = -1

_DataType = model_config_pb2.DataType
_Control = model_config_pb2.ModelSequenceBatching.Control
_InstanceGroup = model_config_pb2.ModelInstanceGroup
_QueuePolicy = model_config_pb2.ModelQueuePolicy
_ModelInput = model_config_pb2.ModelInput
_BatchInput = model_config_pb2.BatchInput
_BatchOutput = model_config_pb2.BatchOutput
# Aliases for annotations; to mypy they are Any, to a reader they say which message comes in.
_IO: TypeAlias = "model_config_pb2.ModelInput | model_config_pb2.ModelOutput"
_Step: TypeAlias = "model_config_pb2.ModelEnsembling.Step"

_CORRID_TYPES = frozenset(
    int(t)
    for t in (
        _DataType.TYPE_UINT64,
        _DataType.TYPE_INT64,
        _DataType.TYPE_UINT32,
        _DataType.TYPE_INT32,
        _DataType.TYPE_STRING,
    )
)
_FALSE_TRUE_FIELDS = ("int32_false_true", "fp32_false_true", "bool_false_true")

# Characters that never belong in a file name Triton joins onto a model or backend path:
# quotes and shell metacharacters (the DALI backend's injection case), backslashes, and
# control characters. '/' is judged separately, per field.
_UNSAFE_PATH_CHARS = frozenset("'\"`;$|&<>*?!\\")


@dataclass(frozen=True)
class ConfigIssue:
    """One rule a config breaks: `field` is a dotted path such as `input[0].dims`."""

    field: str
    message: str


# --------------------------------------------------------------------------- single config


def check_model_config(
    config: model_config_pb2.ModelConfig, *, model_name: str | None = None
) -> list[ConfigIssue]:
    """Every rule Triton applies to one config on its own, as a list of issues (empty: fine).

    Args:
        config: the parsed `config.pbtxt`.
        model_name: the model's folder name, when known; `name`, if set, must equal it.
    """
    declared = str(config.name)
    name = declared or (model_name or "")
    label = name or "<unnamed model>"
    backend, platform = _completed_backend_platform(config)
    is_ensemble = str(config.platform) == ENSEMBLE_PLATFORM or config.HasField(
        "ensemble_scheduling"
    )
    max_batch_size = int(config.max_batch_size)

    issues: list[ConfigIssue] = []
    issues += _check_name(declared, model_name)
    issues += _check_platform_backend(config, backend, platform, label)
    if max_batch_size < 0:
        issues.append(
            ConfigIssue(
                "max_batch_size",
                f"'max_batch_size' must be non-negative value for {label} (got "
                f"{max_batch_size}); use 0 for a model without a batch dimension",
            )
        )
    issues += _check_ios("input", config.input, max_batch_size, platform, label)
    issues += _check_ios("output", config.output, max_batch_size, platform, label)
    issues += _check_batch_io(config, label)
    if not is_ensemble:
        issues += _check_instance_groups(config, platform, label)
    if config.HasField("dynamic_batching"):
        issues += _check_dynamic_batching(config.dynamic_batching, max_batch_size, label)
    if config.HasField("sequence_batching"):
        issues += _check_sequence_batching(config, max_batch_size, label)
    if bool(config.model_transaction_policy.decoupled) and bool(config.response_cache.enable):
        issues.append(
            ConfigIssue(
                "response_cache.enable",
                f"Response Cache does not currently support model {label} with 'decoupled' "
                "transaction policy. Please disable the response cache.",
            )
        )
    if config.HasField("model_metrics"):
        issues += _check_model_metrics(config.model_metrics)
    issues += check_file_names(config)
    issues += _check_ensemble_structure(config, name, label)
    return issues


def _check_name(declared: str, model_name: str | None) -> list[ConfigIssue]:
    """The name rules of the repository manager; `name`, if set, must be the folder name."""
    issues: list[ConfigIssue] = []
    if declared:
        problem = _name_problem(declared)
        if problem:
            issues.append(ConfigIssue("name", f"model name {declared!r} {problem}"))
    if model_name is not None:
        problem = _name_problem(model_name)
        if problem and model_name != declared:
            issues.append(ConfigIssue("name", f"model folder name {model_name!r} {problem}"))
        if declared and declared != model_name:
            issues.append(
                ConfigIssue(
                    "name",
                    f"'name' is {declared!r} but the model folder is {model_name!r}; when "
                    "'name' is set Triton requires it to equal the folder name (or leave it out)",
                )
            )
    return issues


def _name_problem(name: str) -> str | None:
    """Why Triton refuses a model name, or None. Triton trims the name first."""
    trimmed = name.strip()
    if not trimmed:
        return "must not be empty or whitespace"
    if trimmed == "..":
        return "must not be '..'"
    if "/" in trimmed:
        return "must not contain '/'"
    return None


def _completed_backend_platform(config: model_config_pb2.ModelConfig) -> tuple[str, str]:
    """`backend` and `platform` as AutoCompleteBackendFields leaves them, files aside.

    Where core would look into the version folder (neither field nor a telling
    `default_model_filename` is set) the value stays empty: unknown, not wrong.
    """
    backend = str(config.backend)
    platform = str(config.platform)
    if backend or platform == ENSEMBLE_PLATFORM:
        return backend, platform or _PLATFORM_FOR_BACKEND.get(backend, "")
    backend = _BACKEND_FOR_PLATFORM.get(platform, "")
    if not backend:
        backend = _BACKEND_FOR_FILENAME.get(str(config.default_model_filename), "")
    if not platform:
        if backend == "tensorflow":
            platform = (
                "tensorflow_savedmodel"
                if str(config.default_model_filename) == "model.savedmodel"
                else "tensorflow_graphdef"
            )
        else:
            platform = _PLATFORM_FOR_BACKEND.get(backend, "")
    return backend, platform


def _check_platform_backend(
    config: model_config_pb2.ModelConfig, backend: str, platform: str, label: str
) -> list[ConfigIssue]:
    """ValidateModelConfig's platform/backend pairing, applied to the auto-completed pair."""
    declared_platform = str(config.platform)
    declared_backend = str(config.backend)
    if declared_platform == ENSEMBLE_PLATFORM:
        if declared_backend:
            return [
                ConfigIssue(
                    "backend",
                    f"Ensemble model '{label}' must have platform type 'ensemble' and empty "
                    f"backend type (got backend {declared_backend!r}); remove 'backend'",
                )
            ]
        return []
    if not declared_platform and not declared_backend:
        filename = str(config.default_model_filename)
        if filename and not backend:
            # Custom-backend auto-complete only runs when default_model_filename is empty too.
            return [
                ConfigIssue(
                    "backend",
                    f"must specify 'platform' or 'backend' for '{label}': Triton cannot infer "
                    f"a backend from default_model_filename {filename!r}",
                )
            ]
        return []  # auto-complete fills both from the version folder or the model name
    if not backend:
        known = ", ".join(sorted(KNOWN_PLATFORMS))
        return [
            ConfigIssue(
                "platform",
                f"unexpected platform type '{declared_platform}' for {label}: known platforms "
                f"are {known}; a custom backend is named with 'backend'",
            )
        ]
    if (
        backend in _PLATFORM_CHECKED_BACKENDS
        and platform
        and _BACKEND_FOR_PLATFORM.get(platform) != backend
    ):
        hint = [p for p, b in _BACKEND_FOR_PLATFORM.items() if b == backend]
        return [
            ConfigIssue(
                "platform",
                f"unexpected 'platform' and 'backend' pair, got:{platform}, {backend}; backend "
                f"{backend!r} goes with platform {' or '.join(repr(p) for p in hint)}",
            )
        ]
    return []


# --------------------------------------------------------------------------- inputs/outputs


def _element_count(dims: Sequence[int]) -> int:
    """Elements of a shape as core counts them: -1 with a wildcard, 0 for no dims."""
    if _WILDCARD_DIM in dims:
        return _WILDCARD_DIM
    count = 0
    for index, dim in enumerate(dims):
        count = dim if index == 0 else count * dim
    return count


def _wildcard_trunks(dims: Sequence[int]) -> list[int]:
    """Element counts of the runs between wildcard dims: [2, 4, -1, 6] -> [8, 6]."""
    trunks: list[int] = []
    current = 1
    for dim in dims:
        if dim == _WILDCARD_DIM:
            trunks.append(current)
            current = 1
        else:
            current *= dim
    trunks.append(current)
    return trunks


def _reshape_problem(dims: Sequence[int], shape: Sequence[int]) -> str | None:
    """Why `dims` cannot be reshaped to `shape` (ValidateIOShape), or None."""
    dims_size = _element_count(dims)
    shape_size = _element_count(shape)
    # An empty reshape (a scalar) needs dims holding exactly one element.
    if dims_size != shape_size and (shape_size != 0 or dims_size != 1):
        return "has different size for dims and reshape"
    if dims_size == _WILDCARD_DIM:
        dims_trunks = _wildcard_trunks(dims)
        shape_trunks = _wildcard_trunks(shape)
        if len(dims_trunks) != len(shape_trunks):
            return "has different number of variable-size dimensions for dims and reshape"
        if dims_trunks != shape_trunks:
            return "has different size for dims and reshape"
    return None


def _bad_dims(dims: Sequence[int]) -> list[tuple[int, int]]:
    """(index, value) of every dim that is neither >= 1 nor the -1 wildcard."""
    return [(i, d) for i, d in enumerate(dims) if d < 1 and d != _WILDCARD_DIM]


def _check_ios(
    kind: str, ios: Iterable[_IO], max_batch_size: int, platform: str, label: str
) -> list[ConfigIssue]:
    """ValidateModelInput / ValidateModelOutput for every entry of `input` or `output`."""
    issues: list[ConfigIssue] = []
    seen: dict[str, int] = {}
    for index, io in enumerate(ios):
        issues += _check_io(kind, index, io, max_batch_size, platform, label)
        io_name = str(io.name)
        if io_name in seen:
            issues.append(
                ConfigIssue(
                    f"{kind}[{index}].name",
                    f"model {kind} '{io_name}' is declared twice ({kind}[{seen[io_name]}] "
                    f"and {kind}[{index}]) for {label}",
                )
            )
        elif io_name:
            seen[io_name] = index
    return issues


def _check_io(
    kind: str, index: int, io: _IO, max_batch_size: int, platform: str, label: str
) -> list[ConfigIssue]:
    """One input or output: name, data type, dims, reshape, format, TensorRT-only flags."""
    path = f"{kind}[{index}]"
    io_name = str(io.name)
    if not io_name:
        return [ConfigIssue(f"{path}.name", f"model {kind} must specify 'name' for {label}")]
    prefix = f"model {kind} '{io_name}'"
    issues: list[ConfigIssue] = []
    if int(io.data_type) == _DataType.TYPE_INVALID:
        issues.append(
            ConfigIssue(
                f"{path}.data_type",
                f"{prefix} must specify 'data_type' for {label} (for example TYPE_FP32)",
            )
        )
    dims = [int(d) for d in io.dims]
    if not dims:
        issues.append(
            ConfigIssue(
                f"{path}.dims",
                f"{prefix} must specify 'dims' for {label}; a scalar is written "
                "dims: [ 1 ] with reshape: { shape: [ ] }",
            )
        )
    bad_dims = _bad_dims(dims)
    for dim_index, dim in bad_dims:
        issues.append(
            ConfigIssue(
                f"{path}.dims[{dim_index}]",
                f"{prefix} dimension must be integer >= 1, or -1 to indicate a variable-size "
                f"dimension for {label} (got {dim})",
            )
        )
    if io.HasField("reshape"):
        shape = [int(d) for d in io.reshape.shape]
        if not shape and max_batch_size == 0:
            issues.append(
                ConfigIssue(
                    f"{path}.reshape",
                    f"{prefix} cannot have empty reshape for non-batching model as scalar "
                    f"tensors are not supported for {label}",
                )
            )
        bad_shape = _bad_dims(shape)
        for dim_index, dim in bad_shape:
            issues.append(
                ConfigIssue(
                    f"{path}.reshape.shape[{dim_index}]",
                    f"{prefix} reshape dimensions must be integer >= 1, or -1 to indicate a "
                    f"variable-size dimension for {label} (got {dim})",
                )
            )
        if dims and not bad_dims and not bad_shape:
            problem = _reshape_problem(dims, shape)
            if problem:
                issues.append(
                    ConfigIssue(
                        f"{path}.reshape",
                        f"{prefix} {problem} for {label} (dims {dims}, reshape {shape})",
                    )
                )
    image_formats = (_ModelInput.FORMAT_NHWC, _ModelInput.FORMAT_NCHW)
    if kind == "input" and int(io.format) in image_formats and len(dims) != 3:
        issues.append(
            ConfigIssue(
                f"{path}.format",
                f"{prefix}: NHWC/NCHW require 3 dims (got {len(dims)}) for {label}",
            )
        )
    # A platform auto-complete would fill in is unknown here; skip rather than guess.
    if platform and platform != "tensorrt_plan":
        if bool(io.is_shape_tensor):
            issues.append(
                ConfigIssue(
                    f"{path}.is_shape_tensor",
                    f"{prefix}: shape tensors are only supported for TensorRT platform "
                    f"(platform is {platform!r})",
                )
            )
        if bool(io.is_non_linear_format_io):
            issues.append(
                ConfigIssue(
                    f"{path}.is_non_linear_format_io",
                    f"{prefix}: Non-linear IO format is only supported for the TensorRT "
                    f"platform (platform is {platform!r})",
                )
            )
    if bool(io.is_non_linear_format_io) and len(dims) != 3:
        issues.append(
            ConfigIssue(
                f"{path}.dims",
                f"{prefix}: Non-linear IO format {kind} requires 3 dims (got {len(dims)})",
            )
        )
    return issues


def _check_batch_io(config: model_config_pb2.ModelConfig, label: str) -> list[ConfigIssue]:
    """ValidateBatchIO: source and target names, kinds, data types, duplicate targets.

    Name lookups are skipped while `input`/`output` is empty: auto-complete may fill it.
    """
    inputs = {str(io.name) for io in config.input}
    outputs = {str(io.name) for io in config.output}
    issues: list[ConfigIssue] = []
    for index, batch in enumerate(config.batch_input):
        path = f"batch_input[{index}]"
        kind_name = _enum_name(_BatchInput.Kind, int(batch.kind))
        sources = [str(s) for s in batch.source_input]
        if len(sources) != 1:
            issues.append(
                ConfigIssue(
                    f"{path}.source_input",
                    f"batch input kind '{kind_name}' expects 1 source input, got {len(sources)} "
                    f"for {label}",
                )
            )
        if int(batch.data_type) not in (_DataType.TYPE_INT32, _DataType.TYPE_FP32):
            issues.append(
                ConfigIssue(
                    f"{path}.data_type",
                    f"batch input data type must be TYPE_INT32 or TYPE_FP32 for {label}",
                )
            )
        issues += _unknown_names(f"{path}.source_input", sources, inputs, "source input", label)
    for index, batch in enumerate(config.batch_output):
        path = f"batch_output[{index}]"
        kind_name = _enum_name(_BatchOutput.Kind, int(batch.kind))
        sources = [str(s) for s in batch.source_input]
        if len(sources) != 1:
            issues.append(
                ConfigIssue(
                    f"{path}.source_input",
                    f"batch output kind '{kind_name}' expects 1 source input, got "
                    f"{len(sources)} for {label}",
                )
            )
        issues += _unknown_names(f"{path}.source_input", sources, inputs, "source input", label)
        targets = [str(t) for t in batch.target_name]
        issues += _unknown_names(f"{path}.target_name", targets, outputs, "target output", label)
        seen: set[str] = set()
        for target_index, target in enumerate(targets):
            if target in seen:
                issues.append(
                    ConfigIssue(
                        f"{path}.target_name[{target_index}]",
                        f"target output name '{target}' can only be specified once for {label}",
                    )
                )
            seen.add(target)
    return issues


def _unknown_names(
    path: str, names: Sequence[str], known: set[str], what: str, label: str
) -> list[ConfigIssue]:
    """Names not among `known`; nothing when `known` is empty (auto-complete may add them)."""
    if not known:
        return []
    return [
        ConfigIssue(f"{path}[{i}]", f"unknown {what} name '{n}' for {label}")
        for i, n in enumerate(names)
        if n not in known
    ]


def _enum_name(enum: Any, value: int) -> str:
    """The name of an enum value, or the number when the schema does not know it."""
    try:
        return str(enum.Name(value))
    except ValueError:
        return str(value)


# --------------------------------------------------------------------------- instances


def _check_instance_groups(
    config: model_config_pb2.ModelConfig, platform: str, label: str
) -> list[ConfigIssue]:
    """ValidateInstanceGroup (GPU ids, kinds, profiles) plus counts and rate-limiter names."""
    issues: list[ConfigIssue] = []
    # A resource is global or per-device for the whole model (rate_limiter.cc).
    resource_scope: dict[str, bool] = {}
    for index, group in enumerate(config.instance_group):
        path = f"instance_group[{index}]"
        # NormalizeInstanceGroup names unnamed groups <model>_<index>, as Triton's errors do.
        group_name = str(group.name) or f"{label}_{index}"
        where = f"instance group {group_name} of model {label}"
        kind = int(group.kind)
        gpus = [int(g) for g in group.gpus]
        if gpus and kind in (_InstanceGroup.KIND_CPU, _InstanceGroup.KIND_MODEL):
            kind_name = _enum_name(_InstanceGroup.Kind, kind)
            issues.append(
                ConfigIssue(
                    f"{path}.gpus",
                    f"{where} has kind {kind_name} but specifies one or more GPUs; remove "
                    "'gpus' or use KIND_GPU",
                )
            )
        for gpu_index, gpu in enumerate(gpus):
            if gpu < 0:
                issues.append(
                    ConfigIssue(
                        f"{path}.gpus[{gpu_index}]",
                        f"{where} specifies invalid or unsupported gpu id {gpu}; GPU ids "
                        "start at 0",
                    )
                )
        count = int(group.count)
        if count < 0:
            # Triton silently swaps a count below 1 for its default; a negative one is a typo.
            issues.append(
                ConfigIssue(
                    f"{path}.count",
                    f"{where} has count {count}; give a count >= 1, or leave it out for "
                    "Triton's default",
                )
            )
        profiles = [str(p) for p in group.profile]
        if profiles and platform and platform != "tensorrt_plan":
            issues.append(
                ConfigIssue(
                    f"{path}.profile",
                    f"{where} and platform {platform} specifies profile field which is only "
                    "supported for TensorRT models",
                )
            )
        for profile_index, profile in enumerate(profiles):
            if not profile.strip().isdigit():
                issues.append(
                    ConfigIssue(
                        f"{path}.profile[{profile_index}]",
                        f"{where} specifies invalid profile {profile!r}. The field should "
                        "contain the string representation of a non-negative integer.",
                    )
                )
        for resource_index, resource in enumerate(group.rate_limiter.resources):
            resource_path = f"{path}.rate_limiter.resources[{resource_index}]"
            resource_name = str(resource.name)
            is_global = bool(getattr(resource, "global"))  # a Python keyword
            if not resource_name:
                issues.append(
                    ConfigIssue(
                        f"{resource_path}.name",
                        f"{where} has a rate limiter resource without a name",
                    )
                )
                continue
            scope = resource_scope.setdefault(resource_name, is_global)
            if scope != is_global:
                issues.append(
                    ConfigIssue(
                        f"{resource_path}.global",
                        f"rate limiter resource '{resource_name}' of model {label} is both "
                        "global and per-device; use one scope for a resource name",
                    )
                )
    return issues


# --------------------------------------------------------------------------- schedulers


def _check_dynamic_batching(
    db: model_config_pb2.ModelDynamicBatching, max_batch_size: int, label: str
) -> list[ConfigIssue]:
    """Preferred sizes, priority levels and their queue policies, preserve_ordering."""
    issues = _check_preferred_sizes(
        "dynamic_batching.preferred_batch_size",
        [int(s) for s in db.preferred_batch_size],
        max_batch_size,
        "dynamic batching preferred size",
        label,
    )
    levels = int(db.priority_levels)
    policies = db.priority_queue_policy
    if levels != 0:
        default_level = int(db.default_priority_level)
        if default_level == 0 or default_level > levels:
            issues.append(
                ConfigIssue(
                    "dynamic_batching.default_priority_level",
                    f"default priority level must be in range [1, {levels}] for {label} "
                    f"(got {default_level})",
                )
            )
        for key in sorted(int(k) for k in policies):
            if key == 0 or key > levels:
                issues.append(
                    ConfigIssue(
                        f"dynamic_batching.priority_queue_policy[{key}]",
                        f"priority queue policy must have priority level in range "
                        f"[1, {levels}] for {label} (got {key})",
                    )
                )
    if bool(db.preserve_ordering):
        if levels > 1:
            issues.append(
                ConfigIssue(
                    "dynamic_batching.priority_levels",
                    f"Only one priority level is allowed when 'preserve_ordering' is true for "
                    f"{label} (got {levels})",
                )
            )
        delayed = [("dynamic_batching.default_queue_policy", db.default_queue_policy)]
        delayed += [
            (f"dynamic_batching.priority_queue_policy[{int(k)}]", policies[k])
            for k in sorted(policies)
        ]
        for path, policy in delayed:
            # DELAY only takes effect with a timeout; core ignores it otherwise.
            if (
                int(policy.default_timeout_microseconds) != 0
                and int(policy.timeout_action) == _QueuePolicy.DELAY
            ):
                issues.append(
                    ConfigIssue(
                        f"{path}.timeout_action",
                        f"Queue policy can not have DELAY as timeout action when "
                        f"'preserve_ordering' is true for {label}; use REJECT or turn "
                        "preserve_ordering off",
                    )
                )
    return issues


def _check_preferred_sizes(
    path: str, sizes: Sequence[int], max_batch_size: int, what: str, label: str
) -> list[ConfigIssue]:
    """Preferred batch sizes must be positive and at most max_batch_size."""
    issues: list[ConfigIssue] = []
    for index, size in enumerate(sizes):
        if size <= 0:
            issues.append(ConfigIssue(f"{path}[{index}]", f"{what} must be positive for {label}"))
        elif size > max_batch_size:
            issues.append(
                ConfigIssue(
                    f"{path}[{index}]",
                    f"{what} must be <= max batch size for {label} (got {size}, "
                    f"max_batch_size {max_batch_size})",
                )
            )
    return issues


def _check_sequence_batching(
    config: model_config_pb2.ModelConfig, max_batch_size: int, label: str
) -> list[ConfigIssue]:
    """Control tensors (Get*SequenceControlProperties), strategies, response cache."""
    batcher = config.sequence_batching
    issues: list[ConfigIssue] = []
    if bool(config.response_cache.enable):
        issues.append(
            ConfigIssue(
                "response_cache.enable",
                f"Response Cache does not currently support model {label} with sequence "
                "batching scheduler. Please disable the response cache.",
            )
        )
    seen_tensors: set[str] = set()
    seen_kinds: set[int] = set()
    for index, control_input in enumerate(batcher.control_input):
        path = f"sequence_batching.control_input[{index}]"
        tensor = str(control_input.name)
        if not tensor:
            issues.append(
                ConfigIssue(
                    f"{path}.name",
                    f"sequence batching control tensor must have a name for {label}",
                )
            )
        elif tensor in seen_tensors:
            issues.append(
                ConfigIssue(
                    f"{path}.name",
                    f"sequence batching control tensor '{tensor}' is specified for multiple "
                    f"control kinds for {label}",
                )
            )
        seen_tensors.add(tensor)
        for control_index, control in enumerate(control_input.control):
            issues += _check_control(f"{path}.control[{control_index}]", control, seen_kinds, label)
    if batcher.HasField("oldest"):
        issues += _check_preferred_sizes(
            "sequence_batching.oldest.preferred_batch_size",
            [int(s) for s in batcher.oldest.preferred_batch_size],
            max_batch_size,
            "sequence batching preferred batch size",
            label,
        )
    if batcher.HasField("direct"):
        utilization = float(batcher.direct.minimum_slot_utilization)
        if not 0.0 <= utilization <= 1.0:
            issues.append(
                ConfigIssue(
                    "sequence_batching.direct.minimum_slot_utilization",
                    f"sequence batching minimum slot utilization must be in range (0.0, 1.0] "
                    f"for {label} (got {utilization})",
                )
            )
    return issues


def _check_control(
    path: str,
    control: model_config_pb2.ModelSequenceBatching.Control,
    seen_kinds: set[int],
    label: str,
) -> list[ConfigIssue]:
    """One control of a sequence-batching control tensor."""
    kind = int(control.kind)
    kind_name = _enum_name(_Control.Kind, kind)
    given = {f: len(getattr(control, f)) for f in _FALSE_TRUE_FIELDS if len(getattr(control, f))}
    issues: list[ConfigIssue] = []
    if kind in seen_kinds:
        issues.append(
            ConfigIssue(
                f"{path}.kind",
                f"sequence batching specifies multiple {kind_name} tensors for {label}",
            )
        )
    seen_kinds.add(kind)
    if kind == _Control.CONTROL_SEQUENCE_CORRID:
        # The correlation id is a typed value, not a boolean flag.
        if given:
            issues.append(
                ConfigIssue(
                    path,
                    "sequence batching must not specify either 'int32_false_true', "
                    f"'fp32_false_true' or 'bool_false_true' for {kind_name} for {label}",
                )
            )
        if int(control.data_type) not in _CORRID_TYPES:
            issues.append(
                ConfigIssue(
                    f"{path}.data_type",
                    f"unexpected data type for control {kind_name} for {label}. Allowed data "
                    "types are TYPE_UINT64, TYPE_INT64, TYPE_UINT32, TYPE_INT32 and TYPE_STRING",
                )
            )
        return issues
    if not given:
        issues.append(
            ConfigIssue(
                path,
                "sequence batching must specify either 'int32_false_true', 'fp32_false_true' "
                f"or 'bool_false_true' for {kind_name} for {label}",
            )
        )
    elif len(given) > 1:
        issues.append(
            ConfigIssue(
                path,
                "sequence batching specifies more than one from 'int32_false_true', "
                f"'fp32_false_true' and 'bool_false_true' for {kind_name} for {label}",
            )
        )
    else:
        ((field, size),) = given.items()
        if size != 2:
            issues.append(
                ConfigIssue(
                    f"{path}.{field}",
                    f"sequence batching control '{field}' must have exactly 2 entries for "
                    f"{kind_name} for {label} (got {size})",
                )
            )
    return issues


# --------------------------------------------------------------------------- misc fields


def _check_model_metrics(metrics: model_config_pb2.ModelMetrics) -> list[ConfigIssue]:
    """ValidateModelMetrics: each metric control names a family and non-empty buckets."""
    issues: list[ConfigIssue] = []
    for index, control in enumerate(metrics.metric_control):
        path = f"model_metrics.metric_control[{index}]"
        if not control.HasField("metric_identifier"):
            issues.append(
                ConfigIssue(
                    f"{path}.metric_identifier",
                    "metric control must specify 'metric_identifier'",
                )
            )
        elif not str(control.metric_identifier.family):
            issues.append(
                ConfigIssue(
                    f"{path}.metric_identifier.family",
                    "metric identifier must specify non-empty 'family'",
                )
            )
        if not control.HasField("histogram_options"):
            issues.append(
                ConfigIssue(
                    f"{path}.histogram_options",
                    "metric control must specify 'histogram_options'",
                )
            )
        elif len(control.histogram_options.buckets) == 0:
            issues.append(
                ConfigIssue(
                    f"{path}.histogram_options.buckets",
                    "histogram options must specify non-empty 'buckets' (the histogram's "
                    "upper bounds, for example [ 1, 2, 4, 8 ])",
                )
            )
    return issues


def _first_unsafe_char(value: str, *, allow_slash: bool) -> str | None:
    """The first character that may not appear in a file name Triton joins onto a path."""
    for char in value:
        if char in _UNSAFE_PATH_CHARS or ord(char) < 0x20 or (char == "/" and not allow_slash):
            return char
    return None


def _plain_file_name_issue(field: str, label: str, value: str, inside: str) -> ConfigIssue | None:
    """`value` must be one file name inside `inside` (no path, no '..', nothing unsafe)."""
    if "/" in value:
        return ConfigIssue(
            field,
            f"{label} {value!r} is a path, and Triton joins it onto {inside}: it must be a "
            "plain file name there (no '/', no '..')",
        )
    bad = _first_unsafe_char(value, allow_slash=False)
    if bad is not None:
        return ConfigIssue(
            field,
            f"{label} {value!r} contains an invalid character: '{bad}'; it must be a plain "
            f"file name inside {inside}",
        )
    if value in (".", ".."):
        return ConfigIssue(
            field, f"{label} {value!r} is not a file name; it must name a file inside {inside}"
        )
    return None


def check_file_names(config: model_config_pb2.ModelConfig) -> list[ConfigIssue]:
    """Every field Triton joins onto a path must stay inside its directory:
    `default_model_filename` and `cc_model_filenames` (files in the version folder),
    `model_warmup[].inputs[].input_data_file` (a file in the model's `warmup/` folder),
    `output[].label_filename` (a file in the model folder), `runtime` and `backend`."""
    issues: list[ConfigIssue] = []
    for capability, file_name in sorted(config.cc_model_filenames.items()):
        issue = _plain_file_name_issue(
            f"cc_model_filenames.{capability}",
            f"cc_model_filenames[{capability!r}]",
            str(file_name),
            "the version folder",
        )
        if issue:
            issues.append(issue)
    for index, warmup in enumerate(config.model_warmup):
        for key, data in sorted(warmup.inputs.items()):
            if data.WhichOneof("input_data_type") != "input_data_file":
                continue
            issue = _plain_file_name_issue(
                f"model_warmup[{index}].inputs.{key}.input_data_file",
                "warmup input_data_file",
                str(data.input_data_file),
                "the model's warmup/ folder",
            )
            if issue:
                issues.append(issue)
    for index, output in enumerate(config.output):
        if output.label_filename:
            issue = _plain_file_name_issue(
                f"output[{index}].label_filename",
                "label_filename",
                str(output.label_filename),
                "the model folder",
            )
            if issue:
                issues.append(issue)
    backend = str(config.backend)
    # Triton loads <backend-directory>/<backend>/libtriton_<backend>.so (backend_model.cc):
    # a backend name is one folder name, never a path (found by fuzzing import-triton).
    if backend and (
        backend in (".", "..") or _first_unsafe_char(backend, allow_slash=False) is not None
    ):
        issues.append(
            ConfigIssue(
                "backend",
                f"backend {backend!r} is not a backend name: Triton loads "
                "<backend-directory>/<backend>/libtriton_<backend>.so, so it must be one "
                "folder name (such as python or onnxruntime), not a path",
            )
        )
    filename = str(config.default_model_filename)
    if filename:
        bad = _first_unsafe_char(filename, allow_slash=False)
        if bad is not None:
            issues.append(
                ConfigIssue(
                    "default_model_filename",
                    f"default_model_filename {filename!r} contains an invalid character: "
                    f"'{bad}'; it must be a plain file name inside the version folder",
                )
            )
        elif filename in (".", ".."):
            issues.append(
                ConfigIssue(
                    "default_model_filename",
                    f"default_model_filename {filename!r} is not a file name; it must name "
                    "a file inside the version folder",
                )
            )
    runtime = str(config.runtime)
    if runtime:
        parts = runtime.split("/")
        bad = _first_unsafe_char(runtime, allow_slash=True)
        if runtime.startswith("/") or ".." in parts:
            issues.append(
                ConfigIssue(
                    "runtime",
                    f"backend library name {runtime!r} escapes backend directory; 'runtime' "
                    "must name a file inside the backend's folder (for example "
                    "libtriton_identity.so or model.py)",
                )
            )
        elif bad is not None:
            issues.append(
                ConfigIssue(
                    "runtime",
                    f"backend library name {runtime!r} contains an invalid character: '{bad}'",
                )
            )
    return issues


# --------------------------------------------------------------------------- ensembles


def _check_ensemble_structure(
    config: model_config_pb2.ModelConfig, name: str, label: str
) -> list[ConfigIssue]:
    """ValidateEnsembleSchedulingConfig: fields an ensemble may not set, steps, data flow."""
    is_platform = str(config.platform) == ENSEMBLE_PLATFORM
    has_scheduling = bool(config.HasField("ensemble_scheduling"))
    issues: list[ConfigIssue] = []
    if has_scheduling and not is_platform:
        issues.append(
            ConfigIssue(
                "ensemble_scheduling",
                f"ensemble scheduling cannot be set for model '{label}' whose platform is not "
                'ensemble; set platform: "ensemble" or remove ensemble_scheduling',
            )
        )
    if is_platform and not has_scheduling:
        issues.append(
            ConfigIssue(
                "ensemble_scheduling",
                f"ensemble scheduling must be set for ensemble {label} whose platform is ensemble",
            )
        )
    if is_platform:
        # An ensemble runs no code of its own: its steps' models carry these settings.
        if len(config.instance_group):
            issues.append(
                ConfigIssue(
                    "instance_group",
                    f"instance group should not be specified for ensemble '{label}'; set "
                    "instance groups on the composing models",
                )
            )
        if config.HasField("optimization"):
            issues.append(
                ConfigIssue(
                    "optimization",
                    f"optimization should not be specified for ensemble '{label}'",
                )
            )
        if len(config.model_warmup):
            issues.append(
                ConfigIssue(
                    "model_warmup",
                    f"model_warmup can not be specified for ensemble '{label}'; warm up the "
                    "composing models instead",
                )
            )
    if not has_scheduling:
        return issues
    steps = list(config.ensemble_scheduling.step)
    if not steps:
        issues.append(
            ConfigIssue(
                "ensemble_scheduling.step",
                f"must specify 'step' for ensemble '{label}'; an ensemble needs at least one step",
            )
        )
        return issues
    for index, step in enumerate(steps):
        path = f"ensemble_scheduling.step[{index}]"
        step_model = str(step.model_name)
        if not step_model:
            issues.append(
                ConfigIssue(
                    f"{path}.model_name",
                    f"must specify 'model_name' in step {index} of ensemble '{label}'",
                )
            )
        elif name and step_model == name:
            issues.append(
                ConfigIssue(
                    f"{path}.model_name",
                    f"circular dependency between ensembles: {name} -> {name}; step {index} "
                    "calls the ensemble itself",
                )
            )
        for field in ("input_map", "output_map"):
            if not len(getattr(step, field)):
                issues.append(
                    ConfigIssue(
                        f"{path}.{field}",
                        f"must specify '{field}' in step {index} of ensemble '{label}'",
                    )
                )
    if is_platform:
        # Without platform "ensemble" Triton stops at the first issue above; tracing the data
        # flow of what may be a half-written config would only bury it.
        issues += _check_data_flow(config, steps, label)
    return issues


def _sorted_map(mapping: Mapping[str, str]) -> list[tuple[str, str]]:
    """A protobuf map<string, string> as (key, value) pairs, by key (maps are unordered)."""
    return sorted((str(k), str(v)) for k, v in mapping.items())


def _check_data_flow(
    config: model_config_pb2.ModelConfig, steps: Sequence[_Step], label: str
) -> list[ConfigIssue]:
    """Tensors written once, inputs used, outputs written, no dangling intermediates."""
    inputs = [str(io.name) for io in config.input]
    outputs = [str(io.name) for io in config.output]
    issues: list[ConfigIssue] = []
    writer: dict[str, tuple[int, str]] = {}  # tensor -> (step, output_map key)
    readers: dict[str, list[tuple[int, str]]] = {}
    step_inputs: list[set[str]] = []
    step_outputs: list[set[str]] = []
    for index, step in enumerate(steps):
        for key, tensor in _sorted_map(step.output_map):
            if tensor in writer:
                first_step, first_key = writer[tensor]
                issues.append(
                    ConfigIssue(
                        f"ensemble_scheduling.step[{index}].output_map[{key}]",
                        f"ensemble tensor '{tensor}' can appear in an output map only once for "
                        f"ensemble '{label}' (step {first_step} already writes it from "
                        f"{first_key}); give each step output its own tensor",
                    )
                )
            else:
                writer[tensor] = (index, key)
        consumed = _sorted_map(step.input_map)
        for key, tensor in consumed:
            readers.setdefault(tensor, []).append((index, key))
        step_inputs.append({tensor for _, tensor in consumed})
        step_outputs.append({tensor for _, tensor in _sorted_map(step.output_map)})

    for index, tensor in enumerate(inputs):
        if tensor not in readers and tensor not in writer:
            issues.append(
                ConfigIssue(
                    f"input[{index}]",
                    f"ensemble input '{tensor}' for ensemble '{label}' is not used: no step "
                    "reads it in its input_map",
                )
            )

    # Data flows from the ensemble inputs; a step runs once all it reads is ready. A step
    # that reads nothing never runs (core walks the graph from the inputs).
    ready = set(inputs)
    pending = [i for i in range(len(steps)) if step_inputs[i]]
    progressed = True
    while progressed:
        progressed = False
        for index in list(pending):
            if step_inputs[index] <= ready:
                ready |= step_outputs[index]
                pending.remove(index)
                progressed = True

    flow_issues: list[ConfigIssue] = []
    for tensor, reads in sorted(readers.items()):
        if tensor not in writer and tensor not in inputs:
            index, key = reads[0]
            flow_issues.append(
                ConfigIssue(
                    f"ensemble_scheduling.step[{index}].input_map[{key}]",
                    f"ensemble tensor '{tensor}' read by step {index} of ensemble '{label}' is "
                    "neither an ensemble input nor written by any step's output_map",
                )
            )
    for tensor, (index, key) in sorted(writer.items()):
        if tensor not in readers and tensor not in outputs:
            flow_issues.append(
                ConfigIssue(
                    f"ensemble_scheduling.step[{index}].output_map[{key}]",
                    f"ensemble tensor '{tensor}' is unused in ensemble '{label}': step {index} "
                    "writes it but no step reads it and it is not an ensemble output",
                )
            )
    for index, tensor in enumerate(outputs):
        if tensor not in writer and tensor not in inputs:
            flow_issues.append(
                ConfigIssue(
                    f"output[{index}]",
                    f"ensemble output '{tensor}' for ensemble '{label}' is not written: no "
                    "step's output_map writes it",
                )
            )
    issues += flow_issues
    if not flow_issues and all(step_inputs):
        # Everything read is written somewhere and every step reads something, yet a tensor
        # never becomes ready: the steps wait on each other.
        stuck = sorted(t for t in writer if t not in ready)
        if stuck:
            issues.append(
                ConfigIssue(
                    "ensemble_scheduling.step",
                    f"ensemble tensors {', '.join(repr(t) for t in stuck)} of ensemble "
                    f"'{label}' can never be computed: their steps depend on each other in a "
                    "cycle",
                )
            )
    return issues


@dataclass(frozen=True)
class _TensorNode:
    """What one side of a mapping says about an ensemble tensor (ensemble_utils.cc)."""

    model: str
    data_type: int
    dims: tuple[int, ...]
    batching: bool

    @property
    def full_dims(self) -> tuple[int, ...]:
        """The shape with the implicit batch dimension of a batching model in front."""
        return ((_WILDCARD_DIM,) if self.batching else ()) + self.dims


def _dims_match(left: Sequence[int], right: Sequence[int]) -> bool:
    """CompareDimsWithWildcard: same rank, and each pair equal or one of them -1."""
    return len(left) == len(right) and all(
        a == b or _WILDCARD_DIM in (a, b) for a, b in zip(left, right, strict=True)
    )


def _dims_text(dims: Sequence[int]) -> str:
    return "[" + ",".join(str(d) for d in dims) + "]"


def _consistency(
    field: str, prefix: str, known: _TensorNode, new: _TensorNode
) -> list[ConfigIssue]:
    """ValidateTensorConsistency: both sides agree on data type and shape."""
    issues: list[ConfigIssue] = []
    if known.data_type != new.data_type:
        issues.append(
            ConfigIssue(
                field,
                f"{prefix}inconsistent data type: {_enum_name(_DataType, known.data_type)} is "
                f"inferred from model {known.model} while "
                f"{_enum_name(_DataType, new.data_type)} is inferred from model {new.model}",
            )
        )
    # A non-batching model's [-1, d...] may meet a batching model's [d...]: compare the
    # shapes with the batch dimension too.
    if not _dims_match(known.dims, new.dims) and not _dims_match(known.full_dims, new.full_dims):
        issues.append(
            ConfigIssue(
                field,
                f"{prefix}inconsistent shape: {_dims_text(known.full_dims)} is inferred from "
                f"model {known.model} while {_dims_text(new.full_dims)} is inferred from model "
                f"{new.model}",
            )
        )
    return issues


def _io_node(model: str, io: _IO, batching: bool, *, use_reshape: bool) -> _TensorNode:
    """The tensor node of an input or output; an ensemble's own IO counts its reshape."""
    dims = io.reshape.shape if use_reshape and io.HasField("reshape") else io.dims
    return _TensorNode(model, int(io.data_type), tuple(int(d) for d in dims), batching)


def check_ensemble_connections(
    ensemble: model_config_pb2.ModelConfig,
    composing: Mapping[str, model_config_pb2.ModelConfig],
) -> list[ConfigIssue]:
    """Rules that need the step models' configs: names, types and shapes across mappings.

    Args:
        ensemble: the ensemble's config.
        composing: the configs of the models its steps name, keyed by model name, complete
            as the server would hold them (after auto-complete). Ensembles among them are
            followed to find circular dependencies.

    A step naming the ensemble itself is left to `check_model_config`.
    """
    if not ensemble.HasField("ensemble_scheduling"):
        return []
    name = str(ensemble.name) or next(
        (key for key, value in composing.items() if value is ensemble or value == ensemble), ""
    )
    label = name or "<unnamed ensemble>"
    ensemble_batch = int(ensemble.max_batch_size)
    batching = ensemble_batch > 0
    tensors: dict[str, _TensorNode] = {}
    for io in list(ensemble.input) + list(ensemble.output):
        tensors.setdefault(str(io.name), _io_node(label, io, batching, use_reshape=True))

    issues: list[ConfigIssue] = []
    for index, step in enumerate(ensemble.ensemble_scheduling.step):
        step_model = str(step.model_name)
        if not step_model or step_model == name:
            continue  # reported by check_model_config
        path = f"ensemble_scheduling.step[{index}]"
        model = composing.get(step_model)
        if model is None:
            issues.append(
                ConfigIssue(
                    f"{path}.model_name",
                    f"step {index} of ensemble {label} uses model '{step_model}', which is not "
                    "among the composing models; add it to the repository or fix 'model_name'",
                )
            )
            continue
        issues += _check_step(index, step, step_model, model, label, ensemble_batch, tensors)
    if name:
        issues += _cycle_issues(ensemble, name, composing)
    return issues


def _check_step(
    index: int,
    step: _Step,
    step_model: str,
    model: model_config_pb2.ModelConfig,
    label: str,
    ensemble_batch: int,
    tensors: dict[str, _TensorNode],
) -> list[ConfigIssue]:
    """ValidateTensorMapping for one step, registering the tensors it touches."""
    path = f"ensemble_scheduling.step[{index}]"
    prefix = f"in ensemble {label}, "
    model_batch = int(model.max_batch_size)
    batching = model_batch > 0
    issues: list[ConfigIssue] = []
    # A non-batching model (0) accepts whatever the ensemble passes as a full shape.
    if model_batch != 0 and model_batch < ensemble_batch:
        issues.append(
            ConfigIssue(
                "max_batch_size",
                f"ensemble {label} allows maximum batch size {ensemble_batch}, but it contains "
                f"model {step_model} which only allows maximum batch size to be {model_batch}; "
                f"lower the ensemble's max_batch_size to at most {model_batch}",
            )
        )
    model_inputs = {str(io.name): io for io in model.input}
    input_map = dict(_sorted_map(step.input_map))
    for key, tensor in input_map.items():
        if key not in model_inputs:
            known = ", ".join(sorted(model_inputs)) or "none"
            issues.append(
                ConfigIssue(
                    f"{path}.input_map[{key}]",
                    f"{prefix}ensemble tensor {tensor} is mapping to non-existing input {key} "
                    f"in model {step_model} (its inputs: {known})",
                )
            )
    for io_name, io in model_inputs.items():
        if io_name not in input_map:
            if not bool(io.optional):
                issues.append(
                    ConfigIssue(
                        f"{path}.input_map",
                        f"{prefix}input {io_name} in model {step_model} is not mapped to any "
                        "ensemble tensors",
                    )
                )
            continue
        tensor = input_map[io_name]
        issues += _register(
            tensors,
            tensor,
            _io_node(step_model, io, batching, use_reshape=False),
            f"{path}.input_map[{io_name}]",
            f"{prefix}ensemble tensor {tensor}: ",
        )
    model_outputs = {str(io.name): io for io in model.output}
    for key, tensor in _sorted_map(step.output_map):
        output = model_outputs.get(key)
        if output is None:
            known = ", ".join(sorted(model_outputs)) or "none"
            issues.append(
                ConfigIssue(
                    f"{path}.output_map[{key}]",
                    f"{prefix}ensemble tensor {tensor} is mapped from non-existing output {key} "
                    f"in model {step_model} (its outputs: {known})",
                )
            )
            continue
        issues += _register(
            tensors,
            tensor,
            _io_node(step_model, output, batching, use_reshape=False),
            f"{path}.output_map[{key}]",
            f"{prefix}ensemble tensor {tensor}: ",
        )
    return issues


def _register(
    tensors: dict[str, _TensorNode], tensor: str, node: _TensorNode, field: str, prefix: str
) -> list[ConfigIssue]:
    """Record what a mapping says about a tensor; the first word on it is the reference."""
    known = tensors.setdefault(tensor, node)
    return [] if known is node else _consistency(field, prefix, known, node)


def _cycle_issues(
    ensemble: model_config_pb2.ModelConfig,
    name: str,
    composing: Mapping[str, model_config_pb2.ModelConfig],
) -> list[ConfigIssue]:
    """Each step whose model leads, through nested ensembles, back to this ensemble."""

    def callees(model: str) -> list[str]:
        config = ensemble if model == name else composing.get(model)
        if config is None or not config.HasField("ensemble_scheduling"):
            return []
        return [str(s.model_name) for s in config.ensemble_scheduling.step if s.model_name]

    issues: list[ConfigIssue] = []
    reported: set[str] = set()
    for index, step in enumerate(ensemble.ensemble_scheduling.step):
        first = str(step.model_name)
        if not first or first == name or first in reported:
            continue
        reported.add(first)
        cycle = _path_back(first, name, callees)
        if cycle:
            issues.append(
                ConfigIssue(
                    f"ensemble_scheduling.step[{index}].model_name",
                    "circular dependency between ensembles: " + " -> ".join([name, *cycle]),
                )
            )
    return issues


def _path_back(start: str, target: str, callees: Callable[[str], list[str]]) -> list[str] | None:
    """A call path from `start` to `target` (both included), depth first, or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    visited = {start}
    while stack:
        model, path = stack.pop()
        for callee in callees(model):
            if callee == target:
                return [*path, target]
            if callee not in visited:
                visited.add(callee)
                stack.append((callee, [*path, callee]))
    return None
