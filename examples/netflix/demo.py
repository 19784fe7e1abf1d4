"""The Netflix example end to end on the local Triton: serve, then ask the ranker.

    .venv/bin/python examples/netflix/demo.py WORKSPACE

Compiles the catalog's local profile, starts the Triton bundled with nvidia-pytriton,
loads every model, sends one request through the recommendation_ranker ensemble
(user_embedding + content_embedding -> ranking_scorer) and compares the scores with
running the ONNX files directly with onnxruntime.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from modelyard import Workspace

sys.path.insert(0, str(Path(__file__).parent))
from reference import example_inputs, reference_scores


def main(workspace_dir: str) -> int:
    workspace = Workspace.open(workspace_dir)
    started = time.perf_counter()
    serving = workspace.serve_locally()
    try:
        print(
            f"Triton live at {serving.server.url}; loaded {len(serving.loaded)} models in "
            f"{time.perf_counter() - started:.1f} s: {', '.join(serving.loaded)}"
        )
        for model_id, reason in serving.compiled.plan.skipped.items():
            print(f"skipped {model_id}: {reason}")
        inputs = example_inputs()
        answer = serving.client.infer(
            "recommendation.recommendation_ranker",
            {
                name: ("FP32", list(value.shape), value.ravel().tolist())
                for name, value in inputs.items()
            },
        )
        scores = np.array(answer["score"], dtype=np.float32).reshape(-1, 1)
        expected = reference_scores(inputs["user_features"], inputs["item_features"])
        for row, (got, want) in enumerate(zip(scores.ravel(), expected.ravel(), strict=True)):
            print(
                f"user/item pair {row}: ranker score {got:.6f} (onnxruntime directly: {want:.6f})"
            )
        if not np.allclose(scores, expected, atol=1e-6):
            print("MISMATCH between Triton and onnxruntime", file=sys.stderr)
            return 1
        return 0
    finally:
        serving.stop()
        workspace.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "demo-workspace"))
