"""Compile a catalog selection into a Triton model repository.

Each selected model becomes `<triton_name>/config.pbtxt` plus one integer folder per
selected catalog version (`<triton_name>/<N>/<model file>`). The integers come from
the catalog and never change. Triton holds one config per model, so when two versions
of a model are selected together their configs must agree (apart from the version list).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from google.protobuf import json_format

from modelyard.catalog.artifact_hashes import ArtifactHashes
from modelyard.catalog.manifest import ArtifactUnreadable, artifact_digest
from modelyard.catalog.ref import split_ref
from modelyard.catalog.spec import ModelSpec, TensorSpec, range_problems
from modelyard.errors import Problem, Severity
from modelyard.triton.compile_memo import CompileMemo
from modelyard.triton.config import (
    MODEL_FILES,
    ConfigBuildError,
    Profile,
    StepTarget,
    backend_for,
    build_model_config,
    parse_pbtxt,
    to_pbtxt,
)
from modelyard.triton.config_digests import ConfigDigests, binary_key
from modelyard.triton.naming import check_triton_name, triton_name, variant_name
from modelyard.triton.onnx_io import ArtifactError, read_onnx_io
from modelyard.triton.repository import BYTECODE_GUARD, RepoFile
from modelyard.triton.rules import ConfigIssue, check_ensemble_connections, check_model_config

_ONNX_WRAPPER = Path(__file__).with_name("onnx_model.py")
FILE_NAME_MAX_BYTES = 255  # NAME_MAX on Linux
_LOCAL_BACKENDS = ("python",)


@dataclass
class CompiledModel:
    triton_name: str
    model_id: str
    versions: dict[str, int]  # catalog version -> Triton folder
    config: Any
    files: list[RepoFile]
    examples: dict[str, list[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class BlockedModel:
    """A model left out of a compile because its artifact (or one it needs) is missing,
    changed after registration or unreadable: it keeps what the repository had for it,
    and every other model is compiled as usual."""

    model_id: str
    ref: str
    triton_name: str
    reason: str

    def problem(self) -> Problem:
        return _error("artifact", self.reason, self.ref, "artifact")


@dataclass
class CompilePlan:
    """What a compile would write: models, skipped models (with why), blocked models
    (with why), and problems. A problem fails the whole compile; a blocked model is one
    model's trouble only."""

    profile: Profile
    models: dict[str, CompiledModel] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    blocked: dict[str, BlockedModel] = field(default_factory=dict)
    # Other models' files carried over verbatim from a target's repository (a targeted
    # deploy publishes them beside the compiled models): see deploy.plan.keeping_others.
    kept_files: list[RepoFile] = field(default_factory=list)

    @property
    def files(self) -> list[RepoFile]:
        return [f for model in self.models.values() for f in model.files] + self.kept_files

    @property
    def blocked_names(self) -> set[str]:
        return {blocked.triton_name for blocked in self.blocked.values()}

    def all_problems(self) -> list[Problem]:
        """The problems, then each blocked model as an error of its own."""
        return self.problems + [blocked.problem() for blocked in self.blocked.values()]

    def config_digests(self) -> dict[str, str]:
        """Triton name -> the digest of its config's text (printing those not known)."""
        return {
            model.triton_name: file.digest
            for model in self.models.values()
            for file in model.files
            if file.path == f"{model.triton_name}/config.pbtxt"
        }

    def blocked_summary(self) -> str:
        """`ref: reason; ...` of every blocked model, for one-line messages."""
        return "; ".join(f"{b.ref}: {b.reason}" for b in self.blocked.values())


def config_file(triton_name: str, config: Any, digests: ConfigDigests | None = None) -> RepoFile:
    """`<triton_name>/config.pbtxt` holding `config` (a ModelConfig) as it is now.

    The text is printed only when the file's bytes are read, or its digest is asked and
    `digests` does not know it (then it learns it): see triton/config_digests.py.
    """
    blob = config.SerializeToString(deterministic=True)
    message_type = type(config)
    key = binary_key(blob) if digests is not None else None

    def render() -> bytes:
        # From the snapshot: a config changed after this file was made is another file.
        text = to_pbtxt(message_type.FromString(blob)).encode()
        if digests is not None and key is not None:
            digests.learn(key, hashlib.sha256(text).hexdigest())
        return text

    known = digests.get(key) if digests is not None and key is not None else None
    return RepoFile(f"{triton_name}/config.pbtxt", known, render=render)


