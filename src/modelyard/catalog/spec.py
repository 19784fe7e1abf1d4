"""The model spec: one version of one model, as a team declares it in a manifest.

Manifest keys keep the seed notebook's names (`resource_requirements`,
`sla_requirements`, ...) and its defaults, so the notebook's models load unchanged.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from modelyard.catalog.naming import check_name, model_id, split_model_id
from modelyard.catalog.version import Version, VersionConstraint

Framework = Literal["pytorch", "tensorflow", "onnx", "tensorrt", "python", "ensemble"]
FRAMEWORKS: tuple[str, ...] = ("pytorch", "tensorflow", "onnx", "tensorrt", "python", "ensemble")

# Triton's tensor data types (model_config.proto DataType without the TYPE_ prefix).
DataType = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BF16",
    "STRING",
]

# At most 64 characters, as the catalog's column holds (PostgreSQL enforces it, SQLite not).
_MODEL_TYPE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
_TEAM_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
# ONNX and TensorFlow name tensors like `feature_fusion/concat_3:0`; Triton accepts them.
_TENSOR_NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}")
_DEPENDENCY_PATTERN = re.compile(r"\s*([^\s/<>=!~,]+)/([^\s/<>=!~,]+)\s*(.*)")

# The content of a version that makes it that version; `artifact` is only where the
# file lies on the registering machine, its digest is what identifies it.
_LOCATION_FIELDS = frozenset({"artifact"})


class ItemError(ValueError):
    """A list-level check that blames one entry: the manifest loader points at its line."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


JSON_DATA_MAX_VALUES = 2_000_000
DIM_MAX = 2**63 - 1

# The documented range of every number in a manifest (README: "Manifest limits"). Triton
# holds counts and sizes in 32- and 64-bit integers; these maxima are far above any real
# model yet far below where sums over a catalog of 50,000 models, or their conversion to
# floats for reports, could overflow.
MEMORY_MB_MAX = 16 * 1024 * 1024  # 16 TiB of host memory for one instance
GPU_MEMORY_MB_MAX = 1024 * 1024  # 1 TiB on one GPU for one instance
CPU_CORES_MAX = 4096
MAX_BATCH_SIZE_MAX = 1_000_000
INSTANCE_COUNT_MAX = 1024
REPLICAS_MAX = 64
TRITON_VERSION_MAX = 999_999_999
# Far deeper than any ModelConfig or tensor example, far below the limits of pydantic's
# and protobuf's serialisers (which fail with errors of their own above them).
JSON_DATA_MAX_DEPTH = 64


def check_json_data(value: Any) -> None:
    """Raise ValueError unless `value` is plain JSON data: strings, finite numbers,
    true/false, null, lists and mappings with string keys. The message starts with the
    path inside `value` (`dynamic_batching.max_queue_delay_microseconds`, `[2]`).

    `triton` blocks become a ModelConfig through protobuf's JSON mapping and examples are
    sent to Triton as JSON, but YAML can also write binary data (`!!binary`), dates,
    `.nan`/`.inf` and anchors that contain themselves, which would fail (or silently
    change) later, after the version was published.
    """
    # Iterative, so that deep nesting cannot exhaust Python's stack; counted, so that
    # aliases of aliases (a "billion laughs") cannot expand without end later on.
    pending: list[tuple[Any, str, frozenset[int]]] = [(value, "", frozenset())]
    count = 0
    while pending:
        item, path, containers = pending.pop()
        where = (path if len(path) <= 60 else path[:57] + "...") or "the value"
        count += 1
        if count > JSON_DATA_MAX_VALUES:
            raise ValueError(
                f"holds more than {JSON_DATA_MAX_VALUES} values once YAML aliases "
                "are expanded; write a smaller value"
            )
        if item is None or isinstance(item, (bool, int, str)):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(
                    f"{where}: {item} is not a finite number; write a number "
                    "(JSON has no NaN or infinity)"
                )
            continue
        if isinstance(item, (list, dict)):
            if id(item) in containers:
                raise ValueError(
                    f"{where}: contains itself (a YAML alias inside its own "
                    "anchor); write the value out"
                )
            if len(containers) >= JSON_DATA_MAX_DEPTH:
                raise ValueError(
                    f"{where}: nested more than {JSON_DATA_MAX_DEPTH} levels deep; flatten it"
                )
            inner = containers | {id(item)}
            if isinstance(item, list):
                pending += [(each, f"{path}[{i}]", inner) for i, each in enumerate(item)]
                continue
            for key, each in item.items():
                if not isinstance(key, str):
                    raise ValueError(f"{where}: key {key!r} must be a string; quote it")
                pending.append((each, f"{path}.{key}" if path else key, inner))
            continue
        kind = (
            "binary data (!!binary)"
            if isinstance(item, (bytes, bytearray))
            else f"a {type(item).__name__}"
        )
        raise ValueError(
            f"{where}: expected JSON data (a string, number, true/false, null, "
            f"list or mapping), got {kind}; quote it as a string"
        )


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


