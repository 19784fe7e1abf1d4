"""Content digests cover only what the author wrote: defaults are left out.

Until now a version's digest hashed its whole spec, defaults included, so every new
optional field changed the identity of every registered version (and re-applying
unchanged manifests failed as a conflict). This recomputes each stored digest from the
stored spec under the rule of `ModelSpec.content_digest()`. Data only: the schema
stays as it was.

Revision ID: 0006_explicit_content_digest
Revises: 0005_access
Create Date: 2026-12-01
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

from modelyard.catalog.spec import ModelSpec, canonical_json, trusted_spec

revision = "0006_explicit_content_digest"
down_revision = "0005_access"
branch_labels = None
depends_on = None

# Rows read and updated at a time: bounded memory, few round trips.
BATCH_SIZE = 1000

_versions = sa.table(
    "model_versions",
    sa.column("id", sa.Integer),
    sa.column("spec_json", sa.Text),
    sa.column("content_digest", sa.String(64)),
)


def _whole_spec_digest(spec: ModelSpec) -> str:
    """The rule before this revision: the whole spec, defaults included."""
    data = spec.model_dump(mode="json", exclude={"artifact"})
    data["version"] = spec.parsed_version.canonical
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def _recompute(digest_of: Callable[[ModelSpec], str]) -> None:
    connection = op.get_bind()
    statement = (
        sa.update(_versions)
        .where(_versions.c.id == sa.bindparam("pk"))
        .values(content_digest=sa.bindparam("new_digest"))
    )
    last_id = None
    while True:
        query = sa.select(_versions.c.id, _versions.c.spec_json, _versions.c.content_digest)
        if last_id is not None:
            query = query.where(_versions.c.id > last_id)
        rows = connection.execute(query.order_by(_versions.c.id).limit(BATCH_SIZE)).all()
        if not rows:
            return
        last_id = rows[-1][0]
        changed: list[dict[str, Any]] = []
        for pk, spec_json, digest in rows:
            try:
                spec = trusted_spec(json.loads(spec_json))
                new_digest = digest_of(spec)
            except (ValueError, KeyError, TypeError):
                # A damaged spec keeps its digest: `modelyard doctor` reports it, and the
                # catalog still opens for that.
                continue
            if new_digest != digest:
                changed.append({"pk": pk, "new_digest": new_digest})
        if changed:
            connection.execute(statement, changed)


def upgrade() -> None:
    _recompute(ModelSpec.content_digest)


def downgrade() -> None:
    _recompute(_whole_spec_digest)
