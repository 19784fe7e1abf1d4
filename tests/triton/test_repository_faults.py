"""A compile that cannot finish (disk full, file-size limit, read-only folder) leaves the
previous repository exactly as it was, and loadable."""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from modelyard import Workspace
from modelyard.triton.server import LocalTriton
from tests.support.rollout import GOOD_MODEL, python_model

BIG_ARTIFACT_BYTES = 3 * 1024 * 1024


def _snapshot(out: Path) -> dict[str, str]:
    """Every file under the repository link, with a digest of its bytes."""
    found: dict[str, str] = {}
    for folder, _dirs, files in os.walk(out, followlinks=True):
        for name in files:
            path = Path(folder) / name
            found[str(path.relative_to(out))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _compile(
    workspace: Workspace, out: Path, preexec: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    assert workspace.root is not None
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "modelyard.cli",
            "compile",
            "--out",
            str(out),
            "--profile",
            "local",
            "--workspace",
            str(workspace.root),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=preexec,
        check=False,
    )


def _limit_file_size() -> None:
    # Python ignores SIGXFSZ, so an oversized write fails with EFBIG ("File too large").
    resource.setrlimit(resource.RLIMIT_FSIZE, (BIG_ARTIFACT_BYTES // 2, BIG_ARTIFACT_BYTES // 2))


@contextmanager
def _plain_folder(folder: Path) -> Iterator[Path]:
    folder.mkdir()
    yield folder


@contextmanager
def _small_tmpfs(folder: Path) -> Iterator[Path]:
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@contextmanager
def _immutable(*folders: Path) -> Iterator[None]:
    """Folders nobody may add entries to, root included (chmod does not stop root)."""
    done: list[Path] = []
    try:
        for folder in folders:
            made = subprocess.run(
                ["chattr", "+i", str(folder)], capture_output=True, text=True, check=False
            )
            if made.returncode != 0:
                pytest.skip(f"cannot make a folder immutable here: {made.stderr.strip()}")
            done.append(folder)
        yield
    finally:
        for folder in done:
            subprocess.run(["chattr", "-i", str(folder)], check=False)


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["file-size-limit", "disk-full", "read-only"])
def test_a_compile_that_cannot_finish_leaves_the_previous_repository(
    workspace: Workspace, tmp_path: Path, fault: str
) -> None:
    workspace.apply([python_model(tmp_path, "echo", "1.0", GOOD_MODEL)])
    big = python_model(tmp_path, "echo", "2.0", GOOD_MODEL + "#" * BIG_ARTIFACT_BYTES + "\n")
    with (
        _small_tmpfs(tmp_path / "small")
        if fault == "disk-full"
        else _plain_folder(tmp_path / "plain") as where
    ):
        out = where / "repository"
        first = _compile(workspace, out)
        assert first.returncode == 0, first.stderr
        before = _snapshot(out)
        link_before = os.readlink(out)
        generations_before = sorted(p.name for p in (where / ".repository.generations").iterdir())
        workspace.apply([big])

        if fault == "file-size-limit":
            failed = _compile(workspace, out, preexec=_limit_file_size)
        elif fault == "disk-full":
            failed = _compile(workspace, out)
        else:
            with _immutable(where, where / ".repository.generations"):
                failed = _compile(workspace, out)

        assert failed.returncode == 2, (failed.stdout, failed.stderr)
        assert "Traceback" not in failed.stderr + failed.stdout
        message = failed.stderr.strip()
        assert str(out) in message and "the previous repository is unchanged" in message
        assert os.readlink(out) == link_before
        assert _snapshot(out) == before
        generations = sorted(p.name for p in (where / ".repository.generations").iterdir())
        assert generations == generations_before  # no half-written generation left behind


@pytest.mark.triton
def test_the_repository_left_by_a_failed_compile_still_loads(
    workspace: Workspace, tmp_path: Path
) -> None:
    workspace.apply([python_model(tmp_path, "echo", "1.0", GOOD_MODEL)])
    out = tmp_path / "repository"
    assert _compile(workspace, out).returncode == 0
    workspace.apply(
        [python_model(tmp_path, "echo", "2.0", GOOD_MODEL + "#" * BIG_ARTIFACT_BYTES + "\n")]
    )
    assert _compile(workspace, out, preexec=_limit_file_size).returncode == 2
    server = LocalTriton(out, tmp_path / "triton")
    client = server.start()
    try:
        client.load("tools.echo")
        assert float(client.infer("tools.echo", {"X": ("FP32", [1], [0.0])})["Y"][0]) == 1.0
    finally:
        client.close()
        server.stop()
