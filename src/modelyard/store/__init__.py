"""The catalog database (SQLAlchemy 2 + Alembic): specs in, specs out."""

from modelyard.store.store import (
    AliasRecord,
    CatalogStore,
    CatalogTransaction,
    StoredVersion,
    VersionSummary,
    head_revision,
)

__all__ = [
    "AliasRecord",
    "CatalogStore",
    "CatalogTransaction",
    "StoredVersion",
    "VersionSummary",
    "head_revision",
]
