"""No Python bytecode in a repository modelyard writes; what it did not write is named.

Triton's python backend imports `model.py` with an isolated interpreter that ignores
PYTHONDONTWRITEBYTECODE, and read-only folders do not stop a server running as root, so
the writer puts an empty file named `__pycache__` in each folder holding a `.py` file.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelyard import Workspace
from modelyard.catalog.manifest import artifact_digest
from modelyard.ops.doctor import diagnose
from modelyard.triton.repository import RepoFile, RepositoryWriter
from tests.support.rollout import GOOD_MODEL, python_model

EMPTY = hashlib.sha256(b"").hexdigest()

HELPED_MODEL = """
import numpy as np
import triton_python_backend_utils as pb_utils
import helper

class TritonPythonModel:
    def execute(self, requests):
        return [pb_utils.InferenceResponse([pb_utils.Tensor(
            "Y", np.full((1,), helper.ANSWER, np.float32))]) for _ in requests]
"""


def repo_file(path: str, data: bytes) -> RepoFile:
    return RepoFile(path, hashlib.sha256(data).hexdigest(), content=data)


def bytecode_under(folder: Path) -> list[str]:
    """Every `__pycache__` folder and `.pyc` file below `folder` (links not followed)."""
    found = []
    for where, dirs, names in os.walk(folder):
        found += [str(Path(where, d)) for d in dirs if d == "__pycache__"]
        found += [str(Path(where, n)) for n in names if n.endswith(".pyc")]
    return found


@pytest.fixture
def saved_model(tmp_path: Path) -> Path:
    folder = tmp_path / "saved"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"graph")
    (folder / "assets.py").write_text("# data the model reads, never imported\n")
    return folder


def test_each_folder_with_python_gets_a_guard_in_its_manifest(
    tmp_path: Path, saved_model: Path
) -> None:
    files = [
        repo_file("m/config.pbtxt", b'backend: "python"\n'),
        repo_file("m/1/model.py", b"import helper\n"),
        repo_file("m/1/helper.py", b"ANSWER = 42\n"),
        repo_file("m/1/pkg/util.py", b"X = 1\n"),
        repo_file("e/1/.ensemble", b""),
        RepoFile("s/1/model.savedmodel", artifact_digest(saved_model), source=saved_model),
    ]
    writer = RepositoryWriter(tmp_path / "repo")
    diff, _ = writer.write(files)
    guards = ["m/1/__pycache__", "m/1/pkg/__pycache__"]
    assert [p for p in diff.added if p.endswith("__pycache__")] == guards
    assert {p: d for p, d in writer.current_digests().items() if p in guards} == dict.fromkeys(
        guards, EMPTY
    )
    out = tmp_path / "repo"
    assert (out / "m/1/__pycache__").is_file() and (out / "m/1/__pycache__").read_bytes() == b""
    assert not (out / "e/1/__pycache__").exists()  # no Python there
    # A published folder is copied whole: a guard inside would change it.
    assert sorted(p.name for p in (out / "s/1/model.savedmodel").iterdir()) == [
        "assets.py",
        "saved_model.pb",
        "variables",
    ]
    assert writer.verify() == ([], []) and writer.strays() == []
    assert writer.diff(files).is_empty  # the guards are part of what is published
    # A rollback republishes the manifest's files, guards included: nothing doubles.
    current = writer.current()
    assert current is not None
    published = [RepoFile(p, d, source=current / p) for p, d in writer.current_digests().items()]
    assert writer.diff(published).is_empty


def test_python_cannot_write_bytecode_beside_a_guarded_model(tmp_path: Path) -> None:
    writer = RepositoryWriter(tmp_path / "repo")
    writer.write(
        [
            repo_file("m/1/model.py", b"import helper\nVALUE = helper.ANSWER\n"),
            repo_file("m/1/helper.py", b"ANSWER = 42\n"),
        ]
    )
    folder = tmp_path / "repo" / "m" / "1"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    # As the backend stub does: no -B, no PYTHONDONTWRITEBYTECODE, whoever we run as.
    imported = subprocess.run(
        [sys.executable, "-c", "import model; print(model.VALUE)"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.strip() == "42"
    assert bytecode_under(tmp_path / "repo") == []
    # The control: the same import beside an unguarded copy writes bytecode.
    control = tmp_path / "control"
    control.mkdir()
    for name in ("model.py", "helper.py"):
        (control / name).write_bytes((folder / name).read_bytes())
    subprocess.run([sys.executable, "-c", "import model"], cwd=control, env=env, check=True)
    assert bytecode_under(control) != []


def test_strays_are_named_and_left_out_of_diffs_and_new_generations(tmp_path: Path) -> None:
    files = [
        repo_file("m/config.pbtxt", b'backend: "python"\n'),
        repo_file("m/1/model.py", b"VALUE = 1\n"),
        repo_file("e/1/.ensemble", b""),
    ]
    writer = RepositoryWriter(tmp_path / "repo")
    writer.write(files)
    served = writer.current()
    assert served is not None
    (served / "e" / "1" / "__pycache__").mkdir()
    (served / "e" / "1" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"bytecode")
    (served / "m" / "notes.txt").write_text("by hand")
    (served / "extra" / "1").mkdir(parents=True)
    assert writer.strays() == ["e/1/__pycache__/", "extra/", "m/notes.txt"]
    assert writer.diff(files).is_empty  # diffs compare what modelyard published
    assert writer.verify() == ([], [])
    changed = [*files[:2], repo_file("e/1/.ensemble", b"\n")]
    writer.write(changed)
    assert writer.current() != served and writer.strays() == []


def folder_model(tmp_path: Path, name: str, files: dict[str, bytes]) -> Path:
    """The manifest of a python-backend model whose artifact is a folder of `files`."""
    folder = tmp_path / f"{name}-artifact"
    for relative, data in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
    manifest = python_model(tmp_path, name, "1.0", "")
    manifest.write_text(manifest.read_text().replace("artifact: model.py", f"artifact: {folder}"))
    return manifest


def test_a_folder_artifact_leaves_its_bytecode_behind(workspace: Workspace, tmp_path: Path) -> None:
    workspace.apply(
        [
            folder_model(
                tmp_path,
                "helped",
                {
                    "model.py": HELPED_MODEL.encode(),
                    "helper.py": b"ANSWER = 42\n",
                    "__pycache__/helper.cpython-311.pyc": b"stale bytecode",
                    "old.pyc": b"stale bytecode",
                },
            )
        ]
    )
    out = tmp_path / "out"
    workspace.compile(out, profile="local")
    version = out / "tools.helped" / "1"
    assert sorted(p.name for p in version.iterdir()) == ["__pycache__", "helper.py", "model.py"]
    assert (version / "__pycache__").read_bytes() == b""


def test_doctor_names_stray_files(workspace: Workspace, tmp_path: Path) -> None:
    workspace.apply([python_model(tmp_path, "echo", "1.0", GOOD_MODEL)])
    repository = Path(workspace.target("local").repository)
    workspace.compile(repository, profile="local")
    (repository.resolve() / "tools.echo" / "labels.txt").write_text("by hand")
    report = diagnose(workspace.root)
    [stray] = [c for c in report.checks if c.area == "repository local" and c.status == "warn"]
    assert "1 path(s) modelyard did not write: tools.echo/labels.txt" in stray.detail
    assert stray.fix is not None and stray.fix.startswith("remove them")
    assert report.ok  # a warning: the repository still serves what was compiled


@pytest.mark.triton
def test_triton_serves_python_models_and_writes_no_bytecode(
    workspace: Workspace, tmp_path: Path
) -> None:
    helped = {"model.py": HELPED_MODEL.encode(), "helper.py": b"ANSWER = 42\n"}
    workspace.apply(
        [
            folder_model(tmp_path, "helped", helped),
            python_model(tmp_path, "echo", "1.0", GOOD_MODEL),
        ]
    )
    serving = workspace.serve_locally(strict=True)
    try:
        assert sorted(serving.loaded) == ["tools.echo", "tools.helped"]
        client = serving.client
        assert client.infer("tools.helped", {"X": ("FP32", [1], [0.0])})["Y"] == [42.0]
        assert client.infer("tools.echo", {"X": ("FP32", [1], [0.0])})["Y"] == [1.0]
        repository = serving.server.repository
        generations = repository.parent / f".{repository.name}.generations"
        assert bytecode_under(generations) == []

        # The control: without its guard, the same server writes bytecode there, and
        # doctor finds the changed folder.
        guard = repository.resolve() / "tools.helped" / "1" / "__pycache__"
        guard.unlink()
        client.unload("tools.helped")
        client.load("tools.helped")
        assert client.infer("tools.helped", {"X": ("FP32", [1], [0.0])})["Y"] == [42.0]
        assert guard.is_dir() and sorted(p.name.split(".")[0] for p in guard.iterdir()) == [
            "helper",
            "model",
        ]
        errors, _ = RepositoryWriter(repository).verify()
        assert errors == [
            f"tools.helped/1/__pycache__ in {repository.resolve()} was changed after it was written"
        ]
    finally:
        serving.stop()
