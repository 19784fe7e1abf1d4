"""import-triton: a Triton repository -> catalog -> compile keeps every ModelConfig field.

The round trip runs over every file that the conformance corpus
(shared/corpus/triton-configs/SOURCES.md) lists as valid: each becomes
`<repo>/<model>/config.pbtxt` with a version folder, ensembles get their composing
models (a real corpus config of that name when one fits, else a python stub), and the
compiled config.pbtxt of every model must hold every field of its original.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import onnx
import pytest
from google.protobuf import json_format, text_format
from onnx import TensorProto, helper
from tritonclient.grpc import model_config_pb2

from modelyard import Workspace
from modelyard.catalog.manifest import ManifestDocument
from modelyard.errors import InputError
from modelyard.registry import apply_documents
from modelyard.triton.importer import (
    BACKEND_LABEL,
    COMPILER_FIELDS,
    catalog_name,
    read_triton_repository,
)
from tests.support.workspaces import init_workspace

ModelConfig = model_config_pb2.ModelConfig
ROOT = Path(__file__).resolve().parents[2]
_CANDIDATES = [
    ROOT / "shared" / "corpus" / "triton-configs",
    ROOT.parent / "shared" / "corpus" / "triton-configs",
]
CORPUS = next((p for p in _CANDIDATES if (p / "SOURCES.md").is_file()), None)
DOMAIN = "imported"
TEAM = "ml-platform"

# The model file of configs that name neither backend nor platform (Triton auto-completes
# the backend from it); the fragment is appended to a python config by its QA script.
_AUTOCOMPLETE_FILES = {
    "server_qa_autofill_trt_multi_profile_only": "model.plan",
    "server_qa_autofill_onnx_empty_config": "model.onnx",
    "server_qa_repo_agent_chain_relocation": "model.onnx",
    "server_qa_model_metrics_valid_partial": "model.py",
}
_FILES_BY_FRAMEWORK = {
    "onnxruntime": "model.onnx",
    "onnxruntime_onnx": "model.onnx",
    "pytorch": "model.pt",
    "pytorch_libtorch": "model.pt",
    "tensorrt": "model.plan",
    "tensorrt_plan": "model.plan",
    "python": "model.py",
}

# Corpus files whose round trip fails because of modelyard, not the config (strict: they
# must start passing when the cause is fixed).
KNOWN_FAILURES: dict[str, str] = {}


def _valid_corpus_files() -> list[str]:
    if CORPUS is None:
        return []
    text = (CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    section = text.split("## Valid files", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+)\.pbtxt` \|", section, flags=re.MULTILINE)


VALID = _valid_corpus_files()


# Building repositories -----------------------------------------------------------------


@cache
def _onnx_model() -> bytes:
    """A tiny real ONNX model (Identity, FP32 [batch, 4]): the compiler reads its I/O."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def _model_file(config: Any, stem: str = "") -> str:
    kind = str(config.backend) or str(config.platform)
    if kind == "ensemble":
        return ".gitkeep"  # ensembles ship an empty version folder
    if not kind:
        return _AUTOCOMPLETE_FILES.get(stem, "model.py")
    known = _FILES_BY_FRAMEWORK.get(kind)
    if known == "model.onnx":
        return known  # the compiler ships <N>/model.onnx whatever default_model_filename says
    return str(config.default_model_filename) or known or f"model.{kind}"


def _place(
    repo: Path, name: str, text: str, config: Any, versions: list[int], stem: str = ""
) -> None:
    folder = repo / name
    folder.mkdir(parents=True)
    (folder / "config.pbtxt").write_text(text, encoding="utf-8")
    file_name = _model_file(config, stem)
    for version in versions:
        target = folder / str(version) / file_name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(
            _onnx_model() if file_name == "model.onnx" else f"# {name} version {version}\n".encode()
        )


def _parse(text: str) -> Any:
    return text_format.Parse(text, ModelConfig())


def _corpus(stem: str) -> tuple[str, Any]:
    assert CORPUS is not None
    text = (CORPUS / f"{stem}.pbtxt").read_text(encoding="utf-8")
    return text, _parse(text)


