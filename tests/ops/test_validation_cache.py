"""The workspace keeps its newest whole validation on disk for the next process: a
`validate` of an unchanged catalog reads it; any change to what it depends on (a version,
an alias, an artifact file, modelyard.yaml, the code) validates afresh; a damaged file is
only a miss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelyard import Workspace
from modelyard.ops import build
from tests.support.netflix import USER_EMBEDDING_11
from tests.support.rollout import GOOD_MODEL, python_model


def _as_a_new_process(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Forget this process's caches; count the validations actually run from now on."""
    monkeypatch.setattr(build, "_VALIDATIONS", {})
    monkeypatch.setattr(build, "_ARTIFACTS", {})
    ran: list[int] = []
    real = build.Build.validation

    def counted(self: build.Build, **kwargs: object) -> object:
        ran.append(1)
        return real(self, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(build.Build, "validation", counted)
    return ran


def test_an_unchanged_catalog_is_validated_once_across_processes(
    netflix: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert netflix.root is not None
    first = netflix.validate()
    cache = netflix.root / build.VALIDATION_CACHE
    assert json.loads(cache.read_text())["report"]["models"] == first.models
    ran = _as_a_new_process(monkeypatch)
    again = netflix.validate()
    assert ran == [] and again == first
    # Strict is another report; then each change to what a report reads is a miss.
    netflix.validate(strict=True)
    assert len(ran) == 1
    ran = _as_a_new_process(monkeypatch)
    netflix.apply_text(USER_EMBEDDING_11, actor="test")
    netflix.apply([python_model(tmp_path, "echo", "1.0", GOOD_MODEL)])
    changed = netflix.validate()
    assert len(ran) == 1 and changed != first
    ran = _as_a_new_process(monkeypatch)
    netflix.set_alias("search/query_understanding", "production", "1.5", actor="test")
    netflix.validate()
    assert len(ran) == 1
    ran = _as_a_new_process(monkeypatch)
    artifact = tmp_path / "echo-1.0" / "model.py"  # the test's own file, not the example's
    artifact.write_text(artifact.read_text() + "\n# changed\n")
    netflix.validate()
    assert len(ran) == 1
    ran = _as_a_new_process(monkeypatch)
    netflix.validate()
    assert ran == []  # and unchanged since: read back


def test_a_damaged_cache_file_is_a_miss(
    netflix: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert netflix.root is not None
    first = netflix.validate()
    cache = netflix.root / build.VALIDATION_CACHE
    for damage in ("{not json", json.dumps({"key": "x"}), "[]"):
        cache.write_text(damage)
        ran = _as_a_new_process(monkeypatch)
        assert netflix.validate() == first and len(ran) == 1
    stored = json.loads(cache.read_text())
    stored["report"]["unknown_field"] = 1
    cache.write_text(json.dumps(stored))
    ran = _as_a_new_process(monkeypatch)
    assert netflix.validate() == first and len(ran) == 1
