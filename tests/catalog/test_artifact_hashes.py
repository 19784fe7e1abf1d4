"""Artifact digests kept by file stat (catalog/artifact_hashes.py): an unchanged file is
not read again, and any change to it, even of the same size and modification time, is."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

import pytest

from modelyard import Workspace
from modelyard.catalog.artifact_hashes import RACY_S, ArtifactHashes
from modelyard.errors import ModelyardError
from tests.support.netflix import NETFLIX


class Counting:
    def __init__(self) -> None:
        self.reads: list[Path] = []

    def __call__(self, path: Path) -> str:
        self.reads.append(path)
        return hashlib.sha256(path.read_bytes()).hexdigest()


def test_unchanged_file_is_read_once_and_saved_digests_load_back(tmp_path: Path) -> None:
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"weights" * 100)
    hashes, compute = ArtifactHashes(racy_s=0), Counting()
    first = hashes.digest(artifact, compute)
    assert hashes.digest(artifact, compute) == first
    assert len(compute.reads) == 1

    saved = tmp_path / "cache.json"
    hashes.save(saved)
    again, compute = ArtifactHashes.load(saved), Counting()
    assert again.digest(artifact, compute) == first
    assert compute.reads == []


def test_same_size_same_mtime_edit_is_read_again(tmp_path: Path) -> None:
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"A" * 64)
    hashes, compute = ArtifactHashes(racy_s=0), Counting()
    before = hashes.digest(artifact, compute)
    stat = artifact.stat()
    time.sleep(0.05)  # past the clock's granularity, so the change time moves
    artifact.write_bytes(b"B" * 64)
    os.utime(artifact, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # mtime put back
    after = hashes.digest(artifact, compute)
    assert after != before
    assert after == hashlib.sha256(b"B" * 64).hexdigest()
    assert len(compute.reads) == 2


def test_replaced_file_and_recent_files_are_read_again(tmp_path: Path) -> None:
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"A" * 64)
    hashes, compute = ArtifactHashes(racy_s=0), Counting()
    hashes.digest(artifact, compute)
    replacement = tmp_path / "other.onnx"
    replacement.write_bytes(b"C" * 64)
    replacement.replace(artifact)  # another inode at the same path
    assert hashes.digest(artifact, compute) == hashlib.sha256(b"C" * 64).hexdigest()

    careful, compute = ArtifactHashes(), Counting()  # the default: a file just written
    careful.digest(artifact, compute)
    careful.digest(artifact, compute)
    assert len(compute.reads) == 2  # is never kept (it may change within the same tick)


def test_damaged_cache_is_a_miss_and_folders_are_always_read(tmp_path: Path) -> None:
    saved = tmp_path / "cache.json"
    for damaged in ("{", '{"x": 1}', '{"x": [[1, "a"], "d"]}', "[]"):
        saved.write_text(damaged)
        hashes, compute = ArtifactHashes.load(saved), Counting()
        artifact = tmp_path / "model.onnx"
        artifact.write_bytes(b"A")
        hashes.digest(artifact, compute)
        assert len(compute.reads) == 1
    folder = tmp_path / "folder"
    folder.mkdir()
    hashes = ArtifactHashes(racy_s=0)
    reads: list[Path] = []
    for _ in range(2):
        hashes.digest(folder, lambda p: reads.append(p) or "digest")
    assert len(reads) == 2


def test_apply_and_compile_read_each_unchanged_artifact_once_between_them(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """apply learns the digests it reads; a re-apply, and the compile after, read no
    artifact again. A file changed since is read again (and refused)."""
    from modelyard.catalog import manifest
    from modelyard.triton import compiler

    copy = tmp_path / "netflix"
    shutil.copytree(NETFLIX / "models", copy / "models")
    shutil.copytree(NETFLIX / "artifacts", copy / "artifacts")
    # Older than the racy window, as real artifacts are (a change time cannot be set back).
    time.sleep(RACY_S + 0.1)
    reads: list[Path] = []

    def counted(path: Path, *rest: object) -> str:
        reads.append(path)
        return real(path, *rest)  # type: ignore[arg-type]

    real = manifest.artifact_digest
    monkeypatch.setattr(manifest, "artifact_digest", counted)
    monkeypatch.setattr(compiler, "artifact_digest", counted)
    workspace.apply([copy / "models"])
    first = len(reads)
    assert first >= 3  # the ONNX files and the python models' files
    workspace.apply([copy / "models"])
    workspace.compile(tmp_path / "repo")
    assert len(reads) == first
    onnx = next(s for s in workspace.list_models() if s.framework == "onnx")
    assert onnx.artifact is not None
    changed = Path(onnx.artifact)
    changed.write_bytes(changed.read_bytes() + b"\0")
    with pytest.raises(ModelyardError, match="content_embedding.onnx|user_embedding.onnx"):
        workspace.apply([copy / "models"])
    assert changed in reads[first:]
