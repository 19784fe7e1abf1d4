"""YAML parsed ahead on every core (ops/parse_ahead.py): the same documents as files read
one by one (the same errors: tests/catalog/test_bad_manifests.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelyard.catalog.manifest import load_manifests
from modelyard.catalog.yaml_reader import documents_for_cache, text_key
from modelyard.ops import parse_ahead
from tests.support.bench import bench_catalog


@pytest.fixture
def every_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsing ahead at any size, on two cores (a child process) even on a machine with one."""
    monkeypatch.setattr(parse_ahead, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parse_ahead.os, "sched_getaffinity", lambda _: {0, 1})


def test_the_processes_give_what_one_process_gives(every_core: None) -> None:
    texts = [
        "name: a\nversion: '1.0'\ndependencies:\n  - x/b\n  - x/c>=1\n---\nname: b\n",
        "name: [unclosed\n",  # not YAML: left to the caller, who reports it with its line
        "- a list\n",  # not a mapping: the same
        "name: c\n---\n---\nname: d\n",
    ]
    found = parse_ahead.parse_on_every_core(texts)
    assert set(found) == {text_key(texts[0]), text_key(texts[3])}
    for text in (texts[0], texts[3]):
        assert found[text_key(text)] == documents_for_cache(text)
    assert found[text_key(texts[0])][0][2] == (4, 5)  # the dependencies' lines
    assert [line for _, line, _ in found[text_key(texts[3])]] == [1, 4]


def test_a_generated_catalog_reads_the_same(tmp_path: Path, every_core: None) -> None:
    bench_catalog().generate(600, tmp_path / "catalog")
    manifests = tmp_path / "catalog" / "manifests"
    alone = load_manifests([manifests])
    ahead = load_manifests([manifests], parse_ahead=parse_ahead.parse_on_every_core)

    def shown(documents: Any) -> list[Any]:
        return [(d.spec, d.source, d.line, d.dependency_lines, d.local_artifact) for d in documents]

    assert shown(ahead) == shown(alone) and len(alone) == 600
