"""The `triton` kind: a real repository folder, the server behind a fake transport."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from modelyard import TritonError
from modelyard.triton.repository import RepoFile
from tests.support.fake_triton import FakeTriton


def repo_file(path: str, text: str) -> RepoFile:
    data = text.encode()
    return RepoFile(path, hashlib.sha256(data).hexdigest(), content=data)


CONFIG = 'name: "m"\nbackend: "python"\nversion_policy { specific { versions: 1 } }\n'


def test_publish_then_published_files_serve_a_rollback(tmp_path: Path) -> None:
    fake = FakeTriton(tmp_path / "repo")
    with fake.serving() as target:
        assert target.published_files() is None
        first = [repo_file("m/config.pbtxt", CONFIG), repo_file("m/1/model.py", "one")]
        # The writer adds the bytecode guard beside model.py (see RepositoryWriter).
        assert target.diff(first).added == ["m/1/__pycache__", "m/1/model.py", "m/config.pbtxt"]
        target.publish(first)
        published = target.published_files()
        assert published is not None
        assert {f.path: f.digest for f in published} == {
            **{f.path: f.digest for f in first},
            "m/1/__pycache__": hashlib.sha256(b"").hexdigest(),
        }
        target.publish([repo_file("m/config.pbtxt", CONFIG), repo_file("m/1/model.py", "two")])
        assert (tmp_path / "repo" / "m" / "1" / "model.py").read_text() == "two"
        target.publish(published)  # what a rollback does
        assert (tmp_path / "repo" / "m" / "1" / "model.py").read_text() == "one"
        assert target.diff(first).is_empty


def test_the_server_half_goes_to_triton(tmp_path: Path) -> None:
    fake = FakeTriton(tmp_path / "repo")
    with fake.serving() as target:
        target.publish([repo_file("m/config.pbtxt", CONFIG), repo_file("m/1/model.py", "x")])
        assert target.index() == [{"name": "m", "state": "UNAVAILABLE", "reason": "unloaded"}]
        target.load("m")
        assert target.is_ready("m", 1) and not target.is_ready("m", 2)
        assert target.model_config("m")["backend"] == "python"
        target.unload("m")
        assert not target.is_ready("m")
        fake.reset("load", "m")
        with pytest.raises(TritonError, match=r"http://fake-triton:8000 is unreachable: model m"):
            target.load("m")
    assert fake.calls[-1] == ("load", "m")
