"""Resolving thousands of artifact paths that live in a few folders.

`Path.resolve` walks every component of every path with `lstat`; at 10,000 artifacts
that and pathlib's parsing took 2 s of a 5 s re-apply. Inside `folders_resolved_once()`
each folder is resolved once and a file's own name is followed only when it is a link,
which gives the same answer as `Path.resolve`.

The folders are kept only for that block: a long-running server must see a folder link
that changed since the last request, or `api.artifact_roots` could be stepped around.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

_folders: ContextVar[dict[str, str] | None] = ContextVar("resolved_folders", default=None)


@contextmanager
def folders_resolved_once() -> Iterator[None]:
    """Within this block `real_path` resolves each folder once."""
    token = _folders.set({})
    try:
        yield
    finally:
        _folders.reset(token)


def real_path(path: str) -> str:
    """`str(Path(path).resolve())`, with its errors (ValueError for a NUL, RuntimeError
    for a link loop, OSError for a name too long)."""
    folders = _folders.get()
    folder, name = os.path.split(path)
    if folders is None or name in ("", ".", "..") or "\0" in path or os.path.islink(path):
        return str(Path(path).resolve())
    real_folder = folders.get(folder)
    if real_folder is None:
        real_folder = folders[folder] = str(Path(folder or ".").resolve())
    return os.path.join(real_folder, name)


def is_within(path: str, roots: Sequence[str]) -> bool:
    """`path` is one of `roots` or below one (all resolved): `Path.is_relative_to` on
    strings, without building a Path for each of thousands of checks."""
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)
