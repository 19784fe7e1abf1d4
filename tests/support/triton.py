"""Whether this machine can run the bundled tritonserver (nvidia-pytriton)."""

from __future__ import annotations


def local_triton_problem() -> str | None:
    """Why the bundled tritonserver cannot run here, or None when it can."""
    try:
        from modelyard.triton.server import TritonInstallation

        TritonInstallation.find()
    except Exception as exc:  # any reason the bundled server is unusable here
        return str(exc)
    return None
