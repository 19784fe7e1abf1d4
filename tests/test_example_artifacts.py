"""The Netflix example's ONNX artifacts: reproducible, valid, agreed signatures, sane outputs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

from tests.support.netflix import NETFLIX

ARTIFACTS = NETFLIX / "artifacts"
SCRIPT = NETFLIX / "make_artifacts.py"


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_artifacts = _load(SCRIPT, "netflix_make_artifacts")
reference = _load(NETFLIX / "reference.py", "netflix_reference")

# model -> ([(input, width)], [(output, width)]); every tensor is FP32 [batch, width]
SIGNATURES = {
    "user_embedding": ([("user_features", 16)], [("user_vector", 8)]),
    "content_embedding": ([("item_features", 24)], [("item_vector", 8)]),
    "ranking_scorer": ([("user_vector", 8), ("item_vector", 8)], [("score", 1)]),
    "query_understanding": ([("query_tokens", 32)], [("query_intent", 8)]),
    "content_retrieval": ([("query_intent", 8)], [("retrieval_scores", 10)]),
}


def _load_model(name: str) -> onnx.ModelProto:
    return onnx.load(str(ARTIFACTS / f"{name}.onnx"))


def _weights(name: str) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in _load_model(name).graph.initializer}


def test_artifacts_on_disk_are_what_the_script_writes() -> None:
    expected = make_artifacts.build_artifacts()
    assert sorted(expected) == sorted(f"{name}.onnx" for name in SIGNATURES)
    assert make_artifacts.build_artifacts() == expected  # byte-deterministic in-process
    for filename, data in expected.items():
        assert (ARTIFACTS / filename).read_bytes() == data, (
            f"{filename} is stale: run python examples/netflix/make_artifacts.py"
        )
        assert len(data) < 16 * 1024


def test_check_flag_passes_now_and_fails_on_a_stale_file(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr

    out = tmp_path / "artifacts"
    written = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert written.returncode == 0, written.stdout + written.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.onnx" for n in SIGNATURES)
    assert all(
        (out / f).read_bytes() == (ARTIFACTS / f).read_bytes()
        for f in make_artifacts.build_artifacts()
    )

    (out / "ranking_scorer.onnx").write_bytes(b"not a model")
    (out / "content_retrieval.onnx").unlink()
    stale = subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert stale.returncode == 1
    assert "ranking_scorer.onnx" in stale.stderr and "content_retrieval.onnx" in stale.stderr
    assert "user_embedding.onnx" not in stale.stderr


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_artifact_is_a_valid_model_with_the_agreed_signature(name: str) -> None:
    model = _load_model(name)
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version in (8, 9)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    assert model.producer_name == "modelyard-example"
    assert model.graph.name == name

    def signature(values: list[onnx.ValueInfoProto]) -> list[tuple[str, int, str, int]]:
        found = []
        for value in values:
            tensor = value.type.tensor_type
            batch, width = tensor.shape.dim
            assert not batch.HasField("dim_value"), f"{value.name}: batch dim is fixed"
            found.append((value.name, tensor.elem_type, batch.dim_param, width.dim_value))
        return found

    inputs, outputs = SIGNATURES[name]
    initializers = {t.name for t in model.graph.initializer}
    graph_inputs = [v for v in model.graph.input if v.name not in initializers]
    assert signature(graph_inputs) == [(n, TensorProto.FLOAT, "batch", w) for n, w in inputs]
    assert signature(list(model.graph.output)) == [
        (n, TensorProto.FLOAT, "batch", w) for n, w in outputs
    ]


def test_example_inputs_are_deterministic() -> None:
    first, second = reference.example_inputs(), reference.example_inputs()
    assert sorted(first) == ["item_features", "user_features"]
    assert first["user_features"].shape == (2, 16) and first["item_features"].shape == (2, 24)
    for key in first:
        assert first[key].dtype == np.float32
        np.testing.assert_array_equal(first[key], second[key])
    query = reference.example_search_inputs()["query_tokens"]
    assert query.shape == (2, 32) and query.dtype == np.float32
    np.testing.assert_array_equal(query, reference.example_search_inputs()["query_tokens"])


def test_reference_scores_are_probabilities_and_deterministic() -> None:
    inputs = reference.example_inputs()
    scores = reference.reference_scores(**inputs)
    assert scores.shape == (2, 1) and scores.dtype == np.float32
    assert np.all((scores > 0) & (scores < 1))
    assert scores[0, 0] != scores[1, 0]
    np.testing.assert_array_equal(scores, reference.reference_scores(**inputs))


def test_reference_scores_follow_the_documented_formula() -> None:
    inputs = reference.example_inputs()
    user, item, ranker = (
        _weights("user_embedding"),
        _weights("content_embedding"),
        _weights("ranking_scorer"),
    )
    u = np.tanh(inputs["user_features"] @ user["W"] + user["B"])
    i = np.tanh(inputs["item_features"] @ item["W"] + item["B"])
    logit = (u * i * ranker["W"][:, 0]).sum(axis=1, keepdims=True) + ranker["B"]
    expected = 1 / (1 + np.exp(-logit))
    np.testing.assert_allclose(reference.reference_scores(**inputs), expected, atol=1e-6)


def test_reference_retrieval_is_a_distribution_over_ten_titles() -> None:
    query = reference.example_search_inputs()["query_tokens"]
    scores = reference.reference_retrieval(query)
    assert scores.shape == (2, 10) and scores.dtype == np.float32
    assert np.all(scores > 0)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(scores, reference.reference_retrieval(query))

    understanding, retrieval = _weights("query_understanding"), _weights("content_retrieval")
    logits = np.maximum(query @ understanding["W"], 0) @ retrieval["catalogue"]
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(scores, expected, atol=1e-6)


def test_batch_dimension_is_really_dynamic() -> None:
    rng = np.random.RandomState(0)
    users = rng.uniform(-1, 1, size=(5, 16)).astype(np.float32)
    items = rng.uniform(-1, 1, size=(5, 24)).astype(np.float32)
    assert reference.reference_scores(users, items).shape == (5, 1)
    single = reference.reference_scores(users[:1], items[:1])
    np.testing.assert_allclose(single, reference.reference_scores(users, items)[:1], atol=1e-6)
    queries = rng.uniform(-1, 1, size=(3, 32)).astype(np.float32)
    assert reference.reference_retrieval(queries).shape == (3, 10)
