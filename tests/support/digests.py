"""Content digests as modelyard computed them before revision 0006, for migration tests."""

from __future__ import annotations

import hashlib
import json

from modelyard.catalog.spec import ModelSpec


def whole_spec_digest(spec: ModelSpec) -> str:
    """The old rule, written out independently of the code under test: the whole
    `model_dump`, defaults included, less `artifact`, with the canonical version."""
    data = spec.model_dump(mode="json")
    data.pop("artifact", None)
    data["version"] = spec.parsed_version.canonical
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
