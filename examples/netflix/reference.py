"""Reference outputs of the Netflix example's pipelines, computed with onnxruntime on the CPU.

These are what the future ensembles must answer when served by Triton:

- recommendation: ``user_embedding`` and ``content_embedding`` feed ``ranking_scorer``
  (``reference_scores``), inputs from ``example_inputs()``;
- search: ``query_understanding`` feeds ``content_retrieval`` (``reference_retrieval``),
  inputs from ``example_search_inputs()``.

The models are the files ``make_artifacts.py`` writes into ``artifacts/`` next to this file.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"

EXAMPLE_SEED = 7
EXAMPLE_BATCH = 2


@cache
def _session(path: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # one thread: the same sums in the same order every run
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def run_model(
    name: str, inputs: dict[str, npt.NDArray[np.float32]], *, artifacts: Path = ARTIFACTS
) -> dict[str, npt.NDArray[np.float32]]:
    """Runs ``artifacts/<name>.onnx`` on ``inputs``; returns its outputs by name."""
    session = _session(str((artifacts / f"{name}.onnx").resolve()))
    feeds = {key: np.ascontiguousarray(value, dtype=np.float32) for key, value in inputs.items()}
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


def _features(rng: np.random.RandomState, width: int) -> npt.NDArray[np.float32]:
    # multiples of 1/64 in [-1, 1): exact in float32, the same on every platform
    return (rng.randint(-64, 64, size=(EXAMPLE_BATCH, width)) / 64.0).astype(np.float32)


def example_inputs() -> dict[str, npt.NDArray[np.float32]]:
    """Deterministic inputs (batch of 2) for the recommendation pipeline."""
    rng = np.random.RandomState(EXAMPLE_SEED)
    return {"user_features": _features(rng, 16), "item_features": _features(rng, 24)}


def example_search_inputs() -> dict[str, npt.NDArray[np.float32]]:
    """Deterministic inputs (batch of 2) for the search pipeline."""
    rng = np.random.RandomState(EXAMPLE_SEED + 1)
    return {"query_tokens": _features(rng, 32)}


def reference_scores(
    user_features: npt.NDArray[np.float32],
    item_features: npt.NDArray[np.float32],
    *,
    artifacts: Path = ARTIFACTS,
) -> npt.NDArray[np.float32]:
    """``score`` [batch, 1]: user_embedding and content_embedding, then ranking_scorer."""
    user = run_model("user_embedding", {"user_features": user_features}, artifacts=artifacts)
    item = run_model("content_embedding", {"item_features": item_features}, artifacts=artifacts)
    vectors = {"user_vector": user["user_vector"], "item_vector": item["item_vector"]}
    scored = run_model("ranking_scorer", vectors, artifacts=artifacts)
    return scored["score"]


def reference_retrieval(
    query_tokens: npt.NDArray[np.float32], *, artifacts: Path = ARTIFACTS
) -> npt.NDArray[np.float32]:
    """``retrieval_scores`` [batch, 10]: query_understanding, then content_retrieval."""
    intent = run_model("query_understanding", {"query_tokens": query_tokens}, artifacts=artifacts)
    retrieved = run_model(
        "content_retrieval", {"query_intent": intent["query_intent"]}, artifacts=artifacts
    )
    return retrieved["retrieval_scores"]


if __name__ == "__main__":
    np.set_printoptions(precision=6, suppress=True)
    inputs = example_inputs()
    print("score:\n", reference_scores(inputs["user_features"], inputs["item_features"]))
    query = example_search_inputs()["query_tokens"]
    print("retrieval_scores:\n", reference_retrieval(query))
