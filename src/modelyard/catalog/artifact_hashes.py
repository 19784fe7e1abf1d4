"""Artifact digests kept by what the file system says of the file, so an unchanged
artifact is not read again.

Every compile and validate checks that each artifact is still the file registered (its
SHA-256): for real models, gigabytes read per command. As git does for its index, a
file's digest is kept with its device, inode, size, and modification and change times
in nanoseconds. Any write changes the change time (which no tool can set back), so a
file whose stat is the same still holds the same bytes; a file changed within
`RACY_S` of being hashed is not kept (the clock may not have moved between the write and
the read). Folders are read every time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from modelyard.catalog.cache_files import load_json_object, save_json_object

# Where a workspace keeps them (below its root).
HASHES_FILE = Path(".modelyard") / "cache" / "artifact-hashes.json"
RACY_S = 2.0
_MAX_ENTRIES = 200_000

Signature = list[int]


def _signature(path: Path) -> Signature | None:
    """What identifies a regular file's content without reading it; None for anything
    else (a folder, a missing file)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not path.is_file():
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


class ArtifactHashes:
    """Digests by absolute path and signature, in memory; `load` and `save` keep them."""

    def __init__(
        self, known: dict[str, tuple[Signature, str]] | None = None, racy_s: float = RACY_S
    ) -> None:
        self._known = dict(known or {})
        self._learnt = False
        self.racy_s = racy_s

    def digest(self, path: Path, compute: Callable[[Path], str]) -> str:
        """`path`'s digest: kept when its signature is unchanged, else `compute(path)`
        (whose errors pass through)."""
        key = str(path.absolute())
        before = _signature(path)
        kept = self._known.get(key)
        if before is not None and kept is not None and kept[0] == before:
            return kept[1]
        digest = compute(path)
        after = _signature(path)
        racy = after is None or max(after[3], after[4]) / 1e9 > time.time() - self.racy_s
        if before is not None and after == before and not racy:
            self._known[key] = (after, digest)
            self._learnt = True
        return digest

    @classmethod
    def load(cls, path: Path) -> ArtifactHashes:
        known: dict[str, tuple[Signature, str]] = {}
        for key, entry in load_json_object(path).items():
            if (
                isinstance(entry, list)
                and len(entry) == 2
                and isinstance(entry[1], str)
                and isinstance(entry[0], list)
                and all(isinstance(n, int) for n in entry[0])
            ):
                known[key] = (entry[0], entry[1])
        return cls(known)

    def save(self, path: Path) -> None:
        if self._learnt and save_json_object(
            path,
            {k: list(v) for k, v in self._known.items()}
            if len(self._known) <= _MAX_ENTRIES
            else {},
        ):
            self._learnt = False
