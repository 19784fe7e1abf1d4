"""Describe this machine as a fleet server: GPUs through NVML, else CPU and memory only.

NVML comes from the `nvidia-ml-py` package (`pip install 'modelyard[gpu]'`); without it,
or without a driver, the machine is described without GPUs, which is what it then is for
Triton.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from modelyard.catalog.naming import check_name
from modelyard.placement.fleet import Gpu, Server


def detect_gpus() -> tuple[list[Gpu], str | None]:
    """The GPUs NVML reports, and why there are none when there are none."""
    try:
        import pynvml  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return [], "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return [], f"NVML is not available ({exc})"
    try:
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name: Any = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(
                Gpu(
                    index=index,
                    model=name.decode() if isinstance(name, bytes) else str(name),
                    memory_mb=int(memory.total // (1024 * 1024)),
                )
            )
        return gpus, None if gpus else "NVML found no GPU"
    finally:
        pynvml.nvmlShutdown()


def detect_local_server(
    name: str | None = None, url: str = "http://127.0.0.1:8000"
) -> tuple[Server, str | None]:
    """This machine as a Server entry (name: the host name made catalog-safe)."""
    host = (
        name
        or "".join(
            c if c.isalnum() or c in "-_" else "-" for c in socket.gethostname().lower()
        ).strip("-")
        or "local"
    )
    check_name(host, "server name")
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    gpus, note = detect_gpus()
    server = Server(
        name=host,
        url=url,
        cpu_cores=float(os.cpu_count() or 1),
        memory_mb=int(memory_mb),
        gpus=gpus,
    )
    return server, note
