"""modelyard: the system of record and rollout engine for models on NVIDIA Triton.

The public Python API. Everything the CLI does goes through these names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard.lazy import lazy_exports

if TYPE_CHECKING:
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
    from modelyard.client import Client
    from modelyard.config import WorkspaceConfig
    from modelyard.errors import (
        AliasConflict,
        CapacityError,
        Conflict,
        Forbidden,
        GatewayError,
        InputError,
        LocalOnly,
        ModelsBlocked,
        ModelyardError,
        NotFound,
        Problem,
        RegistryError,
        RolloutFailed,
        ServerUnreachable,
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

# Each public name is imported the first time it is used (modelyard/lazy.py).
_LAZY: dict[str, str] = {
    "AliasConflict": "modelyard.errors",
    "ApplyResult": "modelyard.registry",
    "CapacityError": "modelyard.errors",
    "CatalogReport": "modelyard.report.data",
    "CatalogStore": "modelyard.store",
    "CatalogView": "modelyard.selection",
    "Client": "modelyard.client",
    "Conflict": "modelyard.errors",
    "CycleFound": "modelyard.graph",
    "Dependency": "modelyard.catalog",
    "DependencyGraph": "modelyard.graph",
    "DeploymentPlan": "modelyard.planning",
    "Fleet": "modelyard.placement",
    "Forbidden": "modelyard.errors",
    "GatewayError": "modelyard.errors",
    "Gpu": "modelyard.placement",
    "InputError": "modelyard.errors",
    "LocalOnly": "modelyard.errors",
    "ManifestDocument": "modelyard.catalog",
    "ModelRef": "modelyard.catalog.ref",
    "ModelSpec": "modelyard.catalog",
    "ModelsBlocked": "modelyard.errors",
    "ModelyardError": "modelyard.errors",
    "NotFound": "modelyard.errors",
    "PerfOptions": "modelyard.perf",
    "PerfReport": "modelyard.perf",
    "Problem": "modelyard.errors",
    "RegistryError": "modelyard.errors",
    "Resources": "modelyard.catalog",
    "RolloutFailed": "modelyard.errors",
    "Server": "modelyard.placement",
    "ServerUnreachable": "modelyard.errors",
    "Severity": "modelyard.errors",
    "Sla": "modelyard.catalog",
    "StorageError": "modelyard.errors",
    "TensorSpec": "modelyard.catalog",
    "TritonError": "modelyard.errors",
    "Unauthenticated": "modelyard.errors",
    "ValidationFailed": "modelyard.errors",
    "ValidationReport": "modelyard.validation",
    "Version": "modelyard.catalog",
    "VersionConflict": "modelyard.errors",
    "VersionConstraint": "modelyard.catalog",
    "VersionStatus": "modelyard.catalog.lifecycle",
    "VersionYanked": "modelyard.errors",
    "Workspace": "modelyard.workspace",
    "WorkspaceConfig": "modelyard.config",
    "apply_documents": "modelyard.registry",
    "build_report": "modelyard.report.data",
    "load_manifests": "modelyard.catalog",
    "parse_manifest_text": "modelyard.catalog",
    "plan_deployment": "modelyard.planning",
    "select": "modelyard.selection",
    "validate_view": "modelyard.validation",
}
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

__version__ = "0.1.0"

__all__ = [
    "AliasConflict",
    "ApplyResult",
    "CapacityError",
    "CatalogReport",
    "CatalogStore",
    "CatalogView",
    "Client",
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
    "LocalOnly",
    "ManifestDocument",
    "ModelRef",
    "ModelSpec",
    "ModelsBlocked",
    "ModelyardError",
    "NotFound",
    "PerfOptions",
    "PerfReport",
    "Problem",
    "RegistryError",
    "Resources",
    "RolloutFailed",
    "Server",
    "ServerUnreachable",
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
