"""Deployments record the estimate made when they start (ops/estimate.py), as JSON.

`modelyard history` shows it against the time the deployment took. Older records have
none.

Revision ID: 0009_deployment_estimate
Revises: 0008_version_status
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_deployment_estimate"
down_revision = "0008_version_status"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("estimate_json", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("estimate_json")
