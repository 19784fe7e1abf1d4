"""Reading and writing the workspace's cache files: JSON objects written aside and
renamed, so a reader sees a whole file or none; a file that cannot be read is empty.

A cache is only ever trusted for speed: whatever it holds is checked or recomputed by
whoever would be hurt by a wrong entry (see each cache's module)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def load_json_object(path: Path) -> dict[str, Any]:
    """The JSON object at `path`; an empty one when it is missing, unreadable or not an
    object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_json_object(path: Path, data: dict[str, Any]) -> bool:
    """Write `data` to `path` atomically; False (nothing changed) when it cannot be
    written, e.g. in a read-only workspace."""
    try:
        encoded = json.dumps(data, separators=(",", ":"))
    except (TypeError, ValueError):
        return False
    return save_text(path, encoded)


def save_text(path: Path, text: str) -> bool:
    """Write `text` to `path` aside, then rename it over; False when it cannot be
    written (a partial file is never left)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=path.parent, suffix=".partial")
    except OSError:
        return False
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(partial, path)
    except OSError:
        Path(partial).unlink(missing_ok=True)
        return False
    return True
