"""Inputs and outputs of an ONNX artifact, as Triton declares them."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from modelyard.catalog.spec import TensorSpec

if TYPE_CHECKING:
    import onnx


@functools.cache
def _onnx_to_triton() -> dict[int, str]:
    """onnx element types -> Triton data types (model_config.proto, without TYPE_)."""
    from onnx import TensorProto  # onnx (and numpy) only where ONNX files are read

    return {
        TensorProto.BOOL: "BOOL",
        TensorProto.UINT8: "UINT8",
        TensorProto.UINT16: "UINT16",
        TensorProto.UINT32: "UINT32",
        TensorProto.UINT64: "UINT64",
        TensorProto.INT8: "INT8",
        TensorProto.INT16: "INT16",
        TensorProto.INT32: "INT32",
        TensorProto.INT64: "INT64",
        TensorProto.FLOAT16: "FP16",
        TensorProto.FLOAT: "FP32",
        TensorProto.DOUBLE: "FP64",
        TensorProto.BFLOAT16: "BF16",
        TensorProto.STRING: "STRING",
    }


class ArtifactError(ValueError):
    """The artifact cannot be read or does not describe its tensors."""


def onnx_file(artifact: Path, file_name: str = "model.onnx") -> Path:
    """The .onnx file of an artifact: the file itself, or `file_name` inside a folder."""
    if not artifact.exists():
        raise ArtifactError(f"artifact {artifact} is missing; restore it or register a new version")
    if artifact.is_dir():
        candidate = artifact / file_name
        if not candidate.is_file():
            raise ArtifactError(f"{artifact} is a folder without {file_name}")
        return candidate
    return artifact


def read_onnx_io(
    artifact: Path, max_batch_size: int, file_name: str = "model.onnx"
) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Graph inputs (without initializers) and outputs of an ONNX model.

    With `max_batch_size > 0` Triton adds the batch dimension itself, so the first
    dimension of every tensor (which must then be variable) is left out of `dims`.
    """
    import onnx  # onnx (and numpy) only where ONNX files are read

    path = onnx_file(artifact, file_name)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, OSError, ValueError...
        raise ArtifactError(
            f"{path} is not a readable ONNX model ({type(exc).__name__}: {exc})"
        ) from None
    _check_complete(model, path)
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    inputs = [_tensor(v, max_batch_size, path) for v in graph.input if v.name not in initializers]
    outputs = [_tensor(v, max_batch_size, path) for v in graph.output]
    if not outputs:
        raise ArtifactError(f"{path} declares no graph outputs")
    return inputs, outputs


def _check_complete(model: onnx.ModelProto, path: Path) -> None:
    """Refuse a model whose end is missing.

    Protobuf parses a file cut at a field boundary without complaint, and `opset_import`
    is written after the graph, so a truncated copy often loses exactly that: the ONNX
    spec requires it (IR version 3 and later), and every node's operator domain must be
    declared in it.
    """
    declared = {opset.domain or "ai.onnx" for opset in model.opset_import}
    if not declared:
        raise ArtifactError(
            f"{path} declares no operator sets (opset_import), which every ONNX "
            "model ends with: the file is probably truncated; copy it again"
        )
    used = {node.domain or "ai.onnx" for node in model.graph.node}
    missing = sorted(used - declared - {function.domain for function in model.functions})
    if missing:
        raise ArtifactError(
            f"{path}: its nodes use the operator domain {missing[0]!r}, which "
            "opset_import does not declare: the file is probably truncated or "
            "damaged; copy it again"
        )


def _tensor(value: onnx.ValueInfoProto, max_batch_size: int, path: Path) -> TensorSpec:
    tensor_type = value.type.tensor_type
    data_type = _onnx_to_triton().get(tensor_type.elem_type)
    if data_type is None:
        from onnx import TensorProto  # loaded by the caller already

        raise ArtifactError(
            f"{path}: tensor {value.name!r} has an element type Triton cannot serve "
            f"({TensorProto.DataType.Name(tensor_type.elem_type)})"
        )
    dims = [
        d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1
        for d in tensor_type.shape.dim
    ]
    if max_batch_size > 0:
        if not dims:
            raise ArtifactError(
                f"{path}: tensor {value.name!r} is a scalar, but max_batch_size "
                f"{max_batch_size} needs a leading batch dimension (use 0)"
            )
        dims = dims[1:]
    if not dims:
        dims = [1]
    return TensorSpec.model_validate({"name": value.name, "data_type": data_type, "dims": dims})