def _real_composing_model(
    name: str, inputs: set[str], outputs: set[str], exclude: str, max_batch_size: int = 0
) -> tuple[str, Any] | None:
    """A valid, non-ensemble corpus config called `name` with the tensors a step maps,
    batching at least as much as the ensemble (Triton refuses a smaller step)."""
    for stem in sorted(VALID):
        if stem == exclude:
            continue
        text, config = _corpus(stem)
        if config.name != name or config.platform == "ensemble":
            continue
        if 0 < config.max_batch_size < max_batch_size:
            continue
        if inputs <= {t.name for t in config.input} and outputs <= {t.name for t in config.output}:
            return text, config
    return None


def _stub(name: str, ensemble: Any, known: dict[str, Any]) -> str:
    """A python model with the tensors the ensemble's steps map into and out of it; each
    takes the type and shape of the ensemble tensor it connects to, where known."""
    config = ModelConfig(name=name, backend="python", max_batch_size=ensemble.max_batch_size)
    for step in ensemble.ensemble_scheduling.step:
        if step.model_name != name:
            continue
        for tensors, mapping in ((config.input, step.input_map), (config.output, step.output_map)):
            for key, tensor in mapping.items():
                if key in {t.name for t in tensors}:
                    continue
                source = known.get(tensor)
                tensors.add(
                    name=key,
                    data_type=source.data_type if source else model_config_pb2.TYPE_FP32,
                    dims=source.dims if source else [-1],
                )
    return str(text_format.MessageToString(config))


def _build_repository(repo: Path, stem: str) -> dict[str, Any]:
    """The corpus file (plus what its ensemble steps run) as a repository; name -> config."""
    text, config = _corpus(stem)
    name = config.name or stem
    policy = config.version_policy
    versions = sorted(policy.specific.versions) if policy.HasField("specific") else [1]
    _place(repo, name, text, config, versions, stem)
    placed = {name: config}
    steps = list(config.ensemble_scheduling.step) if config.platform == "ensemble" else []
    # Ensemble tensor -> its declaration (type, dims), from the ensemble and real models.
    known: dict[str, Any] = {t.name: t for t in [*config.input, *config.output]}
    chosen: dict[str, tuple[str, Any] | None] = {}
    for step_name in dict.fromkeys(s.model_name for s in steps):
        own = [s for s in steps if s.model_name == step_name]
        inputs = {k for s in own for k in s.input_map}
        outputs = {k for s in own for k in s.output_map}
        real = (
            None
            if step_name in placed
            else _real_composing_model(step_name, inputs, outputs, stem, config.max_batch_size)
        )
        chosen[step_name] = real
        if real is not None:
            declared = {t.name: t for t in [*real[1].input, *real[1].output]}
            for step in own:
                for key, tensor in [*step.input_map.items(), *step.output_map.items()]:
                    known.setdefault(tensor, declared[key])
    for step_name, real in chosen.items():
        if step_name in placed:
            continue
        pinned = sorted(
            {s.model_version for s in steps if s.model_name == step_name and s.model_version > 0}
            | {1}
        )
        step_text = real[0] if real else _stub(step_name, config, known)
        step_config = _parse(step_text)
        _place(repo, step_name, step_text, step_config, pinned)
        placed[step_name] = step_config
    return placed


@pytest.fixture
def empty_workspace(tmp_path: Path, catalog_url: str) -> Iterator[Workspace]:
    created = init_workspace(tmp_path / "ws", catalog_url)
    yield created
    created.close()


def _import_and_compile(workspace: Workspace, repo: Path, out: Path) -> list[ManifestDocument]:
    documents = read_triton_repository(repo, domain=DOMAIN, owner_team=TEAM)
    apply_documents(workspace.store, documents)
    workspace.compile(out, profile="production")
    return documents


def _differences(original: Any, compiled: Any) -> list[str]:
    """Every field of `original` that `compiled` lost or changed, and fields it added
    beyond those the compiler may add (name, version_policy, parameters)."""
    before = json_format.MessageToDict(original, preserving_proto_field_name=True)
    after = json_format.MessageToDict(compiled, preserving_proto_field_name=True)
    problems = [
        f"{key}: {before[key]!r} became {after.get(key)!r}"
        for key in before
        if after.get(key) != before[key]
    ]
    problems += [
        f"{key} added: {after[key]!r}"
        for key in after
        if key not in before and key not in COMPILER_FIELDS
    ]
    return problems


# The round trip ------------------------------------------------------------------------


