"""Each version records the Triton model name it compiles to, so registration can refuse a
second model id claiming a name another model has (squatting) without decoding every spec.

Existing rows are filled in from their stored specs: `triton.name` when the manifest
picked one, else `domain.name`.

Revision ID: 0010_triton_name
Revises: 0009_deployment_estimate
Create Date: 2026-12-02
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0010_triton_name"
down_revision = "0009_deployment_estimate"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("triton_name", sa.String(128), nullable=True))
        batch.create_index("ix_model_versions_triton_name", ["triton_name"])
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT model_versions.id, models.domain, models.name, model_versions.spec_json "
            "FROM model_versions JOIN models ON models.id = model_versions.model_id"
        )
    ).all()
    names = []
    for row_id, domain, name, spec_json in rows:
        try:
            override = (json.loads(spec_json).get("triton") or {}).get("name")
        except (ValueError, AttributeError):  # a damaged spec: `doctor` names it
            override = None
        chosen = override if isinstance(override, str) and override else f"{domain}.{name}"
        names.append({"row_id": row_id, "triton_name": chosen})
    if names:
        connection.execute(
            sa.text("UPDATE model_versions SET triton_name = :triton_name WHERE id = :row_id"),
            names,
        )


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_index("ix_model_versions_triton_name")
        batch.drop_column("triton_name")