def plan_compile(
    specs: dict[str, ModelSpec],
    triton_versions: dict[str, int],
    resolved: dict[tuple[str, str], str],
    profile: Profile,
    verify_artifacts: bool = True,
    unavailable: Mapping[str, str] | None = None,
    digests: ConfigDigests | None = None,
    artifact_hashes: ArtifactHashes | None = None,
    memo: CompileMemo | None = None,
) -> CompilePlan:
    """Build every config and file list; problems instead of exceptions.

    Args:
        specs: the selection (ref -> spec), closed under dependencies.
        triton_versions: ref -> integer Triton version.
        resolved: (dependent ref, dependency model id) -> dependency ref.
        unavailable: ref -> why its artifact cannot be used, found before the compile
            (an `s3://` object changed or unreadable): its model is blocked.
        digests: config text digests already known (triton/config_digests.py); those
            asked and not known are learnt into it.
        artifact_hashes: artifact digests known by file stat (catalog/artifact_hashes.py).
        memo: rules verdicts and ONNX tensors learnt before (triton/compile_memo.py);
            what is learnt here is added to it.
    """
    plan = CompilePlan(profile)
    by_model: dict[str, list[str]] = defaultdict(list)
    for ref, spec in specs.items():
        by_model[spec.id].append(ref)
    names: dict[str, str] = {}
    for model_id, refs in sorted(by_model.items()):
        newest = max(refs, key=lambda r: specs[r].parsed_version)
        name = triton_name(specs[newest])
        reason = check_triton_name(name)
        if reason:
            plan.problems.append(_error("triton-name", reason, newest, "triton.name"))
            continue
        if name in names:
            plan.problems.append(
                _error(
                    "triton-name",
                    f"compiles to the Triton model {name!r}, as {names[name]} does; "
                    "give one of them another `triton: {name: ...}`",
                    newest,
                    "triton.name",
                )
            )
            continue
        names[name] = model_id
    order = _dependencies_first(specs, resolved)
    needs: dict[str, list[str]] = defaultdict(list)  # ref -> model ids it needs
    for ref, dependency in resolved:
        needs[ref].append(dependency)
    for model_id in order:
        refs = sorted(by_model[model_id], key=lambda r: specs[r].parsed_version)
        newest = refs[-1]
        spec = specs[newest]
        name = triton_name(spec)
        if names.get(name) != model_id:
            continue
        needed = _blocked_dependency(refs, needs, plan)
        if needed is not None:
            plan.blocked[model_id] = BlockedModel(
                model_id,
                newest,
                name,
                f"needs {needed.ref}, which is blocked (its artifact cannot be used); "
                f"fix {needed.ref} first",
            )
            continue
        missing = next((unavailable[r] for r in refs if unavailable and r in unavailable), None)
        if missing is not None:
            plan.blocked[model_id] = BlockedModel(model_id, newest, name, missing)
            continue
        skip = _skip_reason(spec, profile, specs, resolved, newest, plan)
        if skip:
            plan.skipped[model_id] = skip
            continue
        try:
            plan.models[model_id] = _compile_model(
                name,
                refs,
                specs,
                triton_versions,
                resolved,
                profile,
                plan,
                verify_artifacts,
                digests,
                artifact_hashes,
                memo,
            )
        except ConfigBuildError as exc:
            # The messages name the model themselves; the problem's `model` says it again.
            plan.problems.append(
                _error("compile", str(exc).removeprefix(f"{newest}: "), newest, None)
            )
        except (ArtifactError, ArtifactUnreadable) as exc:
            # Files that are not what was registered are this model's trouble alone: the
            # rest of the catalog compiles, and this model keeps what it had.
            reason = str(exc).removeprefix(f"{newest}: ")
            plan.blocked[model_id] = BlockedModel(model_id, newest, name, reason)
        except OSError as exc:  # an artifact file that cannot be read while listing it
            reason = (
                f"cannot read {exc.filename}: {exc.strerror or exc}; make the artifact readable"
            )
            plan.blocked[model_id] = BlockedModel(model_id, newest, name, reason)
    plan.problems += _conformance(plan, specs, by_model, memo)
    return plan


