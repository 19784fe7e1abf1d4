"""Traffic experiments: the arms and weights the gateway routes a model's requests by.

Revision ID: 0011_experiments
Revises: 0010_triton_name
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_experiments"
down_revision = "0010_triton_name"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.String(130), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("running_key", sa.String(200), nullable=True),
        sa.Column("arms_json", sa.Text, nullable=False),
        sa.Column("sticky_header", sa.String(64), nullable=True),
        sa.Column("kept", sa.String(32), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_experiments"),
        sa.UniqueConstraint("running_key", name="uq_experiments_running_key"),
    )
    op.create_index("ix_experiments_target_model", "experiments", ["target", "model_id"])


def downgrade() -> None:
    op.drop_index("ix_experiments_target_model", table_name="experiments")
    op.drop_table("experiments")
