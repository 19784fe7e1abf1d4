"""Fleet description and (later) placement of model instances onto servers and GPUs."""

from modelyard.placement.fleet import Fleet, Gpu, Server

__all__ = ["Fleet", "Gpu", "Server"]
