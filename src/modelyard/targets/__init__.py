"""Deployment targets: the Target protocol, its kinds, and a registry keyed by `kind:`.

A target is where a deployment goes: a server that loads and serves models, and the
repository it reads them from. `open_target(name, config)` opens one from its entry in
modelyard.yaml; `register_target_kind` adds a kind (MLflow's store registry is the model).
"""

from modelyard.targets.base import Target
from modelyard.targets.registry import (
    TargetFactory,
    TargetRegistry,
    open_target,
    register_target_kind,
    target_kinds,
)
from modelyard.targets.triton_folder import TritonFolderTarget

__all__ = [
    "Target",
    "TargetFactory",
    "TargetRegistry",
    "TritonFolderTarget",
    "open_target",
    "register_target_kind",
    "target_kinds",
]
