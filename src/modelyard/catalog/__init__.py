"""Model specs, versions, constraints, naming rules and manifest loading (no SQL, no network)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard.lazy import lazy_exports

if TYPE_CHECKING:
    from modelyard.catalog.manifest import ManifestDocument, load_manifests, parse_manifest_text
    from modelyard.catalog.naming import check_name, model_id, split_model_id
    from modelyard.catalog.spec import Dependency, ModelSpec, Resources, Sla, TensorSpec
    from modelyard.catalog.version import Version, VersionConstraint

# Imported on first use (modelyard/lazy.py): `modelyard.catalog.lifecycle` and the naming
# rules are needed without the manifest loader's YAML and pydantic models.
_LAZY = {
    "ManifestDocument": "modelyard.catalog.manifest",
    "load_manifests": "modelyard.catalog.manifest",
    "parse_manifest_text": "modelyard.catalog.manifest",
    "check_name": "modelyard.catalog.naming",
    "model_id": "modelyard.catalog.naming",
    "split_model_id": "modelyard.catalog.naming",
    "Dependency": "modelyard.catalog.spec",
    "ModelSpec": "modelyard.catalog.spec",
    "Resources": "modelyard.catalog.spec",
    "Sla": "modelyard.catalog.spec",
    "TensorSpec": "modelyard.catalog.spec",
    "Version": "modelyard.catalog.version",
    "VersionConstraint": "modelyard.catalog.version",
}
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

__all__ = [
    "Dependency",
    "ManifestDocument",
    "ModelSpec",
    "Resources",
    "Sla",
    "TensorSpec",
    "Version",
    "VersionConstraint",
    "check_name",
    "load_manifests",
    "model_id",
    "parse_manifest_text",
    "split_model_id",
]
