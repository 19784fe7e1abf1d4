"""One request's inputs for a live model: the manifest's example values, else zeros.

The smoke test after a deploy (deploy/runner.py) and the load of `modelyard perf`
(perf/load.py) send the same request, built here from the model's live config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

RequestInputs = dict[str, tuple[str, list[int], list[Any]]]

_ZERO_BY_TYPE: dict[str, Any] = {"TYPE_STRING": "", "TYPE_BOOL": False}


def request_inputs(
    config: Mapping[str, Any], examples: Mapping[str, Sequence[Any]]
) -> RequestInputs:
    """name -> (datatype, shape, flat data) for every required input of `config` (the
    JSON of `GET v2/models/<m>/config`); `examples` maps input names to example values."""
    batching = int(config.get("max_batch_size", 0)) > 0
    inputs: RequestInputs = {}
    for tensor in config.get("input", []):
        if tensor.get("optional"):
            continue
        dims = [1 if int(d) < 0 else int(d) for d in tensor.get("dims", [])]
        shape = [1, *dims] if batching else dims
        count = 1
        for d in shape:
            count *= d
        data_type = str(tensor.get("data_type", "TYPE_FP32"))
        example = examples.get(tensor["name"])
        if example is not None:
            data = list(example)
            shape = _shape_for(tensor.get("dims", []), len(example), batching)
        else:
            data = [_ZERO_BY_TYPE.get(data_type, 0)] * count
        inputs[tensor["name"]] = (
            data_type.removeprefix("TYPE_").replace("STRING", "BYTES"),
            shape,
            data,
        )
    return inputs


def infer_body(inputs: RequestInputs) -> dict[str, Any]:
    """The JSON body of `POST v2/models/<m>/infer` carrying `inputs`."""
    return {
        "inputs": [
            {"name": name, "datatype": datatype, "shape": shape, "data": data}
            for name, (datatype, shape, data) in inputs.items()
        ]
    }


def compiled_request_inputs(
    config: Message, examples: Mapping[str, Sequence[Any]]
) -> RequestInputs:
    """`request_inputs` from a compiled ModelConfig message instead of the live JSON (an
    exported script computes its smoke requests when it is written)."""
    as_json = json_format.MessageToDict(config, preserving_proto_field_name=True)
    return request_inputs(as_json, examples)


def _shape_for(dims: Sequence[Any], values: int, batching: bool) -> list[int]:
    """The request shape holding `values` values: the first variable dimension takes
    whatever the fixed ones leave, any other variable one is 1."""
    fixed = 1
    for dim in dims:
        if int(dim) > 0:
            fixed *= int(dim)
    shape, filled = [], False
    for dim in dims:
        if int(dim) > 0:
            shape.append(int(dim))
        elif not filled:
            shape.append(max(1, values // max(1, fixed)))
            filled = True
        else:
            shape.append(1)
    return [1, *shape] if batching else shape
