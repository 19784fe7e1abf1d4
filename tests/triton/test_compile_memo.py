"""Rules verdicts and ONNX tensors kept between compiles (triton/compile_memo.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from modelyard import Workspace
from modelyard.catalog.spec import TensorSpec
from modelyard.triton import compile_memo
from modelyard.triton.compile_memo import MEMO_FILE, CompileMemo
from modelyard.triton.config import to_pbtxt
from tests.support.netflix import NETFLIX


def _compiled(workspace: Workspace, out: Path) -> dict[str, str]:
    result = workspace.compile(out)
    assert not result.plan.problems
    return {m.triton_name: to_pbtxt(m.config) for m in result.plan.models.values()}


def test_a_compile_with_the_memo_builds_what_one_without_it_builds(
    netflix: Workspace, tmp_path: Path
) -> None:
    assert netflix.root is not None
    first = _compiled(netflix, tmp_path / "repo")
    memo = json.loads((netflix.root / MEMO_FILE).read_text())
    onnx_versions = [s for s in netflix.list_models() if s.framework == "onnx"]
    assert len(memo["clean"]) == len(first)  # every config passed the rules
    assert onnx_versions and len(memo["tensors"]) == len(onnx_versions)
    assert _compiled(netflix, tmp_path / "again") == first
    (netflix.root / MEMO_FILE).unlink()
    assert _compiled(netflix, tmp_path / "without") == first


def test_a_verdict_holds_only_for_its_config_name_and_rules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    memo = CompileMemo()
    memo.learn_clean("config-a", "shop.ranker")
    assert memo.is_clean("config-a", "shop.ranker")
    assert not memo.is_clean("config-b", "shop.ranker")
    assert not memo.is_clean("config-a", "shop.other")
    # A changed rules file is other rules: every config is checked again.
    monkeypatch.setattr(compile_memo, "_rules_digest", lambda: "f" * 64)
    assert not memo.is_clean("config-a", "shop.ranker")
    # No rules source to name them by: nothing is kept or reused.
    monkeypatch.setattr(compile_memo, "_rules_digest", lambda: None)
    memo.learn_clean("config-c", "shop.ranker")
    assert not memo.is_clean("config-c", "shop.ranker")


def test_tensors_are_kept_by_content_and_batch_and_load_back(tmp_path: Path) -> None:
    tensors = (
        [TensorSpec.model_validate({"name": "x", "data_type": "FP32", "dims": [-1, 4]})],
        [TensorSpec.model_validate({"name": "y", "data_type": "FP32", "dims": [1]})],
    )
    memo = CompileMemo()
    memo.learn_tensors("a" * 64, "model.onnx", 8, tensors)
    path = tmp_path / "cache" / "memo.json"
    memo.save(path)
    loaded = CompileMemo.load(path)
    assert loaded.tensors("a" * 64, "model.onnx", 8) == tensors
    assert loaded.tensors("a" * 64, "model.onnx", 0) is None  # batch dimension differs
    assert loaded.tensors("a" * 64, "other.onnx", 8) is None
    assert loaded.tensors("b" * 64, "model.onnx", 8) is None
    # A damaged file or entry is a miss, never an error.
    for damaged in ("{not json", "[1]", '{"clean": 3, "tensors": []}'):
        path.write_text(damaged)
        assert CompileMemo.load(path).tensors("a" * 64, "model.onnx", 8) is None
    key = "\0".join(("a" * 64, "model.onnx", "8"))
    path.write_text(json.dumps({"tensors": {key: [[{"name": 3}], []]}}))
    assert CompileMemo.load(path).tensors("a" * 64, "model.onnx", 8) is None


def test_an_artifact_changed_after_registration_is_refused_memo_or_not(
    workspace: Workspace, tmp_path: Path
) -> None:
    copy = tmp_path / "netflix"  # its artifacts are changed below
    shutil.copytree(NETFLIX / "models", copy / "models")
    shutil.copytree(NETFLIX / "artifacts", copy / "artifacts")
    workspace.apply([copy / "models"])
    _compiled(workspace, tmp_path / "repo")
    onnx = next(s for s in workspace.list_models() if s.framework == "onnx")
    assert onnx.artifact is not None and Path(onnx.artifact).is_relative_to(copy)
    artifact = Path(onnx.artifact)
    target = artifact / "model.onnx" if artifact.is_dir() else artifact
    target.write_bytes(target.read_bytes() + b"\0")
    result = workspace.compile(tmp_path / "after", check=True)
    blocked = {b.model_id: b.reason for b in result.plan.blocked.values()}
    assert "changed after registration" in blocked[onnx.id]


def test_apply_learns_what_the_first_compile_reads(
    netflix: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Netflix models were just applied: their ONNX files were read and their configs
    checked then, so the first compile reads no ONNX file and rechecks only a config
    that registration did not build as compile does (none here: a verdict is kept by
    the config's content, so it is reused only for the very same config)."""
    from modelyard.triton import compiler

    reads: list[Path] = []
    checks: list[str] = []
    real_read, real_check = compiler.read_onnx_io, compiler.check_model_config
    monkeypatch.setattr(
        compiler, "read_onnx_io", lambda path, *a: reads.append(path) or real_read(path, *a)
    )
    monkeypatch.setattr(
        compiler,
        "check_model_config",
        lambda config, **k: checks.append(k["model_name"]) or real_check(config, **k),
    )
    compiled = _compiled(netflix, tmp_path / "repo")
    assert reads == []
    assert len(checks) < len(compiled)
