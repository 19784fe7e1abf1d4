"""Fleet description and placement of model replicas onto servers and GPUs (pure)."""

from modelyard.placement.fleet import Dedication, Fleet, Gpu, Server
from modelyard.placement.solver import (
    Assignment,
    Demand,
    Placement,
    Shortfall,
    demands_from_specs,
    lower_bound_gpus,
    place,
)

__all__ = [
    "Assignment",
    "Dedication",
    "Demand",
    "Fleet",
    "Gpu",
    "Placement",
    "Server",
    "Shortfall",
    "demands_from_specs",
    "lower_bound_gpus",
    "place",
]