def _conformance(
    plan: CompilePlan,
    specs: dict[str, ModelSpec],
    by_model: dict[str, list[str]],
    memo: CompileMemo | None,
) -> list[Problem]:
    """Triton's own rules on every config, and on how ensemble steps connect."""
    problems = []
    composing = {model.triton_name: model.config for model in plan.models.values()}
    for model_id, model in plan.models.items():
        ref = max(by_model[model_id], key=lambda r: specs[r].parsed_version)
        issues = _rule_issues(model.config, model.triton_name, memo)
        if model.config.platform == "ensemble":
            issues += check_ensemble_connections(model.config, composing)
        problems += [
            _error(
                "triton-config",
                f"Triton would refuse {model.triton_name}: {issue.message}",
                ref,
                issue.field,
            )
            for issue in issues
        ]
    return problems


def _rule_issues(config: Any, name: str, memo: CompileMemo | None) -> list[ConfigIssue]:
    """`check_model_config`, skipped for a config `memo` knows clean (and learnt there
    when it is)."""
    if memo is None:
        return check_model_config(config, model_name=name)
    key = binary_key(config.SerializeToString(deterministic=True))
    if memo.is_clean(key, name):
        return []
    issues = check_model_config(config, model_name=name)
    if not issues:
        memo.learn_clean(key, name)
    return issues


def _dependencies_first(
    specs: dict[str, ModelSpec], resolved: dict[tuple[str, str], str]
) -> list[str]:
    import graphlib

    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for (ref, dep_id), dep_ref in resolved.items():
        if ref in specs and dep_ref in specs:
            sorter.add(specs[ref].id, dep_id)
    for spec in specs.values():
        sorter.add(spec.id)
    try:
        return list(sorter.static_order())
    except graphlib.CycleError:  # validation reports cycles; compile what it can
        return sorted({s.id for s in specs.values()})


def _blocked_dependency(
    refs: Sequence[str], needs: dict[str, list[str]], plan: CompilePlan
) -> BlockedModel | None:
    """The first blocked model that one of `refs` needs (dependencies are compiled first)."""
    if not plan.blocked:
        return None
    for ref in refs:
        for dependency in needs.get(ref, ()):
            if dependency in plan.blocked:
                return plan.blocked[dependency]
    return None


def _skip_reason(
    spec: ModelSpec,
    profile: Profile,
    specs: dict[str, ModelSpec],
    resolved: dict[tuple[str, str], str],
    ref: str,
    plan: CompilePlan,
) -> str | None:
    if spec.framework == "ensemble":
        assert spec.ensemble is not None
        for step in spec.ensemble.steps:
            if step.model in plan.skipped:
                return f"its step {step.model} is skipped ({plan.skipped[step.model]})"
            dep_ref = resolved.get((ref, step.model))
            if dep_ref is None or step.model not in plan.models:
                return f"its step {step.model} is not compiled"
        return None
    if spec.artifact is None:
        return "no artifact registered (add `artifact:` to its manifest to serve it)"
    configured = spec.triton.get("backend") or spec.triton.get("platform")
    if profile == "local" and configured and configured != "python":
        return (
            f"its Triton config names {configured!r}, which the local Triton (python "
            "backend only) cannot run; it runs in the production profile"
        )
    backend = backend_for(spec, profile)
    if profile == "local" and backend not in _LOCAL_BACKENDS:
        return (
            f"the local Triton has no {backend} backend (only python, and ONNX through "
            "onnxruntime); it runs in the production profile"
        )
    return None


