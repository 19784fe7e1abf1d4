"""Triton python-backend model that runs an ONNX file with onnxruntime.

Copied as `model.py` next to `model.onnx` in each version folder of the `local`
profile: the Triton bundled with nvidia-pytriton has only the python backend, and this
lets the same ONNX artifacts run there that the onnxruntime backend runs in production.
It runs inside Triton's python backend stub, not in modelyard.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils  # provided by the python backend stub


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        folder = os.path.join(args["model_repository"], args["model_version"])
        options = ort.SessionOptions()
        # One thread per instance: Triton scales with instance_group, not intra-op threads.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        # Triton sets default_model_filename to model.py for the python backend, so the
        # ONNX file's name comes in a parameter of its own.
        parameters = config.get("parameters", {})
        file_name = parameters.get("onnx_file", {}).get("string_value") or "model.onnx"
        self.session = ort.InferenceSession(
            os.path.join(folder, file_name), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = [tensor["name"] for tensor in config["input"]]
        self.output_names = [tensor["name"] for tensor in config["output"]]

    def execute(self, requests: list[Any]) -> list[Any]:
        responses = []
        for request in requests:
            feeds = {
                name: pb_utils.get_input_tensor_by_name(request, name).as_numpy()
                for name in self.input_names
            }
            try:
                results = self.session.run(self.output_names, feeds)
            except Exception as exc:  # onnxruntime's own errors go back to the client
                responses.append(
                    pb_utils.InferenceResponse(error=pb_utils.TritonError(f"onnxruntime: {exc}"))
                )
                continue
            tensors = [
                pb_utils.Tensor(name, np.ascontiguousarray(value))
                for name, value in zip(self.output_names, results, strict=True)
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses
