"""What a compile learnt that the next one may reuse: configs found clean by Triton's
rules, and the tensors of ONNX files by their content.

A `compile` in which nothing changed still checks 10,000 configs against the rules and
parses every ONNX file for its inputs and outputs: at 10,000 models about 2 s of 8.
Both answers are functions of content alone (and `apply` learns them first, for the
versions it registers: it checks the same configs and reads the same files):

* the rules' verdict, of the config's deterministic binary form, its model name and the
  rules themselves: the key holds a digest of `rules.py`'s source, so a changed rule
  checks every config again. Only clean verdicts are kept (a config with issues is
  checked each time, so its messages are always today's);
* an ONNX file's tensors, of its registered SHA-256 (with the file name inside a folder
  and `max_batch_size`): used only after the artifact was verified to be that content.

Unlike the other caches, an entry here is believed, not checked: the memo lives in the
workspace's own state folder, beside the catalog, and only this code writes it. One
edited by hand to lie would give a config that Triton itself refuses or serves wrongly
at load, which deploy's readiness and smoke checks roll back. A missing, unreadable or
damaged memo only costs the work again.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from modelyard.catalog.cache_files import load_json_object, save_json_object
from modelyard.catalog.spec import TensorSpec
from modelyard.triton import rules

# Where a workspace keeps it (below its root).
MEMO_FILE = Path(".modelyard") / "cache" / "compile-memo.json"
_MAX_ENTRIES = 200_000  # beyond this, a memo that kept everything ever built is reset

Tensors = tuple[list[TensorSpec], list[TensorSpec]]


@functools.cache
def _rules_digest() -> str | None:
    try:
        return hashlib.sha256(Path(rules.__file__).read_bytes()).hexdigest()
    except OSError:  # no source to identify the rules by: nothing is reused
        return None


class CompileMemo:
    """In memory; `load` and `save` keep it in a file."""

    def __init__(self, clean: list[str] | None = None, tensors: dict[str, Any] | None = None):
        self._clean = set(clean or ())
        self._tensors = dict(tensors or {})
        self._learnt = False

    @staticmethod
    def _config_key(config_key: str, model_name: str) -> str | None:
        rules_digest = _rules_digest()
        if rules_digest is None:
            return None
        return hashlib.sha256(f"{rules_digest}\0{model_name}\0{config_key}".encode()).hexdigest()

    def is_clean(self, config_key: str, model_name: str) -> bool:
        """The rules found nothing in this config (`binary_key` of it) under this name."""
        key = self._config_key(config_key, model_name)
        return key is not None and key in self._clean

    def learn_clean(self, config_key: str, model_name: str) -> None:
        key = self._config_key(config_key, model_name)
        if key is not None and key not in self._clean:
            self._clean.add(key)
            self._learnt = True

    @staticmethod
    def _tensors_key(sha256: str, file_name: str, max_batch_size: int) -> str:
        return f"{sha256}\0{file_name}\0{max_batch_size}"

    def tensors(self, sha256: str, file_name: str, max_batch_size: int) -> Tensors | None:
        """The tensors of the verified artifact with this content, if known."""
        kept = self._tensors.get(self._tensors_key(sha256, file_name, max_batch_size))
        if kept is None:
            return None
        try:
            inputs, outputs = kept
            return (
                [TensorSpec.model_validate(t) for t in inputs],
                [TensorSpec.model_validate(t) for t in outputs],
            )
        except (TypeError, ValueError):  # a damaged entry: read the file again
            return None

    def learn_tensors(
        self, sha256: str, file_name: str, max_batch_size: int, tensors: Tensors
    ) -> None:
        key = self._tensors_key(sha256, file_name, max_batch_size)
        if key not in self._tensors:
            self._tensors[key] = [
                [t.model_dump(mode="json", exclude_defaults=True) for t in side] for side in tensors
            ]
            self._learnt = True

    @classmethod
    def load(cls, path: Path) -> CompileMemo:
        data = load_json_object(path)
        clean = data.get("clean")
        tensors = data.get("tensors")
        return cls(
            [k for k in clean if isinstance(k, str)] if isinstance(clean, list) else None,
            tensors if isinstance(tensors, dict) else None,
        )

    def save(self, path: Path) -> None:
        """Write the memo to `path` if anything was learnt (see catalog/cache_files.py)."""
        if not self._learnt:
            return
        whole = len(self._clean) + len(self._tensors) <= _MAX_ENTRIES
        data = {"clean": sorted(self._clean), "tensors": self._tensors} if whole else {}
        if save_json_object(path, data):
            self._learnt = False
