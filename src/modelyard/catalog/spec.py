"""The model spec: one version of one model, as a team declares it in a manifest.

Manifest keys keep the seed notebook's names (`resource_requirements`,
`sla_requirements`, ...) and its defaults, so the notebook's models load unchanged.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
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

    memory_mb: Annotated[int, Field(gt=0)] = 2048
    gpu_memory_mb: Annotated[int, Field(ge=0)] = 4096
    cpu_cores: Annotated[float, Field(gt=0, le=4096, allow_inf_nan=False)] = 2
    max_batch_size: Annotated[int, Field(ge=0, le=1_000_000)] = 32
    instance_count: Annotated[int, Field(ge=1, le=1024)] = 1


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
    def _check_example(cls, value: list[Any] | None) -> list[Any] | None:
        if value is not None:
            check_json_data(value)
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

    replicas: Annotated[int, Field(ge=1, le=64)] | None = None
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
    triton_version: Annotated[int, Field(ge=1, le=999_999_999)] | None = None
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
