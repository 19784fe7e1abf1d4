"""Stepwise canary rollouts and their events (weights, analyses, decisions).

Revision ID: 0014_canary_rollouts
Revises: 0013_experiment_outcomes
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_canary_rollouts"
down_revision = "0013_experiment_outcomes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "canary_rollouts",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("model_id", sa.String(130), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("experiment_id", sa.Integer, nullable=True),
        sa.Column("baseline", sa.String(32), nullable=False),
        sa.Column("candidate", sa.String(32), nullable=False),
        sa.Column("steps_json", sa.Text, nullable=False),
        sa.Column("interval_s", sa.Float, nullable=False),
        sa.Column("settings_json", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("weight", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_canary_rollouts"),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name="fk_canary_rollouts_experiment_id_experiments",
        ),
    )
    op.create_index("ix_canary_rollouts_target_model", "canary_rollouts", ["target", "model_id"])
    op.create_table(
        "canary_events",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("rollout_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("weight", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("figures_json", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_canary_events"),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["canary_rollouts.id"],
            name="fk_canary_events_rollout_id_canary_rollouts",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_canary_events_rollout", "canary_events", ["rollout_id"])


def downgrade() -> None:
    op.drop_index("ix_canary_events_rollout", table_name="canary_events")
    op.drop_table("canary_events")
    op.drop_index("ix_canary_rollouts_target_model", table_name="canary_rollouts")
    op.drop_table("canary_rollouts")
