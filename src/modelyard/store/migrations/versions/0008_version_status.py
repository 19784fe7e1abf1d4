"""Versions can be yanked (withdrawn: never chosen again) or deprecated (chosen, warned).

Four nullable columns on model_versions: the reason and the time of each mark. Existing
versions stay active (all four None).

Revision ID: 0008_version_status
Revises: 0007_deployment_holder
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_version_status"
down_revision = "0007_deployment_holder"
branch_labels = None
depends_on = None

_COLUMNS = ("yanked_reason", "yanked_at", "deprecated_reason", "deprecated_at")


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("yanked_reason", sa.Text, nullable=True))
        batch.add_column(sa.Column("yanked_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("deprecated_reason", sa.Text, nullable=True))
        batch.add_column(sa.Column("deprecated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        for column in reversed(_COLUMNS):
            batch.drop_column(column)
