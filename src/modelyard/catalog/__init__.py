"""Model specs, versions, constraints, naming rules and manifest loading (no SQL, no network)."""

from modelyard.catalog.manifest import ManifestDocument, load_manifests, parse_manifest_text
from modelyard.catalog.naming import check_name, model_id, split_model_id
from modelyard.catalog.spec import Dependency, ModelSpec, Resources, Sla, TensorSpec
from modelyard.catalog.version import Version, VersionConstraint

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