@dataclass(frozen=True, slots=True)
class Dependency:
    """`domain/name` plus an optional version constraint, e.g. `search/parser>=1.0,<2`."""

    model_id: str
    constraint: VersionConstraint

    @classmethod
    def parse(cls, value: str) -> Dependency:
        match = _DEPENDENCY_PATTERN.fullmatch(value)
        if match is None:
            raise ValueError(
                f"dependency {value!r} must be domain/name with an optional version "
                "constraint, e.g. 'recommendation/user_embedding>=1.0,<2'"
            )
        domain, name, constraint = match.groups()
        split_model_id(f"{domain}/{name}")
        if constraint and constraint.lstrip()[0] not in "<>=!~":
            raise ValueError(
                f"dependency {value!r} must be domain/name followed by a version constraint "
                "starting with <, >, =, ! or ~ (e.g. '>=1.0,<2')"
            )
        return cls(model_id(domain, name), VersionConstraint.parse(constraint))

    def __str__(self) -> str:
        return f"{self.model_id}{self.constraint}"


class Resources(_Strict):
    """What one instance of the model needs (the seed's `resource_requirements`)."""

    memory_mb: Annotated[int, Field(gt=0, le=MEMORY_MB_MAX)] = 2048
    gpu_memory_mb: Annotated[int, Field(ge=0, le=GPU_MEMORY_MB_MAX)] = 4096
    cpu_cores: Annotated[float, Field(gt=0, le=CPU_CORES_MAX, allow_inf_nan=False)] = 2
    max_batch_size: Annotated[int, Field(ge=0, le=MAX_BATCH_SIZE_MAX)] = 32
    instance_count: Annotated[int, Field(ge=1, le=INSTANCE_COUNT_MAX)] = 1


class Sla(_Strict):
    """Service-level targets (the seed's `sla_requirements`)."""

    max_latency_p99_ms: Annotated[float, Field(gt=0, le=3_600_000, allow_inf_nan=False)] = 100
    min_throughput_rps: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] = 10
    availability: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.999