def _compile_model(
    name: str,
    refs: list[str],
    specs: dict[str, ModelSpec],
    triton_versions: dict[str, int],
    resolved: dict[tuple[str, str], str],
    profile: Profile,
    plan: CompilePlan,
    verify_artifacts: bool,
    digests: ConfigDigests | None,
    artifact_hashes: ArtifactHashes | None,
    memo: CompileMemo | None,
) -> CompiledModel:
    newest = refs[-1]
    spec = specs[newest]
    for ref in refs:
        out_of_range = range_problems(specs[ref], examples=False)
        if out_of_range:  # a version registered before the ranges were checked
            field_name, reason = out_of_range[0]
            raise ConfigBuildError(
                f"{ref}: {field_name}: {reason}; it cannot be compiled, so register a new "
                "version with a value in range"
            )
    versions = {specs[r].version: triton_versions[r] for r in refs}
    if verify_artifacts:
        for ref in refs:
            verify_artifact(specs[ref], artifact_hashes)
    configs = []
    for ref in refs:
        version_spec = specs[ref]
        # The memo's tensors stand for the artifact's content only once it is verified.
        inputs, outputs = _tensors(version_spec, memo if verify_artifacts else None)
        steps = _step_targets(version_spec, ref, resolved, plan) if version_spec.ensemble else None
        configs.append(
            (
                ref,
                build_model_config(
                    version_spec,
                    name=name,
                    inputs=inputs,
                    outputs=outputs,
                    profile=profile,
                    triton_versions=versions,
                    steps=steps,
                ),
            )
        )
    config = configs[-1][1]
    if profile == "local" and spec.framework == "onnx":
        onnx_name = spec.triton.get("default_model_filename") or "model.onnx"
        for _, each in configs:
            each.parameters["onnx_file"].string_value = str(onnx_name)
    for ref, other in configs[:-1]:
        differing = _config_differences(other, config)
        if differing:
            raise ConfigBuildError(
                f"{ref} and {newest} are both selected, but Triton holds one config per model "
                f"and theirs differ in {', '.join(differing)}; select one of them (e.g. with an "
                "alias) or keep those fields equal"
            )
    files = [config_file(name, config, digests)]
    backend = backend_for(spec, profile)
    for ref in refs:
        version_spec = specs[ref]
        if backend is None:
            # Triton needs a version folder for an ensemble too, though it holds no model file.
            files.append(
                RepoFile(
                    f"{name}/{triton_versions[ref]}/.ensemble",
                    hashlib.sha256(b"").hexdigest(),
                    content=b"",
                )
            )
            continue
        if version_spec.artifact is None:
            raise ConfigBuildError(f"{ref}: no artifact")
        files += _version_files(name, triton_versions[ref], version_spec, backend, profile)
    examples = {t.name: list(t.example) for t in spec.inputs if t.example is not None}
    return CompiledModel(name, spec.id, versions, config, files, examples)


def pin_step(model: CompiledModel, step: str, step_version: int) -> CompiledModel:
    """`model` (an ensemble) with each step on Triton model `step` pinned to version
    `step_version`; `model` itself if it has none or they are pinned there already."""
    if not any(
        s.model_name == step and s.model_version != step_version
        for s in model.config.ensemble_scheduling.step
    ):
        return model
    config = type(model.config)()
    config.CopyFrom(model.config)
    for message in config.ensemble_scheduling.step:
        if message.model_name == step:
            message.model_version = step_version
    files = [config_file(model.triton_name, config)]
    files += [f for f in model.files if f.path != f"{model.triton_name}/config.pbtxt"]
    return CompiledModel(
        model.triton_name, model.model_id, model.versions, config, files, model.examples
    )


def ensemble_variant(
    model: CompiledModel, step: str, step_version: int, label: str, nested: Collection[str]
) -> CompiledModel:
    """A copy of ensemble `model` under `variant_name(model, step, label)` whose steps on
    Triton model `step` run version `step_version`, and whose steps on an ensemble of
    `nested` (ensembles that run `step` themselves) run that ensemble's variant."""
    name = variant_name(model.triton_name, step, label)
    config = type(model.config)()
    config.CopyFrom(model.config)
    config.name = name
    for message in config.ensemble_scheduling.step:
        if message.model_name == step:
            message.model_version = step_version
        elif message.model_name in nested:
            # The variant has the nested ensemble's version folders: the pin still holds.
            message.model_name = variant_name(message.model_name, step, label)
    files = [config_file(name, config)]
    for file in model.files:
        inside = file.path.split("/", 1)[1]
        if inside != "config.pbtxt":
            files.append(file.at(f"{name}/{inside}"))
    return CompiledModel(name, model.model_id, model.versions, config, files, model.examples)


