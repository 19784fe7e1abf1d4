"""Parsed YAML manifests kept by content digest, so an unchanged file is not parsed again.

Reading YAML is most of what `apply` costs (10,000 models: about 17 s of 20 in PyYAML's
composer and resolver, measured with cProfile), and a folder applied again is mostly
unchanged. A file's text is looked up by its SHA-256; what is kept is what the YAML
reader gave: each document's data, its line, and the line of each dependency. Everything
after reading (validation, artifacts and their digests) runs again on every apply, and
a document that then has any problem is read from the YAML again, so every message keeps
its file, line and field exactly.

Only data that JSON gives back unchanged is kept (no dates, no non-text keys); a cache
file that cannot be read is a miss. Entries are never trusted for anything but speed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.catalog.cache_files import save_text

# Bump when what the YAML reader gives for the same text changes.
FORMAT = 1


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    data: Any
    line: int | None
    dependency_lines: tuple[int | None, ...]


class ParseCache:
    """Parsed documents under `folder`, one JSON file per file content. New entries are
    written by `flush`, which a caller runs once what it read was used (an apply that
    is refused, or a dry run, writes nothing)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._pending: dict[Path, str] = {}

    def _path(self, text: str) -> Path:
        digest = hashlib.sha256(f"{FORMAT}\0{text}".encode()).hexdigest()
        return self.folder / digest[:2] / f"{digest}.json"

    def has(self, text: str) -> bool:
        """An entry for `text` is kept (it may still turn out unreadable)."""
        return self._path(text).is_file()

    def get(self, text: str) -> list[ParsedDocument] | None:
        try:
            entries = json.loads(self._path(text).read_text(encoding="utf-8"))
            return [
                ParsedDocument(e["data"], e["line"], tuple(e["dependency_lines"])) for e in entries
            ]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, text: str, documents: list[ParsedDocument]) -> None:
        entries = [
            {"data": d.data, "line": d.line, "dependency_lines": list(d.dependency_lines)}
            for d in documents
        ]
        try:
            encoded = json.dumps(entries, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError):
            return  # a date, a set, a float that is not finite: not kept
        if json.loads(encoded) != entries:
            return  # e.g. an integer key, which JSON would turn into text
        self._pending[self._path(text)] = encoded

    def flush(self) -> None:
        """Write the entries `put` since the last flush."""
        pending, self._pending = self._pending, {}
        for path, encoded in pending.items():
            if not save_text(path, encoded):
                return  # a read-only workspace: apply works, just without the cache
