"""Apply reads only regular files, each of at most MANIFEST_MAX_BYTES: a FIFO, a device
or a link to one is refused by name and reason, before anything is read from it.

Each test runs the read in a thread joined with a timeout, so that a regression (a read
of a FIFO blocks for ever) fails the test instead of hanging the run."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelyard import Workspace
from modelyard.catalog.manifest import MANIFEST_MAX_BYTES, load_manifests, read_manifest_bytes
from modelyard.errors import InputError
from modelyard.triton.importer import read_triton_repository
from tests.support.workspaces import Cli

GOOD = """\
name: m
version: "1.0"
model_type: classification
framework: python
domain: d
owner_team: t
"""

TIMEOUT_S = 30


def within_timeout(call: Callable[[], Any]) -> BaseException | Any:
    """`call()`'s result or exception, failing the test if it has not ended in time."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed to the test to check
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(TIMEOUT_S)
    assert not thread.is_alive(), f"still reading after {TIMEOUT_S} s"
    return outcome[0]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    (models / "sub").mkdir(parents=True)
    (models / "good.yaml").write_text(GOOD)
    return models


def refusal(paths: list[Path]) -> InputError:
    outcome = within_timeout(lambda: load_manifests(paths))
    assert isinstance(outcome, InputError), outcome
    return outcome


def test_a_fifo_in_a_folder_is_refused_without_blocking(folder: Path) -> None:
    os.mkfifo(folder / "evil.yaml")
    error = refusal([folder])
    [problem] = error.problems  # good.yaml is fine; nothing is applied all the same
    assert problem.source == str(folder / "evil.yaml")
    assert problem.message.startswith("a named pipe (FIFO), not a regular file")


def test_a_link_to_dev_zero_in_a_folder_is_refused_naming_the_link(folder: Path) -> None:
    (folder / "sub" / "zero.yaml").symlink_to("/dev/zero")
    error = refusal([folder])
    [problem] = error.problems
    assert problem.source == f"{folder / 'sub' / 'zero.yaml'} (a link to /dev/zero)"
    assert "a character device, not a regular file" in problem.message


def test_a_device_given_directly_is_refused_as_a_device_not_as_missing() -> None:
    error = refusal([Path("/dev/zero")])
    assert str(error.problems[0]) == (
        "/dev/zero: a character device, not a regular file; only regular files are read "
        "as manifests"
    )


def test_a_fifo_given_directly_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "evil.yaml")
    error = refusal([tmp_path / "evil.yaml"])
    assert "a named pipe (FIFO)" in error.message and "no such file" not in error.message


def test_a_dangling_link_says_so(tmp_path: Path) -> None:
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nothing.yaml")
    error = refusal([tmp_path / "gone.yaml"])
    assert "a symbolic link to nothing" in error.message


def test_a_link_to_a_regular_manifest_is_read(folder: Path, tmp_path: Path) -> None:
    (folder / "sub" / "linked.yaml").symlink_to(folder / "good.yaml")
    [document] = load_manifests([folder])  # the same file once, however reached
    assert document.spec.ref == "d/m@1.0"


def test_a_file_over_the_cap_is_refused_with_its_size(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(GOOD + "# " + "x" * MANIFEST_MAX_BYTES + "\n")
    error = refusal([big])
    assert f"is larger than the {MANIFEST_MAX_BYTES:,} bytes a manifest file may hold" in (
        error.message
    )
    # The cap is the loader's argument (the default documented in the README).
    small = tmp_path / "small.yaml"
    small.write_text(GOOD)
    with pytest.raises(InputError, match="larger than the 10 bytes"):
        load_manifests([small], max_file_bytes=10)
    assert load_manifests([big], max_file_bytes=2 * MANIFEST_MAX_BYTES)


def test_read_never_returns_more_than_the_cap_whatever_stat_says(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes(b"a" * 100)
    assert read_manifest_bytes(path, 100) == b"a" * 100
    with pytest.raises(ValueError, match="larger than the 99 bytes"):
        read_manifest_bytes(path, 99)


def test_cli_apply_of_such_a_folder_exits_2_with_one_line_per_path(
    folder: Path, workspace: Workspace
) -> None:
    os.mkfifo(folder / "evil.yaml")
    (folder / "sub" / "zero.yaml").symlink_to("/dev/zero")
    assert workspace.root is not None
    result = within_timeout(lambda: Cli(workspace.root)("apply", str(folder), expect=2))
    assert not isinstance(result, BaseException), result
    lines = [line.strip() for line in result.output.splitlines()]
    assert any(line.endswith("only regular files are read as manifests") for line in lines)
    assert sum("not a regular file" in line for line in lines) == 2
    assert workspace.store.versions() == [], "nothing applied"


def test_import_triton_refuses_a_config_pbtxt_that_is_a_fifo(tmp_path: Path) -> None:
    model = tmp_path / "repo" / "m"
    (model / "1").mkdir(parents=True)
    (model / "1" / "model.py").write_text("# model\n")
    os.mkfifo(model / "config.pbtxt")
    outcome = within_timeout(
        lambda: read_triton_repository(tmp_path / "repo", domain="d", owner_team="t")
    )
    assert isinstance(outcome, InputError), outcome
    assert "config.pbtxt" in outcome.message and "named pipe" in outcome.message
