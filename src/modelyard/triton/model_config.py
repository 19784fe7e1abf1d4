"""Triton's `ModelConfig` protobuf messages (tritonclient's generated `model_config_pb2`),
loaded without running `tritonclient.grpc`'s package `__init__`: that imports grpc and
numpy, 0.19 s of the start of every command, while the messages need only protobuf.

The module is registered under its own name, so a later `import tritonclient.grpc` (the
Triton client, a test) finds it loaded and protobuf's descriptor pool holds its file once.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import tritonclient

_NAME = "tritonclient.grpc.model_config_pb2"


def _load() -> ModuleType:
    loaded = sys.modules.get(_NAME)
    if loaded is not None:
        return loaded
    path = Path(tritonclient.__file__).parent / "grpc" / "model_config_pb2.py"
    spec = importlib.util.spec_from_file_location(_NAME, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a broken tritonclient
        from tritonclient.grpc import model_config_pb2 as found

        return found  # type: ignore[no-any-return]
    module = importlib.util.module_from_spec(spec)
    sys.modules[_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[_NAME]
        raise
    return module


# tritonclient ships no type information: the generated messages are `Any` to mypy, so
# every value read from them is converted (int(), str()) before it leaves a function.
model_config_pb2: Any = _load()