def _marks(stem: str) -> Any:
    reason = KNOWN_FAILURES.get(stem)
    marks = [pytest.mark.xfail(strict=True, raises=InputError, reason=reason)] if reason else []
    return pytest.param(stem, marks=marks, id=stem)


@pytest.mark.skipif(CORPUS is None, reason="the Triton config corpus (shared/corpus) is not here")
@pytest.mark.parametrize("stem", [_marks(stem) for stem in VALID])
def test_compile_of_import_keeps_every_field(
    stem: str, tmp_path: Path, empty_workspace: Workspace
) -> None:
    repo = tmp_path / "repo"
    originals = _build_repository(repo, stem)
    out = tmp_path / "out"
    _import_and_compile(empty_workspace, repo, out)
    for name, original in originals.items():
        compiled = _parse((out / name / "config.pbtxt").read_text(encoding="utf-8"))
        assert _differences(original, compiled) == [], name
        # The message itself, once the fields the original leaves unset are dropped.
        kept = ModelConfig()
        kept.CopyFrom(compiled)
        for field, _ in compiled.ListFields():
            if field not in {f for f, _ in original.ListFields()}:
                kept.ClearField(field.name)
        assert kept == original, name


def test_corpus_lists_the_valid_files() -> None:
    if CORPUS is None:
        pytest.skip("the Triton config corpus (shared/corpus) is not here")
    assert len(VALID) == 52
    assert all((CORPUS / f"{stem}.pbtxt").is_file() for stem in VALID)


# What the catalog records ----------------------------------------------------------------


def _python_config(name: str = "", **fields: Any) -> str:
    config = ModelConfig(backend="python", max_batch_size=4, **fields)
    if name:
        config.name = name
    config.input.add(name="IN", data_type=model_config_pb2.TYPE_FP32, dims=[4])
    config.output.add(name="OUT", data_type=model_config_pb2.TYPE_FP32, dims=[4])
    return str(text_format.MessageToString(config))


def _write(
    repo: Path, name: str, text: str, versions: tuple[int, ...] = (1,), file_name: str = "model.py"
) -> Path:
    folder = repo / name
    folder.mkdir(parents=True)
    (folder / "config.pbtxt").write_text(text)
    for version in versions:
        (folder / str(version)).mkdir()
        (folder / str(version) / file_name).write_text(f"# version {version}\n")
    return folder


def _ensemble(name: str, steps: list[tuple[str, int]]) -> str:
    config = ModelConfig(name=name, platform="ensemble", max_batch_size=4)
    config.input.add(name="IN", data_type=model_config_pb2.TYPE_FP32, dims=[4])
    config.output.add(name="OUT", data_type=model_config_pb2.TYPE_FP32, dims=[4])
    tensor = "IN"
    for index, (model, version) in enumerate(steps):
        step = config.ensemble_scheduling.step.add(model_name=model, model_version=version)
        step.input_map["IN"] = tensor
        tensor = "OUT" if index == len(steps) - 1 else f"t{index}"
        step.output_map["OUT"] = tensor
    return str(text_format.MessageToString(config))


