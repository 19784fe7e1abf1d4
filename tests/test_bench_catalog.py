"""bench/catalog.py's synthetic catalog is one that compiles, and that Triton serves.

The benchmark's figures are only honest if its catalog is: every non-ensemble model has
its own artifact, validate finds no error, compile writes every model in both profiles,
and a real Triton loads an ensemble of python and ONNX models and answers what they
compute.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelyard import Workspace
from tests.support.bench import bench_catalog

bench = bench_catalog()


def _documents(root: Path) -> dict[str, dict[str, Any]]:
    """The generated documents (the JSON copy of the manifests), by model id."""
    return {
        f"{doc['domain']}/{doc['name']}": doc
        for path in sorted((root / "json").glob("*.json"))
        for doc in json.loads(path.read_text(encoding="utf-8"))
    }


def test_every_model_has_its_own_artifact_and_the_catalog_compiles(tmp_path: Path) -> None:
    written = bench.generate(300, tmp_path / "catalog")
    documents = _documents(tmp_path / "catalog")
    assert written["frameworks"]["ensemble"] > 0 and written["frameworks"]["onnx"] > 0
    manifests = tmp_path / "catalog" / "manifests"
    digests = set()
    for doc in documents.values():
        if doc["framework"] == "ensemble":
            assert "artifact" not in doc
            continue
        artifact = (manifests / doc["artifact"]).resolve()
        assert abs(artifact.stat().st_size - bench.ARTIFACT_BYTES) < 64
        digests.add(hashlib.sha256(artifact.read_bytes()).hexdigest())
    assert len(digests) == written["artifacts"] == 300 - written["frameworks"]["ensemble"]

    workspace = Workspace.init(tmp_path / "ws")
    try:
        assert len(workspace.apply([manifests]).created) == 300
        report = workspace.validate()
        assert [p.message for p in report.problems if str(p.severity) == "error"] == []
        for profile in ("production", "local"):
            result = workspace.compile(tmp_path / f"repository-{profile}", profile=profile)
            assert (result.skipped, result.blocked) == ({}, {})
            assert len(result.models) == 300
    finally:
        workspace.close()


def _smallest_mixed_ensemble(documents: dict[str, dict[str, Any]]) -> list[str]:
    """The ensemble, with every model it needs, of the smallest closure that holds both a
    python and an ONNX model and answers FP32 scores (Triton's JSON answers carry no FP16)."""

    def closure(model_id: str) -> list[str]:
        seen, stack = [model_id], [model_id]
        while stack:
            for dependency in documents[stack.pop()].get("dependencies", []):
                needed = dependency.split(">")[0].split("~")[0]
                if needed not in seen:
                    seen.append(needed)
                    stack.append(needed)
        return seen

    candidates = [
        closure(model_id)
        for model_id, doc in documents.items()
        if doc["framework"] == "ensemble"
        and doc["outputs"][1]["data_type"] == "FP32"
        and {"python", "onnx"} <= {documents[m]["framework"] for m in closure(model_id)}
    ]
    assert candidates, "the generator made no ensemble of python and ONNX models"
    return min(candidates, key=len)


@pytest.fixture
def served_ensemble(tmp_path: Path) -> Iterator[tuple[Any, dict[str, Any], list[str]]]:
    root = tmp_path / "catalog"
    bench.generate(300, root)
    documents = _documents(root)
    chosen = _smallest_mixed_ensemble(documents)
    # Beside manifests/, so the artifacts' relative paths still point at them.
    subset = root / "subset"
    subset.mkdir()
    (subset / "models.yaml").write_text(
        "---\n".join(bench.to_yaml(documents[m]) for m in chosen), encoding="utf-8"
    )
    workspace = Workspace.init(tmp_path / "ws")
    workspace.apply([subset])
    serving = workspace.serve_locally(strict=True)
    try:
        yield serving, documents[chosen[0]], chosen
    finally:
        serving.stop()
        workspace.close()


@pytest.mark.triton
def test_triton_serves_a_generated_ensemble_of_python_and_onnx_models(
    served_ensemble: tuple[Any, dict[str, Any], list[str]],
) -> None:
    serving, ensemble, chosen = served_ensemble
    states = {entry["name"]: entry.get("state") for entry in serving.client.index()}
    assert states == {model_id.replace("/", "."): "READY" for model_id in chosen}
    # One request of batch 1: the smallest max_batch_size the generator writes.
    features = np.linspace(-1, 1, bench.FEATURES, dtype=np.float32).reshape(1, -1)
    answer = serving.client.infer(
        f"{ensemble['domain']}.{ensemble['name']}",
        {
            "input_ids": ("INT64", [1, 3], [1, 2, 3]),
            "features": ("FP32", list(features.shape), features.ravel().tolist()),
        },
    )
    # Every step passes the features on as its embedding; the last one's scores are the
    # first `width` of them.
    (scores,) = (t for t in ensemble["outputs"] if t["name"] == "scores")
    width = scores["dims"][0]
    assert np.allclose(np.array(answer["embedding"]).reshape(features.shape), features)
    assert np.allclose(np.array(answer["scores"]).reshape(1, width), features[:, :width], atol=1e-3)


def _figures(wall_s: float, rss_mb: float = 100.0) -> dict[str, Any]:
    return {"wall_s": wall_s, "peak_rss_mb": rss_mb}


def test_targets_are_judged_on_medians_and_growth_is_a_log_ratio() -> None:
    low = {"apply": _figures(2.0), "validate": _figures(1.0), "plan": _figures(0.5)}
    high = {"apply": _figures(50.0), "validate": _figures(5.0, 250.0), "plan": _figures(2.5)}
    low["apply_postgres"] = {**_figures(3.0), "sqlite_ratio": 1.5}
    results = [{"n": 10_000, "figures": low}, {"n": 50_000, "figures": high}]
    verdicts = {v["target"]: v["status"] for v in bench.judge(results)}
    assert verdicts["apply 10k <= 2.5 s"] == "met"
    assert verdicts["apply 50k <= 12 s"] == "not met"
    assert verdicts["validate 50k peak RSS <= 300 MB"] == "met"
    assert verdicts["PostgreSQL apply 10k <= 1.3x SQLite"] == "not met"
    assert verdicts["report --html 10k <= 3 s"] == "not measured"
    exponents = bench.growth(results)
    assert exponents["validate"] == 1.0
    assert exponents["apply"] == 2.0