def repinned(
    files: Sequence[RepoFile], models: Collection[str], step: str, step_version: int
) -> tuple[list[RepoFile], list[str]]:
    """A repository's `files` with the ensembles `models` running Triton model `step` at
    `step_version`, and the models whose config that changed."""
    result: list[RepoFile] = []
    changed: list[str] = []
    for file in files:
        name, _, inside = file.path.partition("/")
        if name not in models or inside != "config.pbtxt":
            result.append(file)
            continue
        text = file.content if file.content is not None else (file.source or Path()).read_bytes()
        config = parse_pbtxt(text.decode(), file.path)
        stepped = [m for m in config.ensemble_scheduling.step if m.model_name == step]
        if all(m.model_version == step_version for m in stepped):
            result.append(file)
            continue
        for message in stepped:
            message.model_version = step_version
        result.append(config_file(name, config))
        changed.append(name)
    return result, changed


def without_models(files: Sequence[RepoFile], names: Collection[str]) -> list[RepoFile]:
    """A repository's `files` less the folders of the models `names`."""
    return [f for f in files if f.path.split("/", 1)[0] not in names]


def check_new_version(
    spec: ModelSpec,
    tensors: tuple[list[TensorSpec], list[TensorSpec]] | None = None,
    memo: CompileMemo | None = None,
) -> list[tuple[str, str]]:
    """(field, reason) for each rule of Triton's that the config `spec` compiles to breaks,
    judged on that config alone: what registration refuses, since a published version
    can never be fixed and a broken one would fail every compile and validate after it.

    The config is built as compile builds it, in the production profile (an ensemble's
    steps stand in for their compiled models under their default names), from a spec
    that passed the manifest's validation (its numbers are in range). The checks that
    need other models' configs (how ensemble steps connect) stay with compile and
    validate.

    Args:
        tensors: an ONNX artifact's inputs and outputs, when the caller has read them
            already; otherwise they are read from the artifact (or the manifest's).
        memo: a clean config is learnt into it, for the compiles after (the same
            config, as a model's only version compiles, is not checked again).
    """
    reasons: dict[tuple[str, str], None] = {}
    name = triton_name(spec)
    try:
        inputs, outputs = tensors if tensors is not None else _tensors(spec, None)
    except (ConfigBuildError, ArtifactError) as exc:
        return [("artifact", str(exc).removeprefix(f"{spec.ref}: "))]
    steps = (
        {step.model: StepTarget(step.model.replace("/", "."), 1) for step in spec.ensemble.steps}
        if spec.ensemble is not None
        else None
    )
    # The production profile only: the local one differs in what the rules do not judge
    # (instance kinds, ONNX served by the python backend), and registering 10,000
    # versions must stay within seconds.
    profiles: list[Profile] = ["production"]
    for profile in profiles:
        try:
            config = build_model_config(
                spec,
                name=name,
                inputs=inputs,
                outputs=outputs,
                profile=profile,
                triton_versions={spec.version: spec.triton_version or 1},
                steps=steps,
            )
        except (ConfigBuildError, ValueError) as exc:
            message = str(exc).removeprefix(f"{spec.ref}: ").removeprefix("triton: ")
            reasons[("triton", message)] = None
            continue
        for issue in _rule_issues(config, name, memo):
            field_name = _manifest_field(spec, issue.field)
            reasons[(field_name, f"Triton would refuse {name}: {issue.message}")] = None
    return list(reasons)


_GENERATED_FROM = {
    "input": "inputs",
    "output": "outputs",
    "max_batch_size": "resource_requirements.max_batch_size",
    "backend": "framework",
    "instance_group": "resource_requirements.instance_count",
}


