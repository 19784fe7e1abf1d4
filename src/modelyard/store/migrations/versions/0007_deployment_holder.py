"""Deployments record their lease holder (the deployer process) apart from the actor.

The actor is who asked (an API token's name, `local:<user>`); the holder is the process
that held the target's lease (`user@host:pid/token`). Older records have no holder.

Revision ID: 0007_deployment_holder
Revises: 0006_explicit_content_digest
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_deployment_holder"
down_revision = "0006_explicit_content_digest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("holder", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("holder")