def test_one_spec_per_version_folder_with_the_configs_fields(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _write(
        repo,
        "ranker",
        _python_config(instance_group=[{"kind": "KIND_CPU", "count": 3}]),
        versions=(1, 2),
    )
    (repo / "ranker" / "0").mkdir()  # Triton ignores 0/ and 01/, and so does the import
    (repo / "ranker" / "01").mkdir()
    (repo / "ranker" / "tokenizer").mkdir()
    (repo / ".cache").mkdir()
    (repo / "README.md").write_text("not a model")
    (repo / "docs").mkdir()

    documents = read_triton_repository(repo, domain=DOMAIN, owner_team=TEAM)

    assert [d.spec.ref for d in documents] == ["imported/ranker@1.0", "imported/ranker@2.0"]
    spec = documents[1].spec
    assert documents[1].source == str(repo / "ranker" / "config.pbtxt")
    assert (spec.framework, spec.model_type, spec.owner_team) == ("python", "imported", TEAM)
    assert spec.resource_requirements.max_batch_size == 4
    assert spec.resource_requirements.instance_count == 3
    assert spec.resource_requirements.gpu_memory_mb == 0  # every instance group is KIND_CPU
    assert [(t.name, t.data_type, t.dims) for t in spec.inputs] == [("IN", "FP32", [4])]
    assert [(t.name, t.data_type, t.dims) for t in spec.outputs] == [("OUT", "FP32", [4])]
    assert spec.artifact == str((repo / "ranker" / "2").resolve())
    assert spec.artifact_sha256 is not None
    assert spec.triton["name"] == "ranker"
    assert spec.triton["backend"] == "python"
    # Fields the original leaves unset are null, so the compiler adds none of its own...
    assert spec.triton["dynamic_batching"] is None and spec.triton["platform"] is None
    # ...except the ones it owns.
    assert not COMPILER_FIELDS - {"name"} & set(spec.triton)


@pytest.mark.parametrize(
    ("backend", "platform", "framework"),
    [
        ("onnxruntime", "", "onnx"),
        ("", "onnxruntime_onnx", "onnx"),
        ("pytorch", "", "pytorch"),
        ("", "pytorch_libtorch", "pytorch"),
        ("tensorflow", "", "tensorflow"),
        ("", "tensorflow_savedmodel", "tensorflow"),
        ("", "tensorflow_graphdef", "tensorflow"),
        ("tensorrt", "", "tensorrt"),
        ("", "tensorrt_plan", "tensorrt"),
        ("python", "", "python"),
    ],
)
def test_framework_from_backend_or_platform(
    tmp_path: Path, backend: str, platform: str, framework: str
) -> None:
    config = ModelConfig(backend=backend, platform=platform)
    _write(tmp_path / "repo", "m", str(text_format.MessageToString(config)))
    (spec,) = [
        d.spec for d in read_triton_repository(tmp_path / "repo", domain=DOMAIN, owner_team=TEAM)
    ]
    assert spec.framework == framework
    assert spec.labels == {}


def test_custom_backend_is_python_with_the_backend_label(tmp_path: Path) -> None:
    _write(
        tmp_path / "repo",
        "dali_pipe",
        'backend: "dali"\nmax_batch_size: 8\n',
        file_name="model.dali",
    )
    (spec,) = [
        d.spec for d in read_triton_repository(tmp_path / "repo", domain=DOMAIN, owner_team=TEAM)
    ]
    assert spec.framework == "python"
    assert spec.labels == {BACKEND_LABEL: "dali"}
    assert spec.triton["backend"] == "dali"


def test_backend_from_the_model_file_or_folder_suffix(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _write(repo, "plan", "max_batch_size: 2\n", file_name="model.plan")
    _write(repo, "echo.identity", "", file_name="weights.bin")
    specs = {
        d.spec.name: d.spec for d in read_triton_repository(repo, domain=DOMAIN, owner_team=TEAM)
    }
    assert specs["plan"].framework == "tensorrt"
    assert (specs["echo_identity"].framework, specs["echo_identity"].labels) == (
        "python",
        {BACKEND_LABEL: "identity"},
    )


def test_catalog_name_is_safe_and_the_triton_name_is_kept(
    tmp_path: Path, empty_workspace: Workspace
) -> None:
    repo = tmp_path / "repo"
    _write(repo, "Text.Recognition-v2", _python_config())
    _write(repo, "_private", _python_config())
    _write(repo, "pipe", _ensemble("pipe", [("Text.Recognition-v2", 1), ("_private", -1)]))

    documents = _import_and_compile(empty_workspace, repo, tmp_path / "out")

    names = {d.spec.name: d.spec for d in documents}
    assert set(names) == {"text_recognition-v2", "m_private", "pipe"}
    assert names["text_recognition-v2"].triton["name"] == "Text.Recognition-v2"
    assert catalog_name("Text.Recognition-v2") == "text_recognition-v2"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "Text.Recognition-v2",
        "_private",
        "pipe",
    ]


def test_ensemble_steps_become_dependencies_dependencies_first(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _write(repo, "a_pipe", _ensemble("a_pipe", [("z_pre", 2), ("m_post", -1), ("z_pre", -1)]))
    _write(repo, "m_post", _python_config(), versions=(1, 3))
    _write(repo, "z_pre", _python_config(), versions=(1, 2))

    documents = read_triton_repository(repo, domain=DOMAIN, owner_team=TEAM)

    refs = [d.spec.ref for d in documents]
    assert refs == [
        "imported/m_post@1.0",
        "imported/m_post@3.0",
        "imported/z_pre@1.0",
        "imported/z_pre@2.0",
        "imported/a_pipe@1.0",
    ]
    ensemble = documents[-1].spec
    assert (ensemble.framework, ensemble.model_type, ensemble.artifact) == (
        "ensemble",
        "ensemble",
        None,
    )
    assert ensemble.dependencies == ["imported/m_post", "imported/z_pre==2.0"]
    assert ensemble.ensemble is not None
    assert [s.model for s in ensemble.ensemble.steps] == [
        "imported/z_pre",
        "imported/m_post",
        "imported/z_pre",
    ]
    assert ensemble.resource_requirements.gpu_memory_mb == 0


def test_reimport_changes_nothing(tmp_path: Path, empty_workspace: Workspace) -> None:
    repo = tmp_path / "repo"
    _write(repo, "m", _python_config())
    _import_and_compile(empty_workspace, repo, tmp_path / "out")
    again = apply_documents(
        empty_workspace.store, read_triton_repository(repo, domain=DOMAIN, owner_team=TEAM)
    )
    assert (again.created, again.unchanged) == ([], ["imported/m@1.0"])


def test_a_new_version_folder_is_a_new_catalog_version(
    tmp_path: Path, empty_workspace: Workspace
) -> None:
    repo = tmp_path / "repo"
    _write(repo, "m", _python_config())
    _import_and_compile(empty_workspace, repo, tmp_path / "out")
    (repo / "m" / "2").mkdir()
    (repo / "m" / "2" / "model.py").write_text("# version 2\n")
    result = apply_documents(
        empty_workspace.store, read_triton_repository(repo, domain=DOMAIN, owner_team=TEAM)
    )
    assert (result.created, result.unchanged) == (["imported/m@2.0"], ["imported/m@1.0"])


# Errors --------------------------------------------------------------------------------


def test_config_in_a_version_folder_is_refused(tmp_path: Path) -> None:
    if CORPUS is None:
        pytest.skip("the Triton config corpus (shared/corpus) is not here")
    version = tmp_path / "repo" / "ensemble_model" / "1"
    version.mkdir(parents=True)
    text = (CORPUS / "invalid_tutorial_ensemble_config_in_version_dir.pbtxt").read_text()
    (version / "config.pbtxt").write_text(text)
    with pytest.raises(
        InputError,
        match=r"ensemble_model/1/config\.pbtxt: config\.pbtxt "
        r"belongs in the model folder",
    ):
        read_triton_repository(tmp_path / "repo", domain=DOMAIN, owner_team=TEAM)


def test_model_without_a_version_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "repo" / "lonely"
    folder.mkdir(parents=True)
    (folder / "config.pbtxt").write_text(_python_config())
    (folder / "0").mkdir()  # not a version folder for Triton
    with pytest.raises(InputError, match=r"repo/lonely: no version folder"):
        read_triton_repository(tmp_path / "repo", domain=DOMAIN, owner_team=TEAM)


def test_version_folders_without_a_config_are_refused(tmp_path: Path) -> None:
    (tmp_path / "repo" / "bare" / "1").mkdir(parents=True)
    with pytest.raises(InputError, match=r"repo/bare: has version folders but no config\.pbtxt"):
        read_triton_repository(tmp_path / "repo", domain=DOMAIN, owner_team=TEAM)


def test_unparsable_config_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "repo", "broken", 'backend: "python"\nmax_batch_size: four\n')
    with pytest.raises(
        InputError,
        match=r"repo/broken/config\.pbtxt:.*max_batch_size.*not a "
        r"valid ModelConfig",
    ):
        read_triton_repository(tmp_path / "repo", domain=DOMAIN, owner_team=TEAM)


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "repo", "typo", 'backend: "python"\nmax_batchsize: 4\n')
    with pytest.raises(InputError, match=r"repo/typo/config\.pbtxt:.*max_batchsize"):
        read_triton_repository(tmp_path / "repo", domain=DOMAIN, owner_team=TEAM)