def _manifest_field(spec: ModelSpec, config_field: str) -> str:
    """The manifest key a config field comes from: `triton.<field>` when the `triton`
    block sets that top-level field, else the manifest key it was generated from."""
    top = config_field.split(".")[0].split("[")[0]
    if top in spec.triton or top not in _GENERATED_FROM:
        return f"triton.{config_field}"
    return _GENERATED_FROM[top] + config_field[len(top) :]


def _tensors(
    spec: ModelSpec, memo: CompileMemo | None
) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """I/O from the ONNX artifact, checked against the manifest; else the manifest's."""
    if spec.framework == "onnx" and spec.artifact is not None:
        max_batch = spec.resource_requirements.max_batch_size
        file_name = str(spec.triton.get("default_model_filename") or "model.onnx")
        digest = spec.artifact_sha256 if memo is not None else None
        known = memo.tensors(digest, file_name, max_batch) if memo and digest else None
        if known is None:
            known = read_onnx_io(Path(spec.artifact), max_batch, file_name)
            if memo is not None and digest:
                memo.learn_tensors(digest, file_name, max_batch, known)
        inputs, outputs = known
        for declared, found, what in (
            (spec.inputs, inputs, "inputs"),
            (spec.outputs, outputs, "outputs"),
        ):
            if declared and io_key(declared) != io_key(found):
                raise ConfigBuildError(
                    f"{spec.ref}: {what}: the manifest declares {show_io(declared)} but "
                    f"{spec.artifact} has {show_io(found)}"
                )
        return inputs, outputs
    return list(spec.inputs), list(spec.outputs)


def io_key(tensors: list[TensorSpec]) -> list[tuple[str, str, tuple[int, ...]]]:
    return sorted((t.name, t.data_type, tuple(t.dims)) for t in tensors)


def show_io(tensors: list[TensorSpec]) -> str:
    return ", ".join(f"{t.name} {t.data_type} {t.dims}" for t in tensors)


def _step_targets(
    spec: ModelSpec, ref: str, resolved: dict[tuple[str, str], str], plan: CompilePlan
) -> dict[str, StepTarget]:
    assert spec.ensemble is not None
    targets = {}
    for step in spec.ensemble.steps:
        compiled = plan.models[step.model]
        dep_ref = resolved[(ref, step.model)]
        _, dep_version = split_ref(dep_ref)
        targets[step.model] = StepTarget(compiled.triton_name, compiled.versions[dep_version])
    return targets


def _config_differences(a: Any, b: Any) -> list[str]:
    first = json_format.MessageToDict(a, preserving_proto_field_name=True)
    second = json_format.MessageToDict(b, preserving_proto_field_name=True)
    return sorted(k for k in set(first) | set(second) if first.get(k) != second.get(k))


def verify_artifact(spec: ModelSpec, hashes: ArtifactHashes | None = None) -> None:
    """The artifact is still there and is the file that was registered (SHA-256), read
    again unless `hashes` knows the file unchanged since it was last read."""
    if spec.artifact is None:
        return
    source = Path(spec.artifact)
    if not source.exists():
        raise ArtifactError(
            f"{spec.ref}: artifact {source} is missing; restore it or register a new version"
        )
    if not spec.artifact_sha256:
        return
    digest = (
        hashes.digest(source, artifact_digest) if hashes is not None else artifact_digest(source)
    )
    if digest != spec.artifact_sha256:
        raise ArtifactError(
            f"{spec.ref}: artifact {source} changed after registration (SHA-256 "
            "differs); a registered version is immutable: register a new version"
        )


