"""Loading manifests the good way: YAML documents, folders, the seed's JSON, re-applies,
dry runs, artifacts, tensor types and version spellings."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from modelyard import (
    InputError,
    ModelSpec,
    ValidationFailed,
    Workspace,
    load_manifests,
    parse_manifest_text,
)
from tests.support.netflix import NETFLIX_MODELS, NETFLIX_REFS


def doc(name: str, *deps: str, version: str = "1.0", domain: str = "x", extra: str = "") -> str:
    text = (
        f'name: {name}\nversion: "{version}"\nmodel_type: classification\n'
        f"framework: pytorch\ndomain: {domain}\nowner_team: team\n"
    )
    if deps:
        text += "dependencies:\n" + "".join(f"  - {d}\n" for d in deps)
    return text + extra


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def refs(workspace: Workspace) -> list[str]:
    return sorted(s.ref for s in workspace.list_models(all_versions=True))


def spec(workspace: Workspace, ref: str) -> ModelSpec:
    return workspace.show(ref).spec


# Multi-document YAML and empty documents.


def test_multi_document_file(workspace: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "m" / "three.yaml",
        "# three models in one file\n"
        + doc("a")
        + "---\n"
        + doc("b", "x/a")
        + "---\n# the last one\n"
        + doc("c", "x/b>=1.0,<2"),
    )
    documents = load_manifests([path])
    assert [d.spec.ref for d in documents] == ["x/a@1.0", "x/b@1.0", "x/c@1.0"]
    assert [d.line for d in documents] == [2, 9, 19]
    assert all(d.source == str(path) for d in documents)
    assert documents[1].where == f"{path}:9"
    result = workspace.apply([path])
    assert result.created == ["x/a@1.0", "x/b@1.0", "x/c@1.0"]
    assert result.unchanged == [] and result.dry_run is False
    assert spec(workspace, "x/c").dependencies == ["x/b>=1.0,<2"]


def test_empty_documents_are_skipped(workspace: Workspace, tmp_path: Path) -> None:
    text = "---\n# only a comment\n---\n" + doc("a") + "---\n---\n\n" + doc("b") + "---\n...\n"
    path = write(tmp_path / "gaps.yaml", text)
    assert [d.spec.ref for d in load_manifests([path])] == ["x/a@1.0", "x/b@1.0"]
    assert workspace.apply([path]).created == ["x/a@1.0", "x/b@1.0"]


def test_file_with_no_documents_registers_nothing(netflix: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "empty.yaml", "# nothing here yet\n---\n")
    result = netflix.apply([path])
    assert result.created == [] and result.unchanged == []
    assert refs(netflix) == NETFLIX_REFS


def test_parse_manifest_text() -> None:
    [document] = parse_manifest_text(doc("a", "search/query_understanding>=1.0"), source="api")
    assert document.spec.ref == "x/a@1.0"
    assert document.source == "api" and document.line == 1
    with pytest.raises(InputError) as raised:
        parse_manifest_text(doc("a", version="1"), source="api")
    [problem] = raised.value.problems
    assert (problem.source, problem.line, problem.field) == ("api", 2, "version")


# Folders.


def test_folder_is_read_recursively_skipping_hidden_and_other_files(
    workspace: Workspace, tmp_path: Path
) -> None:
    root = tmp_path / "models"
    write(root / "top.yaml", doc("top", "x/mid", "x/leaf"))
    write(root / "nested" / "mid.yml", doc("mid", "x/leaf"))
    write(root / "nested" / "deeper" / "leaf.yaml", doc("leaf"))
    from_json = parse_manifest_text(doc("from_json"))[0].spec.model_dump(mode="json")
    write(root / "nested" / "list.json", json.dumps([from_json]))
    # Skipped: hidden files and folders (even when invalid), files that are not manifests.
    write(root / ".draft.yaml", "this: [is not valid\n")
    write(root / ".git" / "config.yaml", "name: [broken\n")
    write(root / "nested" / ".cache" / "old.yaml", doc("old"))
    write(root / "README.md", "# models\n")
    write(root / "nested" / "notes.txt", "name: notes\n")
    write(root / "nested" / "empty.yaml", "")

    documents = load_manifests([root])
    assert sorted(d.spec.ref for d in documents) == [
        "x/from_json@1.0",
        "x/leaf@1.0",
        "x/mid@1.0",
        "x/top@1.0",
    ]
    assert all(Path(d.source).is_relative_to(root) for d in documents)
    result = workspace.apply([root])
    assert result.created == ["x/from_json@1.0", "x/leaf@1.0", "x/mid@1.0", "x/top@1.0"]


def test_dependent_in_a_file_sorting_before_its_dependency(
    netflix: Workspace, tmp_path: Path
) -> None:
    root = tmp_path / "models"
    write(
        root / "a_ranker.yaml",
        doc("ranker", "x/z_features>=1.0", "recommendation/user_embedding>=1.0,<2"),
    )
    write(root / "z_features.yaml", doc("z_features"))
    assert [Path(d.source).name for d in load_manifests([root])] == [
        "a_ranker.yaml",
        "z_features.yaml",
    ]
    result = netflix.apply([root])
    assert result.created == ["x/ranker@1.0", "x/z_features@1.0"]
    assert refs(netflix) == sorted(NETFLIX_REFS + ["x/ranker@1.0", "x/z_features@1.0"])


def test_order_of_paths_is_irrelevant(workspace: Workspace, tmp_path: Path) -> None:
    leaf = write(tmp_path / "leaf.yaml", doc("leaf"))
    top = write(tmp_path / "top.yaml", doc("top", "x/leaf"))
    assert workspace.apply([top, leaf], dry_run=True).created == ["x/leaf@1.0", "x/top@1.0"]
    assert workspace.apply([leaf, top]).created == ["x/leaf@1.0", "x/top@1.0"]


def test_folder_and_file_arguments_together(workspace: Workspace, tmp_path: Path) -> None:
    extra = write(tmp_path / "extra" / "m.yaml", doc("m", "search/query_understanding"))
    result = workspace.apply([NETFLIX_MODELS, extra])
    assert result.created == sorted(NETFLIX_REFS + ["x/m@1.0"])


def test_folder_without_manifests_is_an_error(workspace: Workspace, tmp_path: Path) -> None:
    write(tmp_path / "docs" / "README.md", "# nothing\n")
    with pytest.raises(InputError) as raised:
        workspace.apply([tmp_path / "docs"])
    [problem] = raised.value.problems
    assert "no manifest files" in problem.message and str(tmp_path / "docs") in str(problem)


def test_missing_path_is_an_error(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        workspace.apply([tmp_path / "nope.yaml"])
    [problem] = raised.value.problems
    assert str(problem) == f"{tmp_path / 'nope.yaml'}: no such file or folder"


# The seed notebook's repository_metadata.json.


def _seed_entry(name: str, domain: str, **fields: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "name": name,
        "version": "1.0",
        "model_type": "embedding",
        "framework": "pytorch",
        "domain": domain,
        "owner_team": "recommendation_platform",
        "description": f"{name} from the notebook",
        "dependencies": [],
        "resource_requirements": None,
        "sla_requirements": None,
        "created_at": "2024-01-15T10:30:00.123456",
    }
    entry.update(fields)
    return entry


def test_seed_repository_metadata_json_with_null_defaults(
    workspace: Workspace, tmp_path: Path
) -> None:
    seed = {
        "recommendation/user_embedding": _seed_entry("user_embedding", "recommendation"),
        "recommendation/ranker": _seed_entry(
            "ranker",
            "recommendation",
            version="3.0",
            model_type="classification",
            dependencies=["recommendation/user_embedding>=1.0,<2"],
            description=None,
            resource_requirements={
                "memory_mb": 8192,
                "gpu_memory_mb": 12288,
                "cpu_cores": 8,
                "max_batch_size": 32,
            },
            sla_requirements={
                "max_latency_p99_ms": 100,
                "min_throughput_rps": 25,
                "availability": 0.9999,
            },
        ),
        "search/parser": _seed_entry(
            "parser",
            "search",
            dependencies=None,
            labels=None,
            inputs=None,
            outputs=None,
            triton=None,
        ),
    }
    path = write(tmp_path / "repository_metadata.json", json.dumps(seed, indent=2))
    result = workspace.apply([path])
    assert result.created == [
        "recommendation/ranker@3.0",
        "recommendation/user_embedding@1.0",
        "search/parser@1.0",
    ]

    defaulted = spec(workspace, "recommendation/user_embedding@1.0")
    resources = defaulted.resource_requirements
    assert (
        resources.memory_mb,
        resources.gpu_memory_mb,
        resources.cpu_cores,
        resources.max_batch_size,
        resources.instance_count,
    ) == (2048, 4096, 2, 32, 1)
    sla = defaulted.sla_requirements
    assert (sla.max_latency_p99_ms, sla.min_throughput_rps, sla.availability) == (100, 10, 0.999)
    assert "created_at" not in defaulted.model_dump()

    ranker = spec(workspace, "recommendation/ranker")
    assert ranker.description == ""
    assert ranker.dependencies == ["recommendation/user_embedding>=1.0,<2"]
    assert ranker.resource_requirements.gpu_memory_mb == 12288
    assert ranker.resource_requirements.max_batch_size == 32
    assert ranker.sla_requirements.availability == 0.9999

    parser = spec(workspace, "search/parser")
    assert parser.dependencies == [] and parser.labels == {} and parser.inputs == []
    assert workspace.show("recommendation/ranker").dependencies == {
        "recommendation/user_embedding>=1.0,<2": "recommendation/user_embedding@1.0"
    }


def test_seed_json_of_the_netflix_models_matches_the_yaml(
    netflix: Workspace, tmp_path: Path
) -> None:
    # The same five models written the notebook's way are the same content.
    seed = {
        s.id: {**s.model_dump(mode="json"), "created_at": "2024-01-15T10:30:00"}
        for s in netflix.list_models()
    }
    path = write(tmp_path / "repository_metadata.json", json.dumps(seed))
    result = netflix.apply([path])
    assert result.created == [] and result.unchanged == NETFLIX_REFS


# Re-applying and dry runs.


def test_reapplying_the_same_content_is_a_no_op(netflix: Workspace) -> None:
    before = {s.ref: netflix.show(s.ref) for s in netflix.list_models()}
    result = netflix.apply([NETFLIX_MODELS])
    assert result.created == [] and result.unchanged == NETFLIX_REFS
    assert refs(netflix) == NETFLIX_REFS
    after = {s.ref: netflix.show(s.ref) for s in netflix.list_models()}
    assert after == before  # same registration time and source


def test_reformatted_manifest_is_unchanged(netflix: Workspace, tmp_path: Path) -> None:
    # Key order, flow style, comments and an explicit default do not change the content.
    text = """\
