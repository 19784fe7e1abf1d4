"""modelyard: the system of record and rollout engine for models on NVIDIA Triton.

The public Python API. Everything the CLI does goes through these names.
"""

from modelyard.catalog import (
    Dependency,
    ManifestDocument,
    ModelSpec,
    Resources,
    Sla,
    TensorSpec,
    Version,
    VersionConstraint,
    load_manifests,
    parse_manifest_text,
)
from modelyard.catalog.lifecycle import VersionStatus
from modelyard.catalog.ref import ModelRef
from modelyard.config import WorkspaceConfig
from modelyard.errors import (
    AliasConflict,
    CapacityError,
    Conflict,
    Forbidden,
    GatewayError,
    InputError,
    ModelsBlocked,
    ModelyardError,
    NotFound,
    Problem,
    RolloutFailed,
    Severity,
    StorageError,
    TritonError,
    Unauthenticated,
    ValidationFailed,
    VersionConflict,
    VersionYanked,
)
from modelyard.graph import CycleFound, DependencyGraph
from modelyard.perf import PerfOptions, PerfReport
from modelyard.placement import Fleet, Gpu, Server
from modelyard.planning import DeploymentPlan, plan_deployment
from modelyard.registry import ApplyResult, apply_documents
from modelyard.report.data import CatalogReport, build_report
from modelyard.selection import CatalogView, select
from modelyard.store import CatalogStore
from modelyard.validation import ValidationReport, validate_view
from modelyard.workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "AliasConflict",
    "ApplyResult",
    "CapacityError",
    "CatalogReport",
    "CatalogStore",
    "CatalogView",
    "Conflict",
    "CycleFound",
    "Dependency",
    "DependencyGraph",
    "DeploymentPlan",
    "Fleet",
    "Forbidden",
    "GatewayError",
    "Gpu",
    "InputError",
    "ManifestDocument",
    "ModelRef",
    "ModelSpec",
    "ModelsBlocked",
    "ModelyardError",
    "NotFound",
    "PerfOptions",
    "PerfReport",
    "Problem",
    "Resources",
    "RolloutFailed",
    "Server",
    "Severity",
    "Sla",
    "StorageError",
    "TensorSpec",
    "TritonError",
    "Unauthenticated",
    "ValidationFailed",
    "ValidationReport",
    "Version",
    "VersionConflict",
    "VersionConstraint",
    "VersionStatus",
    "VersionYanked",
    "Workspace",
    "WorkspaceConfig",
    "apply_documents",
    "build_report",
    "load_manifests",
    "parse_manifest_text",
    "plan_deployment",
    "select",
    "validate_view",
]
