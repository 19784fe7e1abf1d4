"""Fleet description and (later) placement of model instances onto servers and GPUs."""

from modelyard.placement.fleet import Dedication, Fleet, Gpu, Server

__all__ = ["Dedication", "Fleet", "Gpu", "Server"]
