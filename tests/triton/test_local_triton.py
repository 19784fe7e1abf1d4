"""The compiled Netflix repository on a real Triton server (the one in nvidia-pytriton).

One server for the module, in explicit model-control mode, reading the workspace's
local repository link; recompiles swap the link under it.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from modelyard import Workspace
from modelyard.ops.serving import LocalServing
from tests.support.netflix import NETFLIX, NETFLIX_MODELS

pytestmark = pytest.mark.triton


def _reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("netflix_reference", NETFLIX / "reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServing]:
    root = tmp_path_factory.mktemp("served") / "ws"
    root.mkdir()
    shutil.copyfile(NETFLIX / "modelyard.yaml", root / "modelyard.yaml")
    workspace = Workspace.init(root)
    workspace.apply([NETFLIX_MODELS])
    serving = workspace.serve_locally()
    yield serving
    serving.stop()
    workspace.close()


def _tensor(array: np.ndarray) -> tuple[str, list[int], list[float]]:
    return "FP32", list(array.shape), array.ravel().tolist()


def test_every_netflix_model_is_ready(served: LocalServing) -> None:
    states = {entry["name"]: entry.get("state") for entry in served.client.index()}
    assert states == {
        "recommendation.content_embedding": "READY",
        "recommendation.ranking_scorer": "READY",
        "recommendation.recommendation_ranker": "READY",
        "recommendation.user_embedding": "READY",
        "search.content_retrieval": "READY",
        "search.query_understanding": "READY",
    }


def test_ensemble_answers_what_onnxruntime_computes(served: LocalServing) -> None:
    reference = _reference()
    inputs = reference.example_inputs()
    answer = served.client.infer(
        "recommendation.recommendation_ranker",
        {name: _tensor(value) for name, value in inputs.items()},
    )
    expected = reference.reference_scores(inputs["user_features"], inputs["item_features"])
    assert np.allclose(np.array(answer["score"]).reshape(expected.shape), expected, atol=1e-6)


def test_search_models_answer_what_onnxruntime_computes(served: LocalServing) -> None:
    reference = _reference()
    tokens = reference.example_search_inputs()["query_tokens"]
    intent = served.client.infer("search.query_understanding", {"query_tokens": _tensor(tokens)})
    intent_array = np.array(intent["query_intent"], dtype=np.float32).reshape(len(tokens), -1)
    scores = served.client.infer(
        "search.content_retrieval", {"query_intent": _tensor(intent_array)}
    )
    expected = reference.reference_retrieval(tokens)
    assert np.allclose(
        np.array(scores["retrieval_scores"]).reshape(expected.shape), expected, atol=1e-6
    )


def test_served_config_is_the_compiled_one(served: LocalServing) -> None:
    config = served.client.config("recommendation.recommendation_ranker")
    assert config["platform"] == "ensemble"
    assert [step["model_name"] for step in config["ensemble_scheduling"]["step"]] == [
        "recommendation.user_embedding",
        "recommendation.content_embedding",
        "recommendation.ranking_scorer",
    ]
    scorer = served.client.config("recommendation.ranking_scorer")
    assert scorer["backend"] == "python"
    assert scorer["dynamic_batching"]["max_queue_delay_microseconds"] == 2000  # 10% of 20 ms
    assert scorer["parameters"]["owner_team"]["string_value"] == "recommendation_platform"


def test_recompiling_unchanged_catalog_rewrites_nothing(
    served: LocalServing, tmp_path: Path
) -> None:
    repository = served.server.repository
    before = (repository / "recommendation.user_embedding" / "1" / "model.onnx").resolve()
    generation = served.compiled.generation
    workspace = Workspace.open(served.server.state_dir.parents[1])
    again = workspace.compile(repository, profile="local")
    assert again.diff.is_empty and again.generation == generation
    assert (repository / "recommendation.user_embedding" / "1" / "model.onnx").resolve() == before
    workspace.close()
