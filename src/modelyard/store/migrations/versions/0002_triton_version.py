"""Stable integer Triton version per catalog version.

Triton's version folders are integers; catalog versions are MAJOR.MINOR[.PATCH]. Each
registered version gets the next integer of its model, once, so the same catalog
version always compiles to the same folder.

Revision ID: 0002_triton_version
Revises: 0001_catalog
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_triton_version"
down_revision = "0001_catalog"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("triton_version", sa.Integer, nullable=True))
    # Number existing versions per model in registration order (then semantic order).
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT id, model_id FROM model_versions "
            "ORDER BY model_id, registered_at, version_major, version_minor, version_patch, id"
        )
    ).all()
    counters: dict[int, int] = {}
    for version_id, model_id in rows:
        counters[model_id] = counters.get(model_id, 0) + 1
        connection.execute(
            sa.text("UPDATE model_versions SET triton_version = :n WHERE id = :id"),
            {"n": counters[model_id], "id": version_id},
        )
    with op.batch_alter_table("model_versions") as batch:
        batch.alter_column("triton_version", existing_type=sa.Integer, nullable=False)
        batch.create_unique_constraint(
            "uq_model_versions_triton_version", ["model_id", "triton_version"]
        )


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_constraint("uq_model_versions_triton_version", type_="unique")
        batch.drop_column("triton_version")