def test_name_other_than_the_folder_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "repo", "folder_name", _python_config(name="config_name"))
    with pytest.raises(
        InputError,
        match=r"folder_name/config\.pbtxt: name: 'config_name' "
        r"differs from its folder name 'folder_name'",
    ):
        read_triton_repository(tmp_path / "repo", domain=DOMAIN, owner_team=TEAM)


def test_step_running_a_model_outside_the_repository_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _write(repo, "pre", _python_config())
    _write(repo, "pipe", _ensemble("pipe", [("pre", -1), ("missing_model", -1)]))
    with pytest.raises(
        InputError,
        match=r"pipe/config\.pbtxt: ensemble_scheduling\.step\[1\]: "
        r"runs the model 'missing_model', which is not in",
    ):
        read_triton_repository(repo, domain=DOMAIN, owner_team=TEAM)


def test_step_pinning_a_missing_version_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _write(repo, "pre", _python_config())
    _write(repo, "pipe", _ensemble("pipe", [("pre", 3)]))
    with pytest.raises(
        InputError,
        match=r"step\[0\]: runs version 3 of 'pre', which has no "
        r"version folder 3/",
    ):
        read_triton_repository(repo, domain=DOMAIN, owner_team=TEAM)


def test_steps_pinning_two_versions_of_one_model_are_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _write(repo, "pre", _python_config(), versions=(1, 2))
    _write(repo, "pipe", _ensemble("pipe", [("pre", 1), ("pre", 2)]))
    with pytest.raises(InputError, match=r"steps run versions \[1, 2\] of 'pre'"):
        read_triton_repository(repo, domain=DOMAIN, owner_team=TEAM)