# same model, different spelling
sla_requirements: {availability: 0.9999, min_throughput_rps: 100, max_latency_p99_ms: 50}
resource_requirements: {cpu_cores: 4, gpu_memory_mb: 6144, memory_mb: 4096,
                        max_batch_size: 128, instance_count: 1}
owner_team: recommendation_platform
domain: recommendation
framework: onnx
model_type: embedding
version: '1.0'
name: user_embedding
description: "User embedding model, turns viewing behaviour into dense vectors"
dependencies: []
artifact: ARTIFACT  # another path to the same file: the digest identifies it
"""
    copy = tmp_path / "elsewhere" / "user.onnx"
    copy.parent.mkdir()
    copy.write_bytes((NETFLIX_MODELS.parent / "artifacts" / "user_embedding.onnx").read_bytes())
    text = text.replace("ARTIFACT", str(copy))
    result = netflix.apply([write(tmp_path / "user.yaml", text)])
    assert result.created == [] and result.unchanged == ["recommendation/user_embedding@1.0"]


def test_dry_run_writes_nothing(workspace: Workspace) -> None:
    result = workspace.apply([NETFLIX_MODELS], dry_run=True)
    assert result.dry_run is True
    assert result.created == NETFLIX_REFS and result.unchanged == []
    assert result.model_dump(mode="json") == {
        "ok": True,
        "dry_run": True,
        "created": NETFLIX_REFS,
        "unchanged": [],
        "transferred": {},
    }
    assert workspace.list_models(all_versions=True) == []
    assert workspace.apply([NETFLIX_MODELS]).created == NETFLIX_REFS


def test_dry_run_on_a_catalog(netflix: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "new.yaml", doc("m", "search/content_retrieval>=2.0"))
    result = netflix.apply([NETFLIX_MODELS, path], dry_run=True)
    assert result.created == ["x/m@1.0"] and result.unchanged == NETFLIX_REFS
    assert refs(netflix) == NETFLIX_REFS


def test_dry_run_still_reports_errors(netflix: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "new.yaml", doc("m", "search/nope"))
    with pytest.raises(ValidationFailed):
        netflix.apply([path], dry_run=True)


# Artifacts.


def test_artifact_is_resolved_and_hashed(workspace: Workspace, tmp_path: Path) -> None:
    weights = write(tmp_path / "weights" / "model.onnx", b"\x00onnx weights\x01" * 1000)
    manifest = write(
        tmp_path / "models" / "m.yaml", doc("m", extra="artifact: ../weights/model.onnx\n")
    )
    [document] = load_manifests([manifest])
    assert document.spec.artifact == str(weights.resolve())
    assert Path(document.spec.artifact).is_absolute()
    assert document.spec.artifact_sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()

    workspace.apply([manifest])
    stored = spec(workspace, "x/m@1.0")
    assert stored.artifact == str(weights.resolve())
    assert stored.artifact_sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()


def test_artifact_with_the_right_pinned_digest(workspace: Workspace, tmp_path: Path) -> None:
    weights = write(tmp_path / "model.plan", b"engine")
    digest = hashlib.sha256(b"engine").hexdigest()
    manifest = write(
        tmp_path / "m.yaml", doc("m", extra=f"artifact: {weights}\nartifact_sha256: {digest}\n")
    )
    assert workspace.apply([manifest]).created == ["x/m@1.0"]
    assert spec(workspace, "x/m").artifact_sha256 == digest


def test_artifact_folder_digest_covers_names_and_contents(tmp_path: Path) -> None:
    def digest_of(files: dict[str, bytes]) -> str | None:
        folder = tmp_path / "-".join(sorted(f"{k}={v!r}" for k, v in files.items())).replace(
            "/", "_"
        )
        for name, content in files.items():
            write(folder / "model" / name, content)
        write(folder / "m.yaml", doc("m", extra="artifact: model\n"))
        return load_manifests([folder / "m.yaml"])[0].spec.artifact_sha256

    base = digest_of({"1/model.onnx": b"w", "config.pbtxt": b"c"})
    assert base is not None and len(base) == 64
    assert digest_of({"config.pbtxt": b"c", "1/model.onnx": b"w"}) == base
    assert digest_of({"1/model.onnx": b"w", "config.pbtxt": b"C"}) != base
    assert digest_of({"2/model.onnx": b"w", "config.pbtxt": b"c"}) != base


def test_artifact_location_is_not_content(netflix: Workspace, tmp_path: Path) -> None:
    # The same file at another place is the same version; other bytes are a conflict.
    for folder in ("first", "second"):
        write(tmp_path / folder / "model.onnx", b"weights")
        write(tmp_path / folder / "m.yaml", doc("m", extra="artifact: model.onnx\n"))
    assert netflix.apply([tmp_path / "first"]).created == ["x/m@1.0"]
    assert netflix.apply([tmp_path / "second"]).unchanged == ["x/m@1.0"]
    assert spec(netflix, "x/m").artifact == str((tmp_path / "first" / "model.onnx").resolve())


# Tensors.


def test_tensor_data_types_are_normalised(workspace: Workspace, tmp_path: Path) -> None:
    extra = """\
