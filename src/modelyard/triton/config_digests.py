"""The SHA-256 of a config's text, known from its binary form without printing it.

Printing a ModelConfig as text (protobuf's text format, pure Python) takes about 0.25 ms
a model: 2.5 s for 10,000, most of a `compile` in which nothing changed, whose only
question is whether each file's digest is the one already published. The binary form
(`SerializeToString(deterministic=True)`, in C) takes 3 µs, and the text is a function of
it for one protobuf version, so a digest learnt once is looked up after that. A config
whose text is written or shown is still printed; an entry is never trusted for more than
the digest it names.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from google.protobuf import __version__ as PROTOBUF_VERSION

from modelyard.catalog.cache_files import load_json_object, save_json_object

# Bump when to_pbtxt prints the same config differently.
FORMAT = 1
_MAX_ENTRIES = 200_000  # beyond this, a cache that kept every config ever built is reset


def binary_key(blob: bytes) -> str:
    """What identifies a config's text: its deterministic binary form `blob`, with the
    protobuf version and this cache's format (either would print differently)."""
    return hashlib.sha256(f"{FORMAT}\0{PROTOBUF_VERSION}\0".encode() + blob).hexdigest()


class ConfigDigests:
    """Text digests by binary key, in memory; `load` and `save` keep them in a file."""

    def __init__(self, known: dict[str, str] | None = None) -> None:
        self._known = dict(known or {})
        self._learnt = False

    def get(self, key: str) -> str | None:
        return self._known.get(key)

    def learn(self, key: str, digest: str) -> None:
        if self._known.get(key) != digest:
            self._known[key] = digest
            self._learnt = True

    @property
    def changed(self) -> bool:
        return self._learnt

    @classmethod
    def load(cls, path: Path) -> ConfigDigests:
        """The digests kept at `path`; none if it is missing or unreadable (a miss only
        costs printing the config again)."""
        known = load_json_object(path)
        return cls({k: v for k, v in known.items() if isinstance(v, str)})

    def save(self, path: Path) -> None:
        """Write the digests to `path` if any was learnt (see catalog/cache_files.py)."""
        if self._learnt and save_json_object(
            path, self._known if len(self._known) <= _MAX_ENTRIES else {}
        ):
            self._learnt = False
