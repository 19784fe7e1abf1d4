"""Malformed manifests: each gives exactly one clear error and leaves the catalog alone.

Every case is applied on top of the Netflix example. The error must be the right
modelyard class with exactly one problem whose text names the file, the field (where
there is one) and the reason, with the right line where the problem sits in one YAML
key; afterwards the catalog still holds exactly the five Netflix models.

"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import EllipsisType

import pytest

from modelyard import Workspace
from modelyard.errors import InputError, ModelyardError, Problem, ValidationFailed
from modelyard.ops import parse_ahead
from tests.support.netflix import NETFLIX_REFS
from tests.support.workspaces import Cli

# The required keys of a valid manifest, one per line: lines 1-6, extras from line 7.
_REQUIRED = {
    "name": "m",
    "version": '"1.0"',
    "model_type": "classification",
    "framework": "pytorch",
    "domain": "x",
    "owner_team": "team",
}


def doc(extra: str = "", *, drop: str | None = None, **values: str) -> str:
    """A manifest for `x/m@1.0`; `values` replace required keys (raw YAML), `drop` removes one,
    `extra` is appended after line 6."""
    lines = [f"{key}: {values.get(key, value)}" for key, value in _REQUIRED.items() if key != drop]
    return "\n".join(lines) + "\n" + extra


def seed_entry(**changes: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "name": "m",
        "version": "1.0",
        "model_type": "classification",
        "framework": "pytorch",
        "domain": "x",
        "owner_team": "team",
        "description": "",
        "dependencies": [],
        "resource_requirements": None,
        "sla_requirements": None,
        "created_at": "2024-01-15T10:30:00",
    }
    entry.update(changes)
    return entry


TENSOR = "  - name: a\n    data_type: FP32\n    dims: [1]\n"


@dataclass(frozen=True)
class Bad:
    """One malformed manifest and the single problem it must produce."""

    text: str | bytes
    field: str | None  # substring of Problem.field (and of str(problem)); None: no field
    reason: str  # substring of Problem.message
    line: int | None | EllipsisType = ...  # expected Problem.line; ... means not checked
    filename: str = "bad.yaml"
    error: type[ModelyardError] = InputError
    # Only require the field's name in the text (the problem has no `field` of its own).
    field_in_text_only: bool = False
    # Other files next to the manifest (artifacts), not applied themselves.
    extra_files: dict[str, bytes] = dataclasses.field(default_factory=dict)


CASES = [
    # Missing required keys: reported on the document's first line.
    pytest.param(Bad(doc(drop="name"), "name", "required key is missing", 1), id="missing-name"),
    pytest.param(
        Bad(doc(drop="version"), "version", "required key is missing", 1), id="missing-version"
    ),
    pytest.param(
        Bad(doc(drop="framework"), "framework", "required key is missing", 1),
        id="missing-framework",
    ),
    pytest.param(
        Bad(doc(drop="domain"), "domain", "required key is missing", 1), id="missing-domain"
    ),
    pytest.param(
        Bad(doc(drop="owner_team"), "owner_team", "required key is missing", 1),
        id="missing-owner-team",
    ),
    pytest.param(
        Bad(doc(drop="model_type"), "model_type", "required key is missing", 1),
        id="missing-model-type",
    ),
    # Wrong types (strict: no silent coercion).
    pytest.param(
        Bad(
            doc("resource_requirements:\n  gpu_memory_mb: 12GB\n"),
            "resource_requirements.gpu_memory_mb",
            "valid integer, got '12GB'",
            8,
        ),
        id="gpu-memory-as-text",
    ),
    pytest.param(
        Bad(
            doc("resource_requirements:\n  cpu_cores: [1]\n"),
            "resource_requirements.cpu_cores",
            "valid number, got [1]",
            8,
        ),
        id="cpu-cores-as-list",
    ),
    pytest.param(
        Bad(
            doc("resource_requirements:\n  memory_mb: '1024'\n"),
            "resource_requirements.memory_mb",
            "valid integer, got '1024'",
            8,
        ),
        id="memory-as-quoted-number",
    ),
    pytest.param(
        Bad(doc("labels:\n  team: ranking\n  tier: 1\n"), "labels.tier", "valid string, got 1", 9),
        id="label-value-int",
    ),
    pytest.param(
        Bad(doc("dependencies: search/query_understanding\n"), "dependencies", "valid list", 7),
        id="dependencies-not-a-list",
    ),
    pytest.param(
        Bad(doc("resource_requirements: [1]\n"), "resource_requirements", "valid dictionary", 7),
        id="resources-not-a-mapping",
    ),
    pytest.param(Bad(doc(framework="jax"), "framework", "got 'jax'", 4), id="unknown-framework"),
    pytest.param(Bad(doc(version="null"), "version", "valid string", 2), id="version-null"),
    # Out of range.
    pytest.param(
        Bad(
            doc("resource_requirements:\n  memory_mb: 0\n"),
            "resource_requirements.memory_mb",
            "greater than 0, got 0",
            8,
        ),
        id="memory-zero",
    ),
    pytest.param(
        Bad(
            doc("resource_requirements: {cpu_cores: 2, memory_mb: 0}\n"),
            "resource_requirements.memory_mb",
            "greater than 0, got 0",
            7,
        ),
        id="memory-zero-flow-style",
    ),
    pytest.param(
        Bad(
            doc("resource_requirements:\n  memory_mb: 1024\n  gpu_memory_mb: -1\n"),
            "resource_requirements.gpu_memory_mb",
            "greater than or equal to 0, got -1",
            9,
        ),
        id="gpu-memory-negative",
    ),
    pytest.param(
        Bad(
            doc("resource_requirements:\n  instance_count: 0\n"),
            "resource_requirements.instance_count",
            "greater than or equal to 1",
            8,
        ),
        id="instance-count-zero",
    ),
    pytest.param(
        Bad(
            doc("sla_requirements:\n  availability: 1.5\n"),
            "sla_requirements.availability",
            "less than or equal to 1, got 1.5",
            8,
        ),
        id="availability-above-one",
    ),
    pytest.param(
        Bad(
            doc("sla_requirements:\n  availability: 0\n"),
            "sla_requirements.availability",
            "greater than 0, got 0",
            8,
        ),
        id="availability-zero",
    ),
    pytest.param(
        Bad(
            doc("sla_requirements:\n  availability: -0.5\n"),
            "sla_requirements.availability",
            "greater than 0",
            8,
        ),
        id="availability-negative",
    ),
    pytest.param(
        Bad(
            doc("sla_requirements:\n  max_latency_p99_ms: -5\n"),
            "sla_requirements.max_latency_p99_ms",
            "greater than 0, got -5",
            8,
        ),
        id="latency-negative",
    ),
    pytest.param(
        Bad(
            doc("sla_requirements:\n  min_throughput_rps: .nan\n"),
            "sla_requirements.min_throughput_rps",
            "finite number",
            8,
        ),
        id="throughput-nan",
    ),
    # Versions.
    pytest.param(
        Bad(doc(version='"1"'), "version", "version '1' must be MAJOR.MINOR", 2),
        id="version-one-part",
    ),
    pytest.param(
        Bad(doc(version='"1.0.0.0"'), "version", "version '1.0.0.0' must be MAJOR.MINOR", 2),
        id="version-four-parts",
    ),
    pytest.param(
        Bad(doc(version='"v1.0"'), "version", "version 'v1.0' must be MAJOR.MINOR", 2),
        id="version-v-prefix",
    ),
    pytest.param(
        Bad(doc(version='"01.0"'), "version", "version '01.0' must be MAJOR.MINOR", 2),
        id="version-leading-zero",
    ),
    pytest.param(
        Bad(doc(version="1.10"), "version", "must be a quoted string", 2),
        id="version-unquoted-float",
    ),
    # Names, domains, teams, types: they become Triton model and folder names.
    pytest.param(
        Bad(doc(name="../etc"), "name", "name '../etc' is not allowed", 1), id="name-path-traversal"
    ),
    pytest.param(
        Bad(doc(name='"My Model"'), "name", "name 'My Model' is not allowed", 1),
        id="name-with-space",
    ),
    pytest.param(Bad(doc(name="a/b"), "name", "name 'a/b' is not allowed", 1), id="name-slash"),
    pytest.param(
        Bad(doc(name="UPPER"), "name", "name 'UPPER' is not allowed", 1), id="name-upper-case"
    ),
    pytest.param(
        Bad(doc(name="-lead"), "name", "name '-lead' is not allowed", 1), id="name-leading-dash"
    ),
    pytest.param(Bad(doc(name='""'), "name", "must not be empty", 1), id="name-empty"),
    pytest.param(
        Bad(doc(name="a" * 65), "name", "longer than 64 characters", 1), id="name-too-long"
    ),
    pytest.param(
        Bad(doc(domain="../x"), "domain", "domain '../x' is not allowed", 5),
        id="domain-path-traversal",
    ),
    pytest.param(
        Bad(doc(domain="Search"), "domain", "domain 'Search' is not allowed", 5),
        id="domain-upper-case",
    ),
    pytest.param(
        Bad(doc(owner_team='"Search Team"'), "owner_team", "owner_team 'Search Team'", 6),
        id="team-with-space",
    ),
    pytest.param(
        Bad(doc(model_type="Classification"), "model_type", "lower-case word", 3),
        id="model-type-upper-case",
    ),
    # Unknown keys, with a suggestion for typos.
    pytest.param(
        Bad(
            doc("dependncies: []\n"),
            "dependncies",
            "unknown key 'dependncies'; did you mean 'dependencies'?",
            7,
        ),
        id="unknown-key-typo",
    ),
    pytest.param(
        Bad(
            doc("resource_requirements:\n  cpu_cores: 2\n  memroy_mb: 1024\n"),
            "resource_requirements.memroy_mb",
            "unknown key 'memroy_mb'; did you mean 'memory_mb'?",
            9,
        ),
        id="unknown-nested-key-typo",
    ),
    pytest.param(
        Bad(doc("sla_requirements:\n  p99: 5\n"), "sla_requirements.p99", "unknown key 'p99'", 8),
        id="unknown-nested-key",
    ),
    pytest.param(
        Bad(
            doc("inputs:\n" + TENSOR + "    shape: [1]\n"),
            "inputs[0].shape",
            "unknown key 'shape'",
            11,
        ),
        id="unknown-tensor-key",
    ),
    # Dependencies.
    pytest.param(
        Bad(
            doc("dependencies:\n  - search\n"),
            "dependencies",
            "dependency 'search' must be domain/name",
            8,
        ),
        id="dependency-no-slash",
    ),
    pytest.param(
        Bad(
            doc("dependencies:\n  - search/query_understanding>>1.0\n"),
            "dependencies",
            "version constraint '>>1.0' is not valid",
            8,
        ),
        id="dependency-bad-constraint",
    ),
    pytest.param(
        Bad(
            doc("dependencies:\n  - search/Query\n"),
            "dependencies",
            "name 'Query' is not allowed",
            8,
        ),
        id="dependency-bad-name",
    ),
    pytest.param(
        Bad(doc("dependencies:\n  - 5\n"), "dependencies[0]", "valid string, got 5", 8),
        id="dependency-not-a-string",
    ),
    # The line of these two is checked (and is wrong) in LINE_BUGS below.
    pytest.param(
        Bad(
            doc("dependencies:\n  - search/query_understanding\n  - x/m>=1.0\n"),
            "dependencies",
            "x/m cannot depend on itself",
            field_in_text_only=True,
        ),
        id="self-dependency",
    ),
    pytest.param(
        Bad(
            doc(
                "dependencies:\n  - search/query_understanding\n"
                "  - search/query_understanding>=1.0\n"
            ),
            "dependencies",
            "search/query_understanding is listed more than once",
        ),
        id="dependency-listed-twice",
    ),
    # Consistency.
    pytest.param(
        Bad(
            doc(framework="ensemble"),
            None,
            "needs model_type 'ensemble'; got model_type 'classification'",
            1,
        ),
        id="ensemble-framework-with-classification",
    ),
    # Tensors.
    pytest.param(
        Bad(
            doc("inputs:\n  - name: a\n    data_type: FLOAT\n    dims: [1]\n"),
            "inputs[0].data_type",
            "got 'FLOAT'",
            9,
        ),
        id="tensor-bad-data-type",
    ),
    pytest.param(
        Bad(
            doc("outputs:\n" + TENSOR + "  - name: b\n    data_type: FP32\n    dims: [4, 0]\n"),
            "outputs[1].dims",
            "dims must be positive or -1 (variable), got 0",
            13,
        ),
        id="tensor-zero-dim",
    ),
    pytest.param(
        Bad(
            doc("inputs:\n  - name: 'a b'\n    data_type: FP32\n    dims: [1]\n"),
            "inputs[0].name",
            "tensor name 'a b'",
            8,
        ),
        id="tensor-bad-name",
    ),
    pytest.param(
        Bad(
            doc("inputs:\n" + TENSOR + TENSOR),
            "inputs",
            "tensor 'a' is declared twice",
            field_in_text_only=True,
        ),
        id="tensor-declared-twice",
    ),
    # Documents and files.
    pytest.param(
        Bad('name: m\nversion: "1.0"\n  framework: [pytorch\n', None, "YAML syntax error", 3),
        id="yaml-syntax-error",
    ),
    pytest.param(
        Bad(
            doc() + "---\n" + doc("resource_requirements:\n  memory_mb: 0\n", name="n"),
            "resource_requirements.memory_mb",
            "greater than 0",
            15,
        ),
        id="second-document-invalid",
    ),
    pytest.param(
        Bad("- name: m\n- name: n\n", None, "expected a mapping", 1), id="document-is-list"
    ),
    pytest.param(Bad("just some text\n", None, "got str", 1), id="document-is-scalar"),
    pytest.param(
        Bad(doc(name="caf\xe9").encode("latin-1"), None, "not UTF-8 text", None), id="not-utf8"
    ),
    pytest.param(
        Bad(
            doc(),
            None,
            "not a manifest: expected a .yaml, .yml or .json file",
            None,
            filename="model.txt",
        ),
        id="txt-file",
    ),
    # Artifacts.
    pytest.param(
        Bad(doc("artifact: weights/model.onnx\n"), "artifact", "no file or folder at", 7),
        id="artifact-missing",
    ),
    # The line of this one is checked (and is wrong) in LINE_BUGS below.
    pytest.param(
        Bad(
            doc("artifact: model.onnx\nartifact_sha256: " + "a" * 64 + "\n"),
            "artifact_sha256",
            "the manifest pins " + "a" * 64,
            extra_files={"model.onnx": b"weights"},
        ),
        id="artifact-digest-mismatch",
    ),
    pytest.param(
        Bad(doc("artifact_sha256: XYZ\n"), "artifact_sha256", "64 lower-case hex digits", 7),
        id="artifact-digest-malformed",
    ),
    # The seed notebook's JSON.
    pytest.param(
        Bad(
            json.dumps({"x/other": seed_entry()}),
            None,
            "entry 'x/other' holds the model x/m; the key must be domain/name",
            None,
            filename="repository_metadata.json",
        ),
        id="seed-json-key-mismatch",
    ),
    pytest.param(
        Bad(
            '{\n  "x/m": {\n    "name": "m",\n  }\n}\n',
            None,
            "JSON syntax error",
            4,
            filename="repository_metadata.json",
        ),
        id="json-syntax-error",
    ),
    pytest.param(
        Bad(
            json.dumps([seed_entry(resource_requirements={"memory_mb": 0})]),
            "resource_requirements.memory_mb",
            "greater than 0",
            None,
            filename="models.json",
        ),
        id="json-list-entry-invalid",
    ),
]


def _write(folder: Path, files: Mapping[str, str | bytes]) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        written[name] = path
    return written


def _write_case(tmp_path: Path, case: Bad) -> Path:
    written = _write(tmp_path / "manifests", {case.filename: case.text, **case.extra_files})
    return written[case.filename]


def _only_problem(error: ModelyardError) -> Problem:
    assert len(error.problems) == 1, "\n".join(str(p) for p in error.problems)
    problem = error.problems[0]
    # With one problem the error's message is that problem (what the CLI prints).
    assert str(error) == str(problem)
    return problem


def _assert_netflix_only(workspace: Workspace) -> None:
    assert sorted(s.ref for s in workspace.list_models(all_versions=True)) == NETFLIX_REFS


def _check(workspace: Workspace, path: Path, case: Bad) -> None:
    with pytest.raises(case.error) as raised:
        workspace.apply([path])
    assert type(raised.value) is case.error
    problem = _only_problem(raised.value)
    text = str(problem)
    assert problem.source == str(path)
    assert text.startswith(str(path))
    if case.field is not None:
        assert case.field in text
        if not case.field_in_text_only:
            assert problem.field is not None and case.field in problem.field, problem
    assert case.reason in problem.message, text
    if case.line is not ...:
        assert problem.line == case.line, text
    _assert_netflix_only(workspace)


@pytest.mark.parametrize("case", CASES)
def test_bad_manifest_gives_one_error_and_changes_nothing(
    netflix: Workspace, tmp_path: Path, case: Bad
) -> None:
    _check(netflix, _write_case(tmp_path, case), case)


def test_there_are_at_least_thirty_distinct_cases() -> None:
    cases = [param.values[0] for param in CASES]
    texts = [case.text for case in cases if isinstance(case, Bad)]
    assert len(texts) == len(cases) >= 30
    assert len(set(texts)) == len(texts)


# Problems that belong to one list entry or key point at that entry's line.
LOCATED_CASES = [
    pytest.param(
        Bad(
            doc("dependencies:\n  - search/query_understanding\n  - x/m>=1.0\n"),
            "dependencies",
            "x/m cannot depend on itself",
            9,
        ),
        id="self-dependency-field-and-line",
    ),
    pytest.param(
        Bad(doc("inputs:\n" + TENSOR + TENSOR), "inputs", "tensor 'a' is declared twice", 11),
        id="tensor-declared-twice-field-and-line",
    ),
    pytest.param(
        Bad(
            doc("dependencies:\n  - search/query_understanding\n  - nope\n"),
            "dependencies",
            "dependency 'nope' must be domain/name",
            9,
        ),
        id="second-dependency-malformed-line",
    ),
    pytest.param(
        Bad(
            doc(
                "dependencies:\n  - search/query_understanding\n  - recommendation/user_embedding\n"
                "  - search/query_understanding>=1.0\n"
            ),
            "dependencies",
            "search/query_understanding is listed more than once",
            10,
        ),
        id="dependency-listed-twice-line",
    ),
    pytest.param(
        Bad(
            doc("artifact: model.onnx\nartifact_sha256: " + "a" * 64 + "\n"),
            "artifact_sha256",
            "the manifest pins " + "a" * 64,
            8,
            extra_files={"model.onnx": b"weights"},
        ),
        id="artifact-digest-mismatch-line",
    ),
    pytest.param(
        Bad(
            doc("resource_requirements:\n  memory_mb: 1024\n  memory_mb: 2048\n"),
            "memory_mb",
            "duplicate",
            9,
            field_in_text_only=True,
        ),
        id="duplicate-yaml-key",
    ),
    pytest.param(
        Bad(
            doc("sla_requirements:\n  min_throughput_rps: .inf\n"),
            "sla_requirements.min_throughput_rps",
            "finite",
            8,
        ),
        id="throughput-infinite",
    ),
    pytest.param(
        Bad(
            doc("dependencies:\n  - search/query understanding\n"),
            "dependencies",
            "'search/query understanding'",
            8,
        ),
        id="dependency-name-with-space",
    ),
    pytest.param(
        Bad(doc(version="1"), "version", '"1.0"', 2), id="version-unquoted-int-suggestion"
    ),
    pytest.param(
        Bad(
            json.dumps(
                {
                    "x/m": seed_entry(),
                    "x/n": {k: v for k, v in seed_entry(name="n").items() if k != "name"},
                }
            ),
            "name",
            "x/n",
            None,
            filename="repository_metadata.json",
        ),
        id="seed-json-entry-without-name",
    ),
]


@pytest.mark.parametrize("case", LOCATED_CASES)
def test_bad_manifest_points_at_the_entry(netflix: Workspace, tmp_path: Path, case: Bad) -> None:
    _check(netflix, _write_case(tmp_path, case), case)


# Apply-level failures: they need the catalog (or the rest of the batch) to be seen.


def _model(name: str, *deps: str, version: str = "1.0") -> str:
    extra = "dependencies:\n" + "".join(f"  - {d}\n" for d in deps) if deps else ""
    return doc(extra, name=name, version=f'"{version}"')


def _rotations(cycle: list[str]) -> list[str]:
    return [" -> ".join(cycle[i:] + cycle[:i] + [cycle[i]]) for i in range(len(cycle))]


def _apply_files(
    workspace: Workspace, tmp_path: Path, files: dict[str, str]
) -> tuple[ModelyardError, Problem, dict[str, Path]]:
    written = _write(tmp_path / "manifests", files)
    with pytest.raises(ModelyardError) as raised:
        workspace.apply(list(written.values()))
    problem = _only_problem(raised.value)
    _assert_netflix_only(workspace)
    return raised.value, problem, written


def test_unknown_dependency(netflix: Workspace, tmp_path: Path) -> None:
    error, problem, files = _apply_files(
        netflix,
        tmp_path,
        {"bad.yaml": _model("m", "search/query_understanding", "recommendation/nope")},
    )
    assert type(error) is ValidationFailed
    assert problem.source == str(files["bad.yaml"])
    assert problem.field == "dependencies[1]"
    assert problem.model == "x/m@1.0"
    assert "depends on recommendation/nope, which is not registered" in problem.message
    assert str(problem).startswith(f"{files['bad.yaml']}:9: dependencies[1]: ")


def test_unsatisfiable_constraint(netflix: Workspace, tmp_path: Path) -> None:
    error, problem, files = _apply_files(
        netflix, tmp_path, {"bad.yaml": _model("m", "search/query_understanding>=9.0")}
    )
    assert type(error) is ValidationFailed
    assert problem.source == str(files["bad.yaml"])
    assert problem.field == "dependencies[0]"
    assert (
        "search/query_understanding>=9.0 matches none of the registered versions (1.5)"
        in problem.message
    )
    assert str(files["bad.yaml"]) in str(problem)


def test_unknown_dependency_in_second_document_applies_nothing(
    netflix: Workspace, tmp_path: Path
) -> None:
    error, problem, files = _apply_files(
        netflix, tmp_path, {"two.yaml": _model("good") + "---\n" + _model("bad", "x/missing")}
    )
    assert type(error) is ValidationFailed
    assert problem.source == str(files["two.yaml"])
    assert problem.line == 15  # its dependency entry: the second document starts on line 8
    assert problem.model == "x/bad@1.0"
    assert "x/missing, which is not registered" in problem.message


def test_duplicate_document_across_two_files(netflix: Workspace, tmp_path: Path) -> None:
    error, problem, files = _apply_files(
        netflix, tmp_path, {"a.yaml": _model("m"), "b.yaml": _model("m")}
    )
    assert type(error) is InputError
    assert problem.source == str(files["b.yaml"])
    assert problem.line == 1
    assert f"x/m@1.0 is also defined at {files['a.yaml']}:1" in problem.message
    assert str(problem).startswith(f"{files['b.yaml']}:1: ")


def test_duplicate_of_a_netflix_version_in_one_batch(netflix: Workspace, tmp_path: Path) -> None:
    ranker = Path(__file__).resolve().parents[2] / "examples/netflix/models/recommendation.yaml"
    artifacts = ranker.parent.parent / "artifacts"
    text = (
        ranker.read_text(encoding="utf-8").split("---\n")[0].replace("../artifacts", str(artifacts))
    )
    error, problem, files = _apply_files(netflix, tmp_path, {"a.yaml": text, "b.yaml": text})
    assert type(error) is InputError
    assert "recommendation/user_embedding@1.0 is also defined at" in problem.message
    assert problem.source == str(files["b.yaml"])


def test_cycle_across_two_files(netflix: Workspace, tmp_path: Path) -> None:
    error, problem, files = _apply_files(
        netflix, tmp_path, {"a.yaml": _model("a", "x/b"), "b.yaml": _model("b", "x/a")}
    )
    assert type(error) is ValidationFailed
    assert problem.code == "cycle"
    assert problem.source in {str(files["a.yaml"]), str(files["b.yaml"])}
    assert problem.field == "dependencies"
    assert any(r in problem.message for r in _rotations(["x/a@1.0", "x/b@1.0"])), problem.message
    assert problem.source is not None and problem.source in str(problem)


def test_cycle_of_three_across_three_files(netflix: Workspace, tmp_path: Path) -> None:
    error, problem, files = _apply_files(
        netflix,
        tmp_path,
        {"c.yaml": _model("c", "x/a"), "a.yaml": _model("a", "x/b"), "b.yaml": _model("b", "x/c")},
    )
    assert type(error) is ValidationFailed
    cycle = ["x/a@1.0", "x/b@1.0", "x/c@1.0"]
    assert any(r in problem.message for r in _rotations(cycle)), problem.message
    assert problem.source in {str(p) for p in files.values()}


def test_cycle_of_three_in_one_file(netflix: Workspace, tmp_path: Path) -> None:
    text = "---\n".join([_model("a", "x/b"), _model("b", "x/c"), _model("c", "x/a")])
    error, problem, files = _apply_files(netflix, tmp_path, {"abc.yaml": text})
    assert type(error) is ValidationFailed
    assert any(r in problem.message for r in _rotations(["x/a@1.0", "x/b@1.0", "x/c@1.0"]))
    assert problem.source == str(files["abc.yaml"])


def test_new_version_closing_a_cycle_through_netflix_models(
    netflix: Workspace, tmp_path: Path
) -> None:
    # The ranker needs user_embedding>=1.0,<2, which would now resolve to 1.1.
    text = doc(
        "dependencies:\n  - recommendation/recommendation_ranker\n",
        name="user_embedding",
        version='"1.1"',
        model_type="embedding",
        domain="recommendation",
        owner_team="recommendation_platform",
    )
    error, problem, files = _apply_files(netflix, tmp_path, {"user_embedding.yaml": text})
    assert type(error) is ValidationFailed
    cycle = ["recommendation/user_embedding@1.1", "recommendation/recommendation_ranker@3.0"]
    assert any(r in problem.message for r in _rotations(cycle)), problem.message
    assert problem.source == str(files["user_embedding.yaml"])


def test_unknown_dependency_points_at_its_line(netflix: Workspace, tmp_path: Path) -> None:
    _, problem, _ = _apply_files(
        netflix,
        tmp_path,
        {"bad.yaml": _model("m", "search/query_understanding", "recommendation/nope")},
    )
    assert problem.line == 9


def test_same_file_named_twice_is_read_once(netflix: Workspace, tmp_path: Path) -> None:
    files = _write(tmp_path / "manifests", {"m.yaml": _model("m")})
    result = netflix.apply([tmp_path / "manifests", files["m.yaml"]])
    assert result.created == ["x/m@1.0"]


# The CLI: exit code 2 for input errors, 1 for validation failures; one `error:` line.

CLI_CASES = [
    pytest.param(
        {"bad.yaml": doc(drop="name")},
        "bad.yaml",
        2,
        "name: required key is missing",
        id="missing-name",
    ),
    pytest.param(
        {"bad.yaml": 'name: m\nversion: "1.0"\n  framework: [pytorch\n'},
        "bad.yaml",
        2,
        "YAML syntax error",
        id="yaml-syntax",
    ),
    pytest.param({"model.txt": doc()}, "model.txt", 2, "not a manifest", id="txt-file"),
    pytest.param(
        {"bad.yaml": doc(name="caf\xe9").encode("latin-1")},
        "bad.yaml",
        2,
        "not UTF-8",
        id="not-utf8",
    ),
    pytest.param({"bad.yaml": doc("dependncies: []\n")}, "bad.yaml", 2, "did you mean", id="typo"),
    pytest.param(
        {"bad.yaml": _model("m", "recommendation/nope")},
        "bad.yaml",
        1,
        "recommendation/nope, which is not registered",
        id="unknown-dependency",
    ),
    pytest.param(
        {"a.yaml": _model("a", "x/b"), "b.yaml": _model("b", "x/a")},
        None,
        1,
        "dependency cycle",
        id="cycle",
    ),
]


@pytest.mark.parametrize(("files", "named", "code", "reason"), CLI_CASES)
def test_cli_apply_bad_manifest(
    netflix: Workspace,
    cli: Cli,
    tmp_path: Path,
    files: dict[str, str | bytes],
    named: str | None,
    code: int,
    reason: str,
) -> None:
    written = _write(tmp_path / "manifests", files)
    result = cli("apply", *(str(p) for p in written.values()), expect=code)
    assert result.stdout == ""
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, result.stderr
    joined = result.stderr.replace("\n", "")  # in case the console wraps the line
    expected_files = [written[named]] if named else list(written.values())
    assert any(str(path) in joined for path in expected_files), result.stderr
    assert reason in joined
    _assert_netflix_only(netflix)


def test_cli_apply_bad_manifest_json(netflix: Workspace, cli: Cli, tmp_path: Path) -> None:
    written = _write(tmp_path / "manifests", {"bad.yaml": doc(version='"1"')})
    data = cli.json("apply", str(written["bad.yaml"]), expect=2)
    assert data["ok"] is False and data["error"] == "invalid_input"
    [error] = data["errors"]
    assert error["source"] == str(written["bad.yaml"])
    assert error["field"] == "version" and error["line"] == 2
    _assert_netflix_only(netflix)


def _error(workspace: Workspace, paths: list[Path]) -> str:
    with pytest.raises(ModelyardError) as raised:
        workspace.apply(paths)
    return "\n".join(str(problem) for problem in raised.value.problems)


def test_every_bad_manifest_gets_the_same_error(
    netflix: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each malformed case above beside a good file, read one by one and then parsed
    ahead on every core (ops/parse_ahead.py; the good file through a child process)."""
    good = "name: other\nversion: '1.0'\nmodel_type: classification\nframework: pytorch\n"
    good += "domain: y\nowner_team: team\n"
    parsed_ahead = 0
    cases = [param.values[0] for param in CASES + LOCATED_CASES]
    for index, case in enumerate(cases):
        assert isinstance(case, Bad)
        bad = _write_case(tmp_path / f"case-{index}", case)
        companion = tmp_path / f"case-{index}" / "zz-good.yaml"
        companion.write_text(good)
        monkeypatch.setattr(parse_ahead, "PARALLEL_MIN_BYTES", 1 << 40)
        alone = _error(netflix, [bad, companion])
        monkeypatch.setattr(parse_ahead, "PARALLEL_MIN_BYTES", 0)
        monkeypatch.setattr(parse_ahead.os, "sched_getaffinity", lambda _: {0, 1})
        counted: list[int] = []
        real = parse_ahead.parse_on_every_core
        monkeypatch.setattr(
            "modelyard.ops.catalog.parse_on_every_core",
            lambda texts, real=real, counted=counted: counted.append(1) or real(texts),
        )
        assert _error(netflix, [bad, companion]) == alone, case
        parsed_ahead += len(counted)
        shutil.rmtree(tmp_path / f"case-{index}")
    assert parsed_ahead == len(cases)
    assert sorted(s.ref for s in netflix.list_models(all_versions=True)) == NETFLIX_REFS