def _version_files(
    name: str, number: int, spec: ModelSpec, backend: str, profile: Profile
) -> list[RepoFile]:
    assert spec.artifact is not None
    source = Path(spec.artifact)
    digest = spec.artifact_sha256 or artifact_digest(source)
    folder = f"{name}/{number}"
    configured_name = spec.triton.get("default_model_filename")
    file_name = (
        configured_name
        if isinstance(configured_name, str) and configured_name
        else ("model.onnx" if spec.framework == "onnx" else MODEL_FILES[backend])
    )
    if len(file_name.encode()) > FILE_NAME_MAX_BYTES:  # the rules check the characters
        raise ConfigBuildError(
            f"{spec.ref}: triton.default_model_filename is "
            f"{len(file_name.encode())} bytes long; file systems allow "
            f"{FILE_NAME_MAX_BYTES}, so shorten it"
        )
    files: list[RepoFile] = []
    is_saved_model = source.is_dir() and (source / "saved_model.pb").is_file()
    if source.is_dir() and not is_saved_model:
        # A folder artifact is the version folder's content, names kept (external data
        # files of an ONNX model, model.py with its helpers, an imported version folder),
        # less Python bytecode: the writer guards each folder with .py files against it.
        files = [
            RepoFile(
                f"{folder}/{p.relative_to(source).as_posix()}",
                hashlib.sha256(p.read_bytes()).hexdigest(),
                source=p,
            )
            for p in sorted(source.rglob("*"))
            if p.is_file() and not _is_bytecode(p.relative_to(source))
        ]
    else:  # one file, or a SavedModel folder, under the name the backend looks for
        files = [RepoFile(f"{folder}/{file_name}", digest, source=source)]
    if spec.framework == "onnx" and profile == "local":
        wrapper = _ONNX_WRAPPER.read_bytes()
        files.append(
            RepoFile(f"{folder}/model.py", hashlib.sha256(wrapper).hexdigest(), content=wrapper)
        )
    return files


def _is_bytecode(relative: Path) -> bool:
    """A compiled-Python file of an artifact folder (`__pycache__/...`, `*.pyc`)."""
    return BYTECODE_GUARD in relative.parts or relative.suffix == ".pyc"


def _error(code: str, message: str, model: str | None, field_name: str | None) -> Problem:
    return Problem(Severity.ERROR, code, message, model=model, field=field_name)


class PlacedReplica(Protocol):
    """What `server_share` reads of one placed replica (placement's `Assignment`)."""

    @property
    def model_id(self) -> str: ...


class ServerPlacement(Protocol):
    """What `server_share` needs of a placement (placement's `Placement` has it): the
    replicas on a server and their instance groups. A protocol, so that triton/ does not
    import placement/ (STYLE.md section 1: triton builds on catalog and graph)."""

    def on(self, server: str) -> Sequence[PlacedReplica]: ...

    def instance_groups(self, server: str) -> dict[str, list[dict[str, Any]]]: ...

    def rate_limiters(self, server: str) -> dict[tuple[str, int], dict[str, Any]]: ...


def server_share(
    plan: CompilePlan, placement: ServerPlacement, server: str, profile: Profile
) -> CompilePlan:
    """The part of a compiled repository that `placement` puts on `server`, with each
    model's instance groups on the GPUs chosen for it (KIND_CPU in the local profile).

    In the production profile an instance group on a GPU that other models share gets
    its rate limiter resource (its memory on that GPU), for a server started with
    placement's `rate_limit_flags` (docs: user-guide/docs/rate_limiter.html)."""
    here = {a.model_id for a in placement.on(server)}
    groups = placement.instance_groups(server)
    limiters = placement.rate_limiters(server) if profile == "production" else {}
    share = CompilePlan(plan.profile, skipped=dict(plan.skipped))
    for key, model in plan.models.items():
        # Keyed by model id, or by Triton name for an ensemble's generated variant.
        model_id = model.model_id
        if model_id not in here:
            continue
        config = type(model.config)()
        config.CopyFrom(model.config)
        if config.platform != "ensemble" and model_id in groups:
            del config.instance_group[:]
            for group in groups[model_id]:
                limiter = limiters.get((model_id, group["gpus"][0])) if group.get("gpus") else None
                if limiter is not None:
                    group = {**group, "rate_limiter": limiter}
                message = config.instance_group.add()
                json_format.ParseDict(
                    {k: v for k, v in group.items() if profile == "production" or k != "gpus"},
                    message,
                )
                if profile == "local":
                    message.kind = message.KIND_CPU
        files = [config_file(model.triton_name, config)]
        files += [
            f for f in model.files if not f.path.endswith("/config.pbtxt") or f.path.count("/") > 1
        ]
        share.models[key] = CompiledModel(
            model.triton_name, model.model_id, model.versions, config, files, model.examples
        )
    return share
