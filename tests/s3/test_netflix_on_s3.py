"""The Netflix example published by modelyard to an `s3://` repository that a local
Triton reads: the ranker ensemble answers what onnxruntime computes from the same ONNX
files, and an upgrade published to S3 answers every request of a client loop."""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from modelyard import Workspace
from modelyard.triton.client import TritonClient
from tests.support.netflix import NETFLIX, NETFLIX_MODELS
from tests.support.rollout import FAST, Asker, ready_models

pytestmark = [pytest.mark.triton, pytest.mark.slow, pytest.mark.s3_one_server]

RANKER = "recommendation.recommendation_ranker"


def _reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("netflix_reference", NETFLIX / "reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def netflix_on_s3(
    on_s3: tuple[Workspace, TritonClient, str],
) -> tuple[Workspace, TritonClient]:
    """The Netflix catalog and a target `s3t`: a local Triton on s3://bucket/repo."""
    workspace, client, _ = on_s3
    workspace.apply([NETFLIX_MODELS])
    return workspace, client


def test_the_ensemble_on_s3_answers_what_onnxruntime_computes_through_an_upgrade(
    netflix_on_s3: tuple[Workspace, TritonClient], s3: Any, bucket: str
) -> None:
    workspace, client = netflix_on_s3
    workspace.deploy("s3t", options=FAST)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert f"repo/{RANKER}/config.pbtxt" in keys
    assert "repo/recommendation.ranking_scorer/1/model.onnx" in keys

    reference = _reference()
    inputs = reference.example_inputs()
    request = {name: ("FP32", list(v.shape), v.ravel().tolist()) for name, v in inputs.items()}
    expected = reference.reference_scores(inputs["user_features"], inputs["item_features"])

    def scores() -> float:
        got = np.array(client.infer(RANKER, request)["score"]).reshape(expected.shape)
        if not np.allclose(got, expected, atol=1e-6):
            raise AssertionError(f"Triton answered {got.ravel()}, onnxruntime {expected.ravel()}")
        return float(got.ravel()[0])

    assert scores() == pytest.approx(float(expected.ravel()[0]), abs=1e-6)

    # A new scorer version (the same weights): the ranker needs it (~=3.0), so the deploy
    # reloads both while the loop keeps asking the ensemble.
    scorer = (NETFLIX_MODELS / "recommendation.yaml").read_text().split("---\n")[2]
    assert "name: ranking_scorer" in scorer
    workspace.apply_text(
        scorer.replace('version: "3.0"', 'version: "3.1"'), base_dir=NETFLIX_MODELS
    )
    with Asker(client, RANKER, ask=lambda _version: scores()) as asker:
        result = workspace.deploy("s3t", options=FAST)
    assert result.ok
    assert asker.failures == []
    assert len(asker.answers) > 10
    assert ready_models(client)["recommendation.ranking_scorer"] == [2]
    assert {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]} >= {
        "repo/recommendation.ranking_scorer/2/model.onnx"
    }
