"""Process memory of a model's instances on this machine, read from /proc.

The python backend runs each model instance in its own `triton_python_backend_stub`
process, whose command line is (python_be.cc, checked with Triton 2.51):

    <stub> <repository>/<model>/<version>/model.py <shm region> <shm size> <shm growth>
           <tritonserver pid> <backend dir> <ipc size> <model>_<group>_<index> <kind>

so the model file's path names the repository, the model and the version, and tells
one server's stubs from another's. Backends that run inside the tritonserver process
(ONNX Runtime, TensorRT, PyTorch) have no process of their own; for them Triton's
`memory_usage` statistic is the figure.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

STUB_NAME = "triton_python_backend_stub"
_PROC = Path("/proc")


def stub_processes(repository: Path, model: str, version: int) -> dict[int, int]:
    """pid -> resident set size in bytes of the stubs serving `model`/`version` from
    `repository` (empty where none run here, or /proc is unavailable)."""
    roots = _spellings(repository)
    # A model loaded before the last compile reads from an older generation folder.
    generations = {root.parent / f".{root.name}.generations" for root in roots}
    found: dict[int, int] = {}
    try:
        entries = list(_PROC.iterdir())
    except OSError:
        return found
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # the process ended, or is not ours to read
            continue
        if len(arguments) < 2 or not arguments[0].endswith(STUB_NAME.encode()):
            continue
        model_file = Path(arguments[1].decode(errors="replace"))
        version_dir = model_file.parent
        if version_dir.name != str(version) or version_dir.parent.name != model:
            continue
        root = version_dir.parent.parent
        if root not in roots and root.parent not in generations:
            continue
        rss = _resident_bytes(entry)
        if rss is not None:
            found[int(entry.name)] = rss
    return found


def _spellings(repository: Path) -> set[Path]:
    # Triton keeps the path it was given, or the generation the repository linked to.
    spellings = {repository.absolute()}
    with contextlib.suppress(OSError):
        spellings.add(repository.resolve())
    return spellings


def _resident_bytes(process: Path) -> int | None:
    try:
        for line in (process / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024  # reported in kB
    except (OSError, ValueError, IndexError):
        return None
    return None
