"""Importing an existing Triton model repository into the catalog (`import-triton`).

Every model folder under the repository (a folder holding `config.pbtxt`; hidden
folders are skipped) becomes one catalog version per numeric version folder: folder
`N` is catalog version `N.0`. The config is parsed with protobuf, never as text.

The rule that makes `compile(import(x))` keep every field of every ModelConfig:

- The `triton` block of each imported spec is the *complete* original config
  (`MessageToDict(..., preserving_proto_field_name=True)`), and every other top-level
  ModelConfig field is written as `null`. The compiler applies the block last and
  replaces whole top-level fields, and protobuf's JSON mapping reads `null` as "unset",
  so nothing modelyard would generate (a dynamic_batching next to a sequence_batching,
  an instance_group, a `backend` beside a `platform`, ...) is added. Only three fields
  are left to the compiler when the original does not set them: `name` (always the
  original folder name, see below), `version_policy` (modelyard pins the versions it
  compiles) and `parameters` (modelyard's bookkeeping). An original that sets them keeps
  its own.
- The Triton model name is always the original folder name (`triton: {name: ...}`), so
  the compiled repository uses the same model names and ensemble steps still resolve.
  The catalog name is derived from it: lower-case, every character outside `[a-z0-9_-]`
  replaced by `_`, and `m` put in front of a leading `_` or `-`.
- Framework: `onnxruntime`/`onnxruntime_onnx` -> onnx, `pytorch`/`pytorch_libtorch` ->
  pytorch, `tensorflow*` -> tensorflow, `tensorrt`/`tensorrt_plan` -> tensorrt, `python`
  -> python, platform `ensemble` -> ensemble. A config with neither backend nor platform
  gets the framework Triton's auto-complete would pick from the version folder's model
  file (`model.onnx`, `model.plan`, ...), else from a `<name>.<backend>` folder name.
- Custom backends (identity, dali, fil, vllm, tensorrtllm, ...): the catalog has no
  framework for them, so they are stored as framework `python` (served from a version
  folder of files, which is how the compiler ships python models) with the real backend
  in the label `triton_backend`; the `triton` block carries `backend`, so the compiled
  config names the real backend. An unknown *platform* is an error: Triton's platforms
  are a closed list.
- `inputs`/`outputs` are recorded when every tensor fits the catalog's TensorSpec
  (otherwise the list is left empty; the `triton` block has them anyway). ONNX models get
  none: the compiler reads them from the artifact and would refuse legitimate
  differences Triton accepts (a `reshape`, a fixed size for a dynamic axis).
- The artifact is the version folder (all its files are copied back), except for
  TensorFlow, whose artifact is the `model.savedmodel` (or `default_model_filename`)
  inside it. Ensembles have no artifact; their steps become `ensemble.steps` and
  dependencies: `model_version: N` becomes `==N.0`, `-1` no constraint.

Errors are `InputError`s naming the file and the reason; nothing is returned unless the
whole repository can be imported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from google.protobuf import json_format
from pydantic import ValidationError

from modelyard.catalog.manifest import (
    ArtifactUnreadable,
    ManifestDocument,
    ManifestUnreadable,
    artifact_digest,
    format_field,
    is_utf8_path,
    read_manifest_bytes,
)
from modelyard.catalog.naming import check_name, model_id
from modelyard.catalog.spec import DataType, EnsembleStep, ModelSpec, TensorSpec
from modelyard.catalog.version import VERSION_PATTERN
from modelyard.errors import InputError
from modelyard.triton.config import ConfigBuildError, ModelConfig, parse_pbtxt
from modelyard.triton.model_config import model_config_pb2
from modelyard.triton.naming import check_triton_name

CONFIG_FILE = "config.pbtxt"
IMPORTED_MODEL_TYPE = "imported"
BACKEND_LABEL = "triton_backend"

# Top-level fields the compiler may still fill in when the original leaves them unset.
COMPILER_FIELDS = frozenset({"name", "version_policy", "parameters"})

_FRAMEWORK_BY_BACKEND = {
    "onnxruntime": "onnx",
    "pytorch": "pytorch",
    "tensorflow": "tensorflow",
    "tensorrt": "tensorrt",
    "python": "python",
}
_FRAMEWORK_BY_PLATFORM = {
    "ensemble": "ensemble",
    "onnxruntime_onnx": "onnx",
    "pytorch_libtorch": "pytorch",
    "tensorflow_savedmodel": "tensorflow",
    "tensorflow_graphdef": "tensorflow",
    "tensorrt_plan": "tensorrt",
}
# The model files from which Triton's auto-complete picks a backend when the config names
# none (core model_config_utils.cc AutoCompleteBackendFields).
_FRAMEWORK_BY_FILE = (
    ("model.plan", "tensorrt"),
    ("model.onnx", "onnx"),
    ("model.pt", "pytorch"),
    ("model.savedmodel", "tensorflow"),
    ("model.graphdef", "tensorflow"),
    ("model.py", "python"),
)
# Triton reads only numeric version folders that do not start with 0 (model_repository.md).
_VERSION_FOLDER = re.compile(r"[1-9][0-9]*")
_DATA_TYPES = frozenset(get_args(DataType))


@dataclass
class _Model:
    folder: Path
    config_path: Path
    config: Any
    versions: list[int]
    catalog_name: str = ""
    framework: str = ""
    backend_label: str | None = None
    # Ensembles: step model folder name -> version constraint ("" or "==N.0").
    constraints: dict[str, str] = field(default_factory=dict)

    @property
    def triton_name(self) -> str:
        return self.folder.name


def read_triton_repository(root: Path, *, domain: str, owner_team: str) -> list[ManifestDocument]:
    """One manifest document per model version of the Triton repository at `root`.

    Documents come in folder-name order, except that the models an ensemble's steps run
    come before it, and each model's versions in ascending order: the same repository
    always gives the same list.

    Raises:
        InputError: naming the file and the reason (unparsable config, config.pbtxt in a
            version folder, no version folder, a `name:` other than the folder's, an
            ensemble step naming a model that is not in the repository, ...).
    """
    root = Path(root)
    try:
        check_name(domain, "domain")
    except ValueError as exc:
        raise InputError(f"--domain: {exc}") from None
    if not is_utf8_path(root.absolute()):
        shown = str(root).encode("utf-8", "backslashreplace").decode()
        raise InputError(
            f"{shown}: the path is not UTF-8 (artifact paths are recorded in the "
            "catalog); rename the folders on it"
        )
    if not root.is_dir():
        raise InputError(f"{root}: no such folder (expected a Triton model repository)")
    if (root / CONFIG_FILE).is_file():
        raise InputError(
            f"{root / CONFIG_FILE}: {root} is a model folder, not a repository; "
            f"pass the folder that holds it ({root.parent})"
        )
    models = _find_models(root)
    if not models:
        raise InputError(
            f"{root}: no model folders (a model folder holds {CONFIG_FILE} and a "
            "numeric version folder such as 1/)"
        )
    by_name = {model.triton_name: model for model in models}
    _assign_catalog_names(models)
    for model in models:
        model.framework, model.backend_label = _framework(model)
    for model in models:
        if model.framework == "ensemble":
            model.constraints = _step_constraints(model, by_name, root)
    documents: list[ManifestDocument] = []
    for model in _dependencies_first(models):
        for version in model.versions:
            spec = _spec(model, version, by_name, domain, owner_team)
            documents.append(ManifestDocument(spec, str(model.config_path)))
    return documents


# Finding models -----------------------------------------------------------------------


def _find_models(root: Path) -> list[_Model]:
    models = []
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        numbered = [
            child for child in sorted(folder.iterdir()) if child.is_dir() and child.name.isdigit()
        ]
        for child in numbered:
            if (child / CONFIG_FILE).is_file():
                raise InputError(
                    f"{child / CONFIG_FILE}: config.pbtxt belongs in the model folder "
                    f"{folder}/, not in its version folder {child.name}/ (Triton does not read "
                    "it there); move it up one level"
                )
        config_path = folder / CONFIG_FILE
        versions = sorted(
            int(child.name) for child in numbered if _VERSION_FOLDER.fullmatch(child.name)
        )
        # Anything named config.pbtxt is read as one (a FIFO or a device is refused there).
        if not (config_path.exists() or config_path.is_symlink()):
            if versions:
                raise InputError(
                    f"{folder}: has version folders but no {CONFIG_FILE}; modelyard imports "
                    f"models by their config: add one (even an empty {CONFIG_FILE} lets Triton "
                    "auto-complete it)"
                )
            continue  # not a model folder (docs, scripts, ...)
        config = _read_config(config_path)
        if config.name and config.name != folder.name:
            raise InputError(
                f"{config_path}: name: {config.name!r} differs from its folder name "
                f"{folder.name!r}; Triton requires them to be equal (or leave `name` out)"
            )
        if not versions:
            raise InputError(
                f"{folder}: no version folder; Triton serves a model only from numeric "
                "version folders such as 1/ (not 0/ or 01/), so add one holding the model files"
            )
        too_big = [v for v in versions if not VERSION_PATTERN.fullmatch(f"{v}.0")]
        if too_big:
            raise InputError(
                f"{folder / str(too_big[0])}: version folder {too_big[0]} is too "
                "large for a catalog version (at most 9 digits)"
            )
        reason = check_triton_name(folder.name)
        if reason:
            raise InputError(f"{folder}: {reason}; rename the folder to import it")
        models.append(_Model(folder, config_path, config, versions))
    return models


def _read_config(path: Path) -> Any:
    try:
        # Only a regular file, of at most the manifest cap: a config.pbtxt that is a
        # FIFO or a link to /dev/zero would hang or exhaust memory.
        text = read_manifest_bytes(path).decode("utf-8")
    except ManifestUnreadable as exc:
        raise InputError(f"{path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    try:
        return parse_pbtxt(text, str(path))
    except ConfigBuildError as exc:
        raise InputError(f"{exc} (not a valid ModelConfig in protobuf text format)") from exc


def catalog_name(folder_name: str) -> str:
    """The catalog name for a Triton model folder name (may still be too long)."""
    name = re.sub(r"[^a-z0-9_-]", "_", folder_name.lower())
    return f"m{name}" if name[:1] in ("_", "-") else name


def _assign_catalog_names(models: list[_Model]) -> None:
    taken: dict[str, _Model] = {}
    for model in models:
        name = catalog_name(model.triton_name)
        try:
            check_name(name, "name")
        except ValueError as exc:
            raise InputError(f"{model.folder}: cannot become a catalog name: {exc}") from None
        if name in taken:
            raise InputError(
                f"{model.folder}: becomes the catalog name {name!r}, as {taken[name].folder} "
                "does; rename one of the folders"
            )
        taken[name] = model
        model.catalog_name = name


# Framework and ensembles ----------------------------------------------------------------


def _framework(model: _Model) -> tuple[str, str | None]:
    """(catalog framework, the custom backend's name for the label or None)."""
    config = model.config
    backend, platform = str(config.backend), str(config.platform)
    if platform == "ensemble":
        return "ensemble", None
    if backend:
        if backend.startswith("tensorflow"):
            return "tensorflow", None
        known = _FRAMEWORK_BY_BACKEND.get(backend)
        return (known, None) if known else ("python", backend)
    if platform:
        known = _FRAMEWORK_BY_PLATFORM.get(platform)
        if known is None:
            raise InputError(
                f"{model.config_path}: platform {platform!r} is not a Triton platform "
                f"({', '.join(sorted(_FRAMEWORK_BY_PLATFORM))}); a custom backend is named "
                "with `backend:`"
            )
        return known, None
    for version in model.versions:
        folder = model.folder / str(version)
        for file_name, framework in _FRAMEWORK_BY_FILE:
            if (folder / file_name).exists():
                return framework, None
    _, dot, suffix = model.triton_name.rpartition(".")
    if dot and suffix:  # Triton's `<model>.<backend>` naming for custom backends
        known = _FRAMEWORK_BY_BACKEND.get(suffix)
        return (known, None) if known else ("python", suffix)
    raise InputError(
        f"{model.config_path}: sets neither backend nor platform and its version folders hold "
        f"no model file Triton recognises ({', '.join(n for n, _ in _FRAMEWORK_BY_FILE)}); "
        "set `backend:` or `platform:`"
    )


def _step_constraints(model: _Model, by_name: Mapping[str, _Model], root: Path) -> dict[str, str]:
    steps = list(model.config.ensemble_scheduling.step)
    if not steps:
        raise InputError(
            f'{model.config_path}: platform "ensemble" needs '
            "ensemble_scheduling { step [...] }; it has no steps"
        )
    pins: dict[str, set[int]] = {}
    for index, step in enumerate(steps):
        where = f"{model.config_path}: ensemble_scheduling.step[{index}]"
        name = str(step.model_name)
        if not name:
            raise InputError(f"{where}: has no model_name")
        if name == model.triton_name:
            raise InputError(f"{where}: runs the ensemble {name!r} itself (a cycle)")
        target = by_name.get(name)
        if target is None:
            raise InputError(
                f"{where}: runs the model {name!r}, which is not in the repository "
                f"{root}; import the repository that holds it"
            )
        version = int(step.model_version)
        if version == -1:
            pins.setdefault(name, set())
        elif version > 0:
            if version not in target.versions:
                raise InputError(
                    f"{where}: runs version {version} of {name!r}, which has no version folder "
                    f"{version}/ (it has {', '.join(map(str, target.versions))})"
                )
            pins.setdefault(name, set()).add(version)
        else:
            raise InputError(
                f"{where}: model_version {version} must be -1 (latest) or a version folder number"
            )
    constraints = {}
    for name, pinned in pins.items():
        if len(pinned) > 1:
            raise InputError(
                f"{model.config_path}: steps run versions {sorted(pinned)} of {name!r}; a catalog "
                "dependency names one version of a model, so pin one version"
            )
        constraints[name] = f"=={next(iter(pinned))}.0" if pinned else ""
    return constraints


def _dependencies_first(models: list[_Model]) -> list[_Model]:
    """Folder-name order, except that each model comes after the models its steps run."""
    by_name = {model.triton_name: model for model in models}
    ordered: dict[str, _Model] = {}
    path: list[str] = []

    def visit(model: _Model) -> None:
        if model.triton_name in ordered:
            return
        if model.triton_name in path:
            cycle = " -> ".join([*path[path.index(model.triton_name) :], model.triton_name])
            raise InputError(
                f"{model.config_path}: ensembles run each other in a cycle: "
                f"{cycle}; Triton refuses circular ensembles"
            )
        path.append(model.triton_name)
        for name in sorted(model.constraints):
            visit(by_name[name])
        path.pop()
        ordered[model.triton_name] = model

    for model in models:  # already in folder-name order
        visit(model)
    return list(ordered.values())


# Specs ---------------------------------------------------------------------------------


def _spec(
    model: _Model, version: int, by_name: Mapping[str, _Model], domain: str, owner_team: str
) -> ModelSpec:
    config = model.config
    is_ensemble = model.framework == "ensemble"
    resources: dict[str, Any] = {
        "max_batch_size": int(config.max_batch_size),
        "instance_count": _instance_count(config),
    }
    if is_ensemble or _cpu_only(config):
        resources["gpu_memory_mb"] = 0
    data: dict[str, Any] = {
        "name": model.catalog_name,
        "version": f"{version}.0",
        "triton_version": version,
        "model_type": "ensemble" if is_ensemble else IMPORTED_MODEL_TYPE,
        "framework": model.framework,
        "domain": domain,
        "owner_team": owner_team,
        "description": f"Imported from the Triton model repository folder {model.triton_name!r}.",
        "resource_requirements": resources,
        "triton": triton_block(config, model.triton_name),
    }
    if model.backend_label:
        data["labels"] = {BACKEND_LABEL: model.backend_label}
    if model.framework != "onnx":
        data["inputs"] = _tensors(config.input)
        data["outputs"] = _tensors(config.output)
    if is_ensemble:
        data["dependencies"] = [
            f"{model_id(domain, by_name[name].catalog_name)}{constraint}"
            for name, constraint in sorted(model.constraints.items())
        ]
        steps = enumerate(config.ensemble_scheduling.step)
        data["ensemble"] = {
            "steps": [_step(step, by_name, domain, model, index) for index, step in steps]
        }
    else:
        artifact = _artifact(model, version)
        data["artifact"] = str(artifact)
        try:
            data["artifact_sha256"] = artifact_digest(artifact)
        except ArtifactUnreadable as exc:
            raise InputError(f"{model.folder / str(version)}: {exc}") from None
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        flags = [e for e in exc.errors() if tuple(e["loc"]) == ("owner_team",)]
        if flags:
            message = str(flags[0]["msg"]).removeprefix("Value error, ")
            raise InputError(f"--owner-team: {message}") from None
        raise InputError(
            f"{model.config_path}: version {version} cannot become a catalog "
            f"entry: {_reasons(exc.errors())}"
        ) from None


def _reasons(errors: Iterable[Any]) -> str:
    return "; ".join(
        f"{format_field(tuple(e['loc'])) or 'spec'}: {str(e['msg']).removeprefix('Value error, ')}"
        for e in errors
    )


def triton_block(config: Any, triton_name: str) -> dict[str, Any]:
    """The manifest `triton` block that makes the compiler reproduce `config` exactly."""
    original = json_format.MessageToDict(config, preserving_proto_field_name=True)
    original["name"] = triton_name
    return {
        f.name: original.get(f.name)
        for f in ModelConfig.DESCRIPTOR.fields
        if f.name in original or f.name not in COMPILER_FIELDS
    }


def _tensors(messages: Iterable[Any]) -> list[dict[str, Any]]:
    """The tensors as TensorSpec data, or [] if any of them cannot be one."""
    tensors = []
    for message in messages:
        data_type = model_config_type(message.data_type)
        data = {
            "name": str(message.name),
            "data_type": data_type,
            "dims": [int(d) for d in message.dims],
        }
        try:
            TensorSpec.model_validate(data)
        except ValidationError:
            return []
        tensors.append(data)
    if len({t["name"] for t in tensors}) != len(tensors):
        return []
    return tensors


def model_config_type(value: int) -> str:
    """`TYPE_FP32` (a DataType number) -> `FP32`; "" for values the catalog cannot hold."""
    name = str(model_config_pb2.DataType.Name(value)).removeprefix("TYPE_")
    return name if name in _DATA_TYPES else ""


def _step(
    step: Any, by_name: Mapping[str, _Model], domain: str, model: _Model, index: int
) -> dict[str, Any]:
    data = {
        "model": model_id(domain, by_name[str(step.model_name)].catalog_name),
        "input_map": dict(step.input_map),
        "output_map": dict(step.output_map),
    }
    try:
        EnsembleStep.model_validate(data)
    except ValidationError as exc:
        raise InputError(
            f"{model.config_path}: ensemble_scheduling.step[{index}] cannot become a "
            f"catalog ensemble step: {_reasons(exc.errors())}"
        ) from None
    return data


def _instance_count(config: Any) -> int:
    count = sum(max(int(group.count), 1) for group in config.instance_group)
    return min(max(count, 1), 1024)


def _cpu_only(config: Any) -> bool:
    cpu = model_config_pb2.ModelInstanceGroup.KIND_CPU
    groups = list(config.instance_group)
    return bool(groups) and all(group.kind == cpu for group in groups)


def _artifact(model: _Model, version: int) -> Path:
    folder = (model.folder / str(version)).resolve()
    if model.framework == "tensorflow":
        # The compiler ships a TensorFlow artifact as <N>/model.savedmodel itself.
        inner = folder / (str(model.config.default_model_filename) or "model.savedmodel")
        if inner.exists():
            return inner
    return folder