inputs:
  - {name: input_ids, data_type: TYPE_INT64, dims: [-1]}
  - {name: mask, data_type: type_bool, dims: [-1, 128]}
outputs:
  - {name: "logits:0", data_type: TYPE_FP32, dims: [2]}
  - {name: scores, data_type: fp16, dims: [1]}
"""
    path = write(tmp_path / "m.yaml", doc("m", extra=extra))
    workspace.apply([path])
    stored = spec(workspace, "x/m")
    assert [t.data_type for t in stored.inputs] == ["INT64", "BOOL"]
    assert [t.data_type for t in stored.outputs] == ["FP32", "FP16"]
    assert stored.inputs[1].dims == [-1, 128]
    # The same tensors written without the prefix are the same content.
    plain = extra.replace("TYPE_", "").replace("type_bool", "BOOL").replace("fp16", "FP16")
    again = write(tmp_path / "again.yaml", doc("m", extra=plain))
    assert workspace.apply([again]).unchanged == ["x/m@1.0"]


# Version spellings: 1.0 and 1.0.0 are one version.


def test_same_version_spelled_two_ways_in_one_apply_is_a_duplicate(
    netflix: Workspace, tmp_path: Path
) -> None:
    short = write(tmp_path / "a.yaml", doc("m", version="1.0"))
    long = write(tmp_path / "b.yaml", doc("m", version="1.0.0"))
    with pytest.raises(InputError) as raised:
        netflix.apply([short, long])
    [problem] = raised.value.problems
    assert problem.code == "duplicate-document"
    assert problem.source == str(long)
    assert f"x/m@1.0.0 is also defined at {short}:1" in problem.message
    assert refs(netflix) == NETFLIX_REFS


def test_same_version_spelled_two_ways_in_one_file(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "m.yaml", doc("m", version="2.1") + "---\n" + doc("m", version="2.1.0"))
    with pytest.raises(InputError) as raised:
        workspace.apply([path])
    [problem] = raised.value.problems
    assert (problem.source, problem.line) == (str(path), 8)
    assert f"also defined at {path}:1" in problem.message


def test_longer_spelling_finds_the_registered_version(netflix: Workspace, tmp_path: Path) -> None:
    netflix.apply([write(tmp_path / "m.yaml", doc("m", version="1.0"))])
    assert netflix.show("x/m@1.0.0").spec.ref == "x/m@1.0"
    dependent = write(tmp_path / "d.yaml", doc("d", "x/m==1.0.0"))
    assert netflix.apply([dependent]).created == ["x/d@1.0"]
    assert netflix.show("x/d").dependencies == {"x/m==1.0.0": "x/m@1.0"}


def test_newer_patch_is_a_new_version(netflix: Workspace, tmp_path: Path) -> None:
    netflix.apply([write(tmp_path / "a.yaml", doc("m", version="1.0"))])
    result = netflix.apply([write(tmp_path / "b.yaml", doc("m", version="1.0.1"))])
    assert result.created == ["x/m@1.0.1"]
    assert [s.version for s in netflix.list_models(domain="x")] == ["1.0.1"]


def test_same_version_spelled_differently_later_is_unchanged(
    netflix: Workspace, tmp_path: Path
) -> None:
    netflix.apply([write(tmp_path / "a.yaml", doc("m", version="1.0"))])
    result = netflix.apply([write(tmp_path / "b.yaml", doc("m", version="1.0.0"))])
    assert result.created == [] and result.unchanged == ["x/m@1.0.0"]