def test_ensembles_in_a_cycle_are_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _write(repo, "a", _ensemble("a", [("b", -1)]))
    _write(repo, "b", _ensemble("b", [("a", -1)]))
    with pytest.raises(
        InputError,
        match=r"a/config\.pbtxt: ensembles run each other in a "
        r"cycle: a -> b -> a",
    ):
        read_triton_repository(repo, domain=DOMAIN, owner_team=TEAM)


def test_unknown_platform_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "repo", "typo", 'platform: "onnxruntim"\n')
    with pytest.raises(
        InputError,
        match=r"typo/config\.pbtxt: platform 'onnxruntim' is not a "
        r"Triton platform",
    ):
        read_triton_repository(tmp_path / "repo", domain=DOMAIN, owner_team=TEAM)


def test_folders_with_one_catalog_name_are_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _write(repo, "Ranker", _python_config())
    _write(repo, "ranker", _python_config())
    with pytest.raises(InputError, match=r"becomes the catalog name 'ranker'"):
        read_triton_repository(repo, domain=DOMAIN, owner_team=TEAM)


def test_a_model_folder_is_not_a_repository(tmp_path: Path) -> None:
    folder = _write(tmp_path / "repo", "m", _python_config())
    with pytest.raises(InputError, match=r"is a model folder, not a repository"):
        read_triton_repository(folder, domain=DOMAIN, owner_team=TEAM)


def test_bad_domain_or_team_names_the_flag(tmp_path: Path) -> None:
    _write(tmp_path / "repo", "m", _python_config())
    with pytest.raises(InputError, match=r"--domain: domain 'Search!' is not allowed"):
        read_triton_repository(tmp_path / "repo", domain="Search!", owner_team=TEAM)
    with pytest.raises(InputError, match=r"--owner-team: owner_team 'ML Team'"):
        read_triton_repository(tmp_path / "repo", domain=DOMAIN, owner_team="ML Team")


# What the compiled repository still lacks ------------------------------------------------


def test_compiled_version_folders_keep_their_numbers(
    tmp_path: Path, empty_workspace: Workspace
) -> None:
    repo = tmp_path / "repo"
    _write(repo, "m", _python_config(), versions=(2, 3))
    _import_and_compile(empty_workspace, repo, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out" / "m").iterdir() if p.is_dir()) == ["3"]


@pytest.mark.xfail(
    strict=True,
    reason=(
        "files beside config.pbtxt (label_filename files) are not part of any artifact, so the "
        "compiled model folder lacks them and Triton cannot load it"
    ),
)
def test_label_file_beside_the_config_is_compiled(
    tmp_path: Path, empty_workspace: Workspace
) -> None:
    config = ModelConfig(backend="python", max_batch_size=4)
    config.output.add(
        name="OUT", data_type=model_config_pb2.TYPE_FP32, dims=[4], label_filename="labels.txt"
    )
    folder = _write(tmp_path / "repo", "m", str(text_format.MessageToString(config)))
    (folder / "labels.txt").write_text("cat\ndog\n")
    _import_and_compile(empty_workspace, tmp_path / "repo", tmp_path / "out")
    assert (tmp_path / "out" / "m" / "labels.txt").is_file()