class TensorSpec(_Strict):
    """One input or output tensor as Triton declares it."""

    name: str
    data_type: DataType
    dims: list[int]
    # One request's worth of values (flattened), sent as the smoke test after a deploy.
    example: list[Any] | None = None

    @field_validator("example")
    @classmethod
    def _check_example(cls, value: list[Any] | None, info: ValidationInfo) -> list[Any] | None:
        if value is not None:
            check_json_data(value)
            data_type, dims = info.data.get("data_type"), info.data.get("dims")
            if data_type is not None and dims is not None:  # else those fields' own errors
                problem = example_problem(value, data_type, dims)
                if problem:
                    raise ValueError(problem)
        return value

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _TENSOR_NAME_PATTERN.fullmatch(value):
            raise ValueError(
                f"tensor name {value!r} must be letters, digits, '_', '.', ':', '/' or '-'"
            )
        return value

    @field_validator("data_type", mode="before")
    @classmethod
    def _strip_type_prefix(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.upper()
            return value.removeprefix("TYPE_")
        return value

    @field_validator("dims")
    @classmethod
    def _check_dims(cls, value: list[int]) -> list[int]:
        for dim in value:
            if dim == 0 or dim < -1:
                raise ValueError(f"dims must be positive or -1 (variable), got {dim}")
            if dim > DIM_MAX:
                raise ValueError(
                    f"dims must be at most {DIM_MAX} (Triton's dims are 64-bit integers), got {dim}"
                )
        return value


# The values Triton's JSON inference protocol accepts in a tensor of each data type.
_INT_RANGES: dict[str, tuple[int, int]] = {
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
    "UINT8": (0, 2**8 - 1),
    "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**64 - 1),
}
_FLOAT_MAX: dict[str, float] = {
    "FP16": 65504.0,
    "BF16": 3.3895313892515355e38,
    "FP32": 3.4028234663852886e38,
    "FP64": sys.float_info.max,
}


def example_problem(example: Sequence[Any], data_type: str, dims: Sequence[int]) -> str | None:
    """Why `example` cannot be one request's (batch of one) flattened values of a tensor
    of `data_type` and `dims`, or None. The smoke test after a deploy sends exactly these
    values (triton/inputs.py), so a wrong count or type would fail every deploy."""
    fixed = 1
    for dim in dims:
        if dim > 0:
            fixed *= dim
            if fixed > len(example):
                break  # enough to know; dims may be huge
    is_variable = any(dim < 0 for dim in dims)
    count = len(example)
    if is_variable and (count == 0 or count % fixed):
        return (
            f"{count} values for dims {list(dims)}: a variable dimension (-1) takes a "
            f"positive multiple of {fixed} values (the product of the fixed dims); give "
            "one request's values, flattened"
        )
    if not is_variable and count != fixed:
        expected = "1 value" if fixed == 1 else f"{fixed} values"
        return (
            f"{count} values for dims {list(dims)}, which hold {expected} (one request, "
            "flattened, without the batch dimension); give exactly that many"
        )
    for index, value in enumerate(example):
        reason = _value_problem(value, data_type)
        if reason:
            return f"[{index}]: {reason}"
    return None


def _value_problem(value: Any, data_type: str) -> str | None:
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    if data_type == "BOOL":
        return None if isinstance(value, bool) else f"{shown} is not true or false (BOOL)"
    if data_type == "STRING":
        return None if isinstance(value, str) else f"{shown} is not a string (STRING); quote it"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{shown} is not a number ({data_type})"
    if data_type in _INT_RANGES:
        low, high = _INT_RANGES[data_type]
        if not isinstance(value, int):
            return f"{shown} is not an integer ({data_type})"
        if not low <= value <= high:
            return f"{shown} is outside {data_type}'s range {low}..{high}"
        return None
    limit = _FLOAT_MAX[data_type]
    if abs(value) > limit:
        return f"{shown} is outside {data_type}'s range (at most {limit:g} in magnitude)"
    return None


class EnsembleStep(_Strict):
    """One step of an ensemble: which dependency runs, and how tensors connect.

    As in Triton's `ensemble_scheduling.step`: `input_map` maps the step model's input
    names to ensemble tensor names, `output_map` its output names to ensemble tensors.
    """

    model: str
    input_map: dict[str, str]
    output_map: dict[str, str]

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str) -> str:
        split_model_id(value)
        return value

    @field_validator("input_map", "output_map")
    @classmethod
    def _check_map(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("must map at least one tensor")
        for key, tensor in value.items():
            for name in (key, tensor):
                if not _TENSOR_NAME_PATTERN.fullmatch(name):
                    raise ValueError(
                        f"tensor name {name!r} must be letters, digits, '_', '.', ':', '/' or '-'"
                    )
        return value


class PlacementSpec(_Strict):
    """Where a model may run. `replicas` overrides the rule derived from availability
    (>= 0.999 asks for two replicas on different servers); `requires` must match the
    labels of a server (e.g. `{gpu: a100}`)."""

    replicas: Annotated[int, Field(ge=1, le=REPLICAS_MAX)] | None = None
    requires: dict[str, str] = Field(default_factory=dict)


class Ensemble(_Strict):
    steps: list[EnsembleStep]

    @field_validator("steps")
    @classmethod
    def _check_steps(cls, value: list[EnsembleStep]) -> list[EnsembleStep]:
        if not value:
            raise ValueError("an ensemble needs at least one step")
        return value


class ModelSpec(_Strict):
    """One version of one model: immutable once registered."""

    name: str
    version: str
    model_type: str
    framework: Framework
    domain: str
    owner_team: str
    description: Annotated[str, Field(max_length=4000)] = ""
    dependencies: list[str] = Field(default_factory=list)
    resource_requirements: Resources = Field(default_factory=Resources)
    sla_requirements: Sla = Field(default_factory=Sla)
    artifact: str | None = None
    artifact_sha256: str | None = None
    inputs: list[TensorSpec] = Field(default_factory=list)
    outputs: list[TensorSpec] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    placement: PlacementSpec = Field(default_factory=PlacementSpec)
    # The Triton version folder; by default the catalog gives the next free integer.
    triton_version: Annotated[int, Field(ge=1, le=TRITON_VERSION_MAX)] | None = None
    ensemble: Ensemble | None = None
    triton: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _nulls_mean_defaults(cls, data: Any) -> Any:
        # The seed's JSON writes `null` for "use the defaults" (its __post_init__ rule).
        if isinstance(data, dict):
            defaulted = (
                "dependencies",
                "resource_requirements",
                "sla_requirements",
                "inputs",
                "outputs",
                "labels",
                "triton",
                "description",
            )
            if any(data.get(key, 0) is None for key in defaulted):
                data = {k: v for k, v in data.items() if not (k in defaulted and v is None)}
        return data

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return check_name(value, "name")

    @field_validator("domain")
    @classmethod
    def _check_domain(cls, value: str) -> str:
        return check_name(value, "domain")

    @field_validator("version", mode="before")
    @classmethod
    def _check_version(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            example = f"{value}.0" if isinstance(value, int) else str(value)
            raise ValueError(
                f'version must be a quoted string, e.g. "{example}" (YAML reads an '
                "unquoted 1.10 as the number 1.1, so quote every version)"
            )
        if isinstance(value, str):
            Version.parse(value)
        return value

    @field_validator("model_type")
    @classmethod
    def _check_model_type(cls, value: str) -> str:
        if not _MODEL_TYPE_PATTERN.fullmatch(value):
            raise ValueError(
                f"model_type {value!r} must be a lower-case word (at most 64 characters) such as "
                "'classification', 'embedding', 'generation' or 'ensemble'"
            )
        return value

    @field_validator("owner_team")
    @classmethod
    def _check_team(cls, value: str) -> str:
        if not _TEAM_PATTERN.fullmatch(value):
            raise ValueError(
                f"owner_team {value!r} must be lower-case letters, digits, '_', '.' or '-'"
            )
        return value

    @field_validator("dependencies")
    @classmethod
    def _check_dependencies(cls, value: list[str], info: ValidationInfo) -> list[str]:
        own_id = model_id(str(info.data.get("domain")), str(info.data.get("name")))
        seen: set[str] = set()
        normalised: list[str] = []
        for index, text in enumerate(value):
            try:
                dependency = Dependency.parse(text)
            except ValueError as exc:
                raise ItemError(str(exc), index) from None
            if dependency.model_id == own_id:
                raise ItemError(f"{own_id} cannot depend on itself", index)
            if dependency.model_id in seen:
                raise ItemError(f"{dependency.model_id} is listed more than once", index)
            seen.add(dependency.model_id)
            normalised.append(str(dependency))
        return normalised

    @field_validator("inputs", "outputs")
    @classmethod
    def _unique_tensor_names(cls, value: list[TensorSpec]) -> list[TensorSpec]:
        seen: set[str] = set()
        for index, tensor in enumerate(value):
            if tensor.name in seen:
                raise ItemError(f"tensor {tensor.name!r} is declared twice", index)
            seen.add(tensor.name)
        return value

    @field_validator("triton")
    @classmethod
    def _check_triton(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_json_data(value)
        problem = instance_group_problem(value.get("instance_group"))
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("artifact_sha256")
    @classmethod
    def _check_digest(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError("artifact_sha256 must be 64 lower-case hex digits")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> ModelSpec:
        # framework `ensemble` is Triton's ensemble platform; model_type `ensemble` alone
        # (the notebook allows it with any framework) may be e.g. a python model that
        # calls others itself.
        if self.framework == "ensemble" and self.model_type != "ensemble":
            raise ValueError(
                "framework 'ensemble' (Triton's ensemble platform) needs model_type 'ensemble'; "
                f"got model_type {self.model_type!r}"
            )
        if self.framework == "ensemble":
            if self.ensemble is None:
                raise ValueError("an ensemble lists its steps under `ensemble: {steps: [...]}`")
            if self.artifact is not None:
                raise ValueError("an ensemble has no artifact: Triton runs its steps")
            declared = {d.model_id for d in self.parsed_dependencies}
            for step in self.ensemble.steps:
                if step.model not in declared:
                    raise ValueError(
                        f"ensemble step model {step.model} must also be listed under "
                        "dependencies (with its version constraint)"
                    )
        elif self.ensemble is not None:
            raise ValueError("only a model with framework 'ensemble' has `ensemble` steps")
        return self

    @property
    def id(self) -> str:
        return model_id(self.domain, self.name)

    @property
    def ref(self) -> str:
        """`domain/name@version`, how messages and tables name one model version."""
        return f"{self.id}@{self.version}"

    @property
    def triton_name(self) -> str:
        """The Triton model (and folder) this version compiles to: `triton.name` when the
        manifest picks one, else `domain.name` (see triton/naming.py)."""
        override = self.triton.get("name")
        if isinstance(override, str) and override:
            return override
        return f"{self.domain}.{self.name}"

    @cached_property
    def parsed_version(self) -> Version:
        return Version.parse(self.version)

    @cached_property
    def declared_instances(self) -> int:
        """The instances of one replica: those of `triton.instance_group` when the block
        sets it (what Triton is given; a group's `count` times its listed `gpus`), else
        `resource_requirements.instance_count`. Placement and capacity count these
        (at most INSTANCE_COUNT_MAX)."""
        counted = _instance_group_total(self.triton.get("instance_group"))
        if counted is None:
            return self.resource_requirements.instance_count
        # Registration refuses more; a version stored before that is reported by
        # `range_problems` and counted at the maximum meanwhile.
        return min(counted, INSTANCE_COUNT_MAX)

    @cached_property
    def parsed_dependencies(self) -> tuple[Dependency, ...]:
        return tuple(Dependency.parse(text) for text in self.dependencies)

    def content(self) -> dict[str, Any]:
        """The content the author wrote: what identifies this version.

        Every field whose value equals its default is left out, recursively inside the
        nested models (`resource_requirements.gpu_memory_mb: 4096` written out counts
        the same as not written), and so is `artifact`, which is only where the file
        lies on the registering machine (`artifact_sha256` identifies the file). Values
        are the validated ones (normalised dependencies, `FP32` for `TYPE_FP32`), and
        `version` is canonical (`1.0` and `1.0.0` are one version).

        Leaving defaults out is what keeps identities stable: later features add
        optional manifest fields, and a new field with a default must not change the
        identity of every version registered before it existed.
        """
        data = self.model_dump(mode="json", exclude_defaults=True, exclude=set(_LOCATION_FIELDS))
        data["version"] = self.parsed_version.canonical
        return data

    def content_digest(self) -> str:
        """SHA-256 of `content()` as canonical JSON (sorted keys, no whitespace).

        A field added to the spec with a default leaves every digest as it was; changing
        the rule itself needs a migration that recomputes the stored digests.
        """
        return hashlib.sha256(canonical_json(self.content()).encode()).hexdigest()


def _as_count(value: Any) -> int | None:
    """A count as protobuf's JSON mapping reads one (an integer, or its digits quoted)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 30:
        return int(value)
    return None


def _instance_group_total(groups: Any) -> int | None:
    """Instances declared by a `triton.instance_group` value (None: it declares none).

    Triton gives a group without `count` (or a count below 1) one instance per listed
    GPU, and a KIND_GPU group without `gpus` one per GPU of the server: modelyard places
    all instances of a replica on one GPU, so such a group counts as one per listed GPU.
    """
    if not isinstance(groups, list) or not groups:
        return None
    total = 0
    for group in groups:
        if not isinstance(group, dict):
            continue  # not a ModelConfig; the registry's protobuf check says so
        count = _as_count(group.get("count"))
        gpus = group.get("gpus")
        per_gpu = max(count or 1, 1)
        total += per_gpu * (len(gpus) if isinstance(gpus, list) and gpus else 1)
    return total


def instance_group_problem(groups: Any) -> str | None:
    """Why a `triton.instance_group` value declares too many instances, or None."""
    if not isinstance(groups, list):
        return None
    for index, group in enumerate(groups):
        count = _as_count(group.get("count")) if isinstance(group, dict) else None
        if count is not None and count > INSTANCE_COUNT_MAX:
            return (
                f"instance_group[{index}].count: {count} instances is more than "
                f"{INSTANCE_COUNT_MAX}, the most one model may declare; give a smaller count "
                "(placement reserves memory and cores for each instance)"
            )
    total = _instance_group_total(groups)
    if total is not None and total > INSTANCE_COUNT_MAX:
        return (
            f"instance_group: {total} instances in all (counts times listed gpus) is more "
            f"than {INSTANCE_COUNT_MAX}, the most one model may declare; declare fewer"
        )
    return None


def _bounds(model: type[BaseModel]) -> dict[str, tuple[float | None, float | None, bool, bool]]:
    """Per numeric field of `model`: (low, high, low is exclusive, high is exclusive)."""
    out = {}
    for name, info in model.model_fields.items():
        low = high = None
        low_open = high_open = False
        for item in info.metadata:  # annotated_types' Gt, Ge, Lt, Le from Field(...)
            if getattr(item, "gt", None) is not None:
                low, low_open = item.gt, True
            elif getattr(item, "ge", None) is not None:
                low = item.ge
            if getattr(item, "lt", None) is not None:
                high, high_open = item.lt, True
            elif getattr(item, "le", None) is not None:
                high = item.le
        if low is not None or high is not None:
            out[name] = (low, high, low_open, high_open)
    return out


_RANGED: tuple[tuple[str, type[BaseModel]], ...] = (
    ("resource_requirements", Resources),
    ("sla_requirements", Sla),
)
_BOUNDS = {model: _bounds(model) for _, model in _RANGED}


def range_problems(spec: ModelSpec, *, examples: bool = True) -> list[tuple[str, str]]:
    """(field, reason) for every number of `spec` outside its documented range.

    Registration refuses such values; this finds them in versions a catalog already
    holds (registered before the ranges existed), which `trusted_spec` does not check,
    so that validation, reports and compiles report that version instead of failing on
    it (an integer of 400 digits overflows every float conversion). With `examples`,
    tensor examples that do not fit their dims and data type count too.
    """
    found: list[tuple[str, str]] = []
    for prefix, model in _RANGED:
        values = getattr(spec, prefix)
        for name, (low, high, low_open, high_open) in _BOUNDS[model].items():
            value = getattr(values, name, None)
            reason = _range_reason(value, low, high, low_open, high_open)
            if reason:
                found.append((f"{prefix}.{name}", reason))
    for field, value, low, high in (
        ("triton_version", spec.triton_version, 1, TRITON_VERSION_MAX),
        ("placement.replicas", spec.placement.replicas, 1, REPLICAS_MAX),
    ):
        reason = None if value is None else _range_reason(value, low, high, False, False)
        if reason:
            found.append((field, reason))
    for key in ("inputs", "outputs"):
        for index, tensor in enumerate(getattr(spec, key)):
            bad = [
                d for d in tensor.dims if not isinstance(d, int) or d == 0 or d < -1 or d > DIM_MAX
            ]
            if bad:
                found.append(
                    (f"{key}[{index}].dims", f"{_short(bad[0])} is not -1 or 1..{DIM_MAX}")
                )
            elif examples and tensor.example is not None:
                problem = example_problem(tensor.example, tensor.data_type, tensor.dims)
                if problem:
                    found.append((f"{key}[{index}].example", problem))
    problem = instance_group_problem(spec.triton.get("instance_group"))
    if problem:
        found.append(("triton", problem))
    return found


def within_ranges(spec: ModelSpec) -> ModelSpec:
    """`spec` itself when its resource and SLA numbers are in range, else a copy with
    each offending one moved to the nearest bound (a non-number to its default).

    For computations over a catalog that may hold versions registered before the
    ranges were checked (capacity sums, placement, reports): `range_problems` reports
    such a version, and this keeps one value from overflowing everyone's numbers.
    """
    updates: dict[str, Any] = {}
    for prefix, model in _RANGED:
        values = getattr(spec, prefix)
        changed: dict[str, Any] = {}
        for name, (low, high, low_open, high_open) in _BOUNDS[model].items():
            value = getattr(values, name, None)
            if _range_reason(value, low, high, low_open, high_open) is None:
                continue
            default = model.model_fields[name].default
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or (isinstance(value, float) and math.isnan(value))
            ):
                changed[name] = default
            elif high is not None and value > high:
                changed[name] = high
            else:
                changed[name] = default if low is None or low_open else low
        if changed:
            updates[prefix] = values.model_copy(update=changed)
    return spec.model_copy(update=updates) if updates else spec


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _range_reason(
    value: Any, low: float | None, high: float | None, low_open: bool, high_open: bool
) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{_short(value)} is not a number"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number"
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        lower = "" if low is None else f"{'>' if low_open else '>='} {low:,}"
        upper = "" if high is None else f"{'<' if high_open else '<='} {high:,}"
        return f"{_short(value)} is outside the range {' and '.join(filter(None, (lower, upper)))}"
    return None


def canonical_json(data: Any) -> str:
    """The one JSON spelling that content digests hash: sorted keys, no whitespace."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def trusted_spec(data: dict[str, Any]) -> ModelSpec:
    """Rebuild a spec from the catalog's own JSON without running validators again.

    Only for data the catalog wrote itself after full validation: decoding every
    version with validation dominated reading large catalogs.
    """
    fields = dict(data)
    fields["resource_requirements"] = Resources.model_construct(**fields["resource_requirements"])
    fields["sla_requirements"] = Sla.model_construct(**fields["sla_requirements"])
    fields["inputs"] = [TensorSpec.model_construct(**t) for t in fields.get("inputs", ())]
    fields["outputs"] = [TensorSpec.model_construct(**t) for t in fields.get("outputs", ())]
    if isinstance(fields.get("placement"), dict):
        fields["placement"] = PlacementSpec.model_construct(**fields["placement"])
    else:
        fields["placement"] = PlacementSpec.model_construct(replicas=None, requires={})
    if fields.get("ensemble") is not None:
        fields["ensemble"] = Ensemble.model_construct(
            steps=[EnsembleStep.model_construct(**step) for step in fields["ensemble"]["steps"]]
        )
    return ModelSpec.model_construct(**fields)


def differing_fields(old: ModelSpec, new: ModelSpec) -> list[str]:
    """Dotted names of the content fields whose values differ between two specs, e.g.
    `resource_requirements.gpu_memory_mb`: empty exactly when their digests are equal.

    Compares the two `content()` dicts, so a field left out on one side (its default)
    and written on the other differs; mappings are compared key by key, anything else
    (lists, numbers, strings) as a whole by its canonical JSON, as the digest sees it.
    """
    return sorted(_diff(old.content(), new.content(), ""))


_MISSING: Any = object()


def _diff(old: Any, new: Any, path: str) -> list[str]:
    if isinstance(old, dict) or isinstance(new, dict):
        # A nested model left out on one side holds only defaults there.
        old_map = {} if old is _MISSING else old
        new_map = {} if new is _MISSING else new
        if isinstance(old_map, dict) and isinstance(new_map, dict):
            out: list[str] = []
            for key in sorted(set(old_map) | set(new_map)):
                where = f"{path}.{key}" if path else key
                out += _diff(old_map.get(key, _MISSING), new_map.get(key, _MISSING), where)
            # Nothing inside differs, yet one side is missing: the other is an empty `{}`.
            return out if out or (old is not _MISSING and new is not _MISSING) else [path]
    if old is _MISSING or new is _MISSING:
        return [path]
    return [] if canonical_json(old) == canonical_json(new) else [path]
