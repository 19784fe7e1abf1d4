"""A/B outcomes keyed by the gateway's request id, and the looks taken at them.

Revision ID: 0013_experiment_outcomes
Revises: 0011_experiments
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_experiment_outcomes"
down_revision = "0012_experiment_shadow"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiment_outcomes",
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("experiment_id", sa.Integer, nullable=False),
        sa.Column("arm", sa.String(32), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name="pk_experiment_outcomes"),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name="fk_experiment_outcomes_experiment_id_experiments",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_experiment_outcomes_experiment", "experiment_outcomes", ["experiment_id"])
    op.create_table(
        "experiment_looks",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("experiment_id", sa.Integer, nullable=False),
        sa.Column("look", sa.Integer, nullable=False),
        sa.Column("fraction", sa.Float, nullable=False),
        sa.Column("alpha", sa.Float, nullable=False),
        sa.Column("figures_json", sa.Text, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_experiment_looks"),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name="fk_experiment_looks_experiment_id_experiments",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("experiment_id", "look", name="uq_experiment_looks_experiment_id"),
    )


def downgrade() -> None:
    op.drop_table("experiment_looks")
    op.drop_index("ix_experiment_outcomes_experiment", table_name="experiment_outcomes")
    op.drop_table("experiment_outcomes")
