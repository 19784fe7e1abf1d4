"""Writes the Netflix example's small, real ONNX models into ``artifacts/`` next to this file.

Run from the repository root::

    .venv/bin/python examples/netflix/make_artifacts.py          # (re)write the artifacts
    .venv/bin/python examples/netflix/make_artifacts.py --check  # exit 1 if they are stale

The output is byte-deterministic: weights come from a fixed seed and are quantised to
multiples of 1/128 (exact in float32, so no platform's float rounding can change a byte),
the graphs are built with ``onnx.helper`` in a fixed order, and the model carries no
timestamp. Running the script twice leaves identical files (compare the printed sha256).

Models (opset 17, IR version 8, first dimension symbolic ``batch``):

- ``user_embedding``: user_features [batch, 16] -> user_vector [batch, 8]  (tanh(x W + b))
- ``content_embedding``: item_features [batch, 24] -> item_vector [batch, 8]  (tanh(x W + b))
- ``ranking_scorer``: user_vector, item_vector [batch, 8] -> score [batch, 1]
  (sigmoid(sum_k user_k * item_k * w_k + b))
- ``query_understanding``: query_tokens [batch, 32] -> query_intent [batch, 8]  (relu(x W))
- ``content_retrieval``: query_intent [batch, 8] -> retrieval_scores [batch, 10]
  (softmax(x C, axis=1) with a fixed 8 x 10 catalogue matrix C)
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"

SEED = 20240611
OPSET = 17
IR_VERSION = 8
PRODUCER_NAME = "modelyard-example"
PRODUCER_VERSION = "1.0"
BATCH = "batch"

FLOAT = TensorProto.FLOAT


def _weights(
    rng: np.random.RandomState, shape: tuple[int, ...], scale: float
) -> npt.NDArray[np.float32]:
    """Uniform weights in [-scale, scale), quantised to scale/128 steps (exact in float32)."""
    steps = rng.randint(-128, 128, size=shape).astype(np.float32)
    return (steps * np.float32(scale / 128.0)).astype(np.float32)


def _io(name: str, width: int) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, FLOAT, [BATCH, width])


def _init(name: str, array: npt.NDArray[np.float32]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name)


def _model(
    name: str,
    doc: str,
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    initializers: list[onnx.TensorProto],
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, name, inputs, outputs, initializer=initializers, doc_string=doc
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name=PRODUCER_NAME,
        producer_version=PRODUCER_VERSION,
        doc_string=doc,
        model_version=1,
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def _embedding(
    name: str,
    rng: np.random.RandomState,
    in_name: str,
    in_width: int,
    out_name: str,
    out_width: int,
) -> onnx.ModelProto:
    weight = _weights(rng, (in_width, out_width), scale=0.5)
    bias = _weights(rng, (out_width,), scale=0.25)
    nodes = [
        helper.make_node("MatMul", [in_name, "W"], ["xw"], name="matmul"),
        helper.make_node("Add", ["xw", "B"], ["xw_b"], name="add_bias"),
        helper.make_node("Tanh", ["xw_b"], [out_name], name="tanh"),
    ]
    return _model(
        name,
        f"{name}: tanh({in_name} W + B), {in_width} -> {out_width}",
        nodes,
        [_io(in_name, in_width)],
        [_io(out_name, out_width)],
        [_init("W", weight), _init("B", bias)],
    )


def user_embedding(rng: np.random.RandomState) -> onnx.ModelProto:
    return _embedding("user_embedding", rng, "user_features", 16, "user_vector", 8)


def content_embedding(rng: np.random.RandomState) -> onnx.ModelProto:
    return _embedding("content_embedding", rng, "item_features", 24, "item_vector", 8)


def ranking_scorer(rng: np.random.RandomState) -> onnx.ModelProto:
    # w as an [8, 1] column: (user * item) @ w is the weighted sum over the 8 elements.
    weight = _weights(rng, (8, 1), scale=1.0)
    bias = _weights(rng, (1,), scale=0.25)
    nodes = [
        helper.make_node("Mul", ["user_vector", "item_vector"], ["interaction"], name="mul"),
        helper.make_node("MatMul", ["interaction", "W"], ["logit_raw"], name="weighted_sum"),
        helper.make_node("Add", ["logit_raw", "B"], ["logit"], name="add_bias"),
        helper.make_node("Sigmoid", ["logit"], ["score"], name="sigmoid"),
    ]
    return _model(
        "ranking_scorer",
        "ranking_scorer: sigmoid(sum(user * item * W) + B)",
        nodes,
        [_io("user_vector", 8), _io("item_vector", 8)],
        [_io("score", 1)],
        [_init("W", weight), _init("B", bias)],
    )


def query_understanding(rng: np.random.RandomState) -> onnx.ModelProto:
    weight = _weights(rng, (32, 8), scale=0.5)
    nodes = [
        helper.make_node("MatMul", ["query_tokens", "W"], ["xw"], name="matmul"),
        helper.make_node("Relu", ["xw"], ["query_intent"], name="relu"),
    ]
    return _model(
        "query_understanding",
        "query_understanding: relu(query_tokens W), 32 -> 8",
        nodes,
        [_io("query_tokens", 32)],
        [_io("query_intent", 8)],
        [_init("W", weight)],
    )


def content_retrieval(rng: np.random.RandomState) -> onnx.ModelProto:
    catalogue = _weights(rng, (8, 10), scale=1.0)
    nodes = [
        helper.make_node("MatMul", ["query_intent", "catalogue"], ["similarity"], name="matmul"),
        helper.make_node("Softmax", ["similarity"], ["retrieval_scores"], name="softmax", axis=1),
    ]
    return _model(
        "content_retrieval",
        "content_retrieval: softmax(query_intent catalogue, axis=1), 8 -> 10",
        nodes,
        [_io("query_intent", 8)],
        [_io("retrieval_scores", 10)],
        [_init("catalogue", catalogue)],
    )


# Each model draws from its own seed, so adding or changing one never shifts another's weights.
BUILDERS: dict[str, Callable[[np.random.RandomState], onnx.ModelProto]] = {
    "user_embedding": user_embedding,
    "content_embedding": content_embedding,
    "ranking_scorer": ranking_scorer,
    "query_understanding": query_understanding,
    "content_retrieval": content_retrieval,
}


def build_models() -> dict[str, onnx.ModelProto]:
    """The five models, keyed by model name, in a fixed order."""
    return {
        name: build(np.random.RandomState(SEED + index))
        for index, (name, build) in enumerate(BUILDERS.items())
    }


def build_artifacts() -> dict[str, bytes]:
    """File name (``<model>.onnx``) -> the exact bytes this script writes."""
    return {
        f"{name}.onnx": model.SerializeToString(deterministic=True)
        for name, model in build_models().items()
    }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def check(directory: Path = ARTIFACTS) -> list[str]:
    """Names of artifacts in ``directory`` that are missing or differ from what we would write."""
    stale = []
    for filename, data in build_artifacts().items():
        path = directory / filename
        if not path.is_file() or path.read_bytes() != data:
            stale.append(filename)
    return stale


def write(directory: Path = ARTIFACTS) -> dict[str, bytes]:
    """Writes the artifacts (leaving files that already hold the right bytes untouched)."""
    directory.mkdir(parents=True, exist_ok=True)
    artifacts = build_artifacts()
    for filename, data in artifacts.items():
        path = directory / filename
        if path.is_file() and path.read_bytes() == data:
            continue
        tmp = path.with_suffix(".onnx.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return artifacts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the files on disk are missing or stale",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ARTIFACTS,
        help="output folder (default: artifacts/ next to this script)",
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = check(args.out)
        for filename in stale:
            print(f"stale or missing: {_shown(args.out / filename)}", file=sys.stderr)
        if stale:
            print(f"regenerate with: python {_shown(Path(__file__))}", file=sys.stderr)
            return 1
        print(f"ok: {len(BUILDERS)} artifacts in {_shown(args.out)} are up to date")
        return 0
    for filename, data in write(args.out).items():
        print(f"{_shown(args.out / filename):<50} {len(data):>5} bytes  sha256 {_sha256(data)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
