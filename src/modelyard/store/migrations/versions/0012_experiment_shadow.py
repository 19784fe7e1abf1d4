"""Shadow arms: the version an experiment copies a share of the model's requests to (its
answers go nowhere), and that share in percent. NULL for an experiment without one.

Revision ID: 0012_experiment_shadow
Revises: 0011_experiments
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_experiment_shadow"
down_revision = "0011_experiments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("shadow_version", sa.String(32), nullable=True))
        batch.add_column(sa.Column("shadow_percent", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("shadow_percent")
        batch.drop_column("shadow_version")
