"""Live measurements (perf, memory) per model version and target.

Revision ID: 0004_measurements
Revises: 0003_deployments
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_measurements"
down_revision = "0003_deployments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "measurements",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.String(130), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary_json", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_measurements"),
    )
    op.create_index("ix_measurements_model_target", "measurements", ["model_id", "target", "kind"])


def downgrade() -> None:
    op.drop_index("ix_measurements_model_target", table_name="measurements")
    op.drop_table("measurements")
