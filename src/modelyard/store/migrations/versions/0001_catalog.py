"""The catalog: models, their versions, aliases.

Revision ID: 0001_catalog
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_catalog"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("domain", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_models"),
        sa.UniqueConstraint("domain", "name", name="uq_models_domain"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("version_major", sa.Integer, nullable=False),
        sa.Column("version_minor", sa.Integer, nullable=False),
        sa.Column("version_patch", sa.Integer, nullable=False),
        sa.Column("framework", sa.String(32), nullable=False),
        sa.Column("model_type", sa.String(64), nullable=False),
        sa.Column("owner_team", sa.String(64), nullable=False),
        sa.Column("dependencies", sa.Text, nullable=False),
        sa.Column("spec_json", sa.Text, nullable=False),
        sa.Column("content_digest", sa.String(64), nullable=False),
        sa.Column("source", sa.Text, nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            ondelete="RESTRICT",
            name="fk_model_versions_model_id_models",
        ),
        sa.UniqueConstraint(
            "model_id",
            "version_major",
            "version_minor",
            "version_patch",
            name="uq_model_versions_model_version",
        ),
    )
    op.create_index("ix_model_versions_owner_team", "model_versions", ["owner_team"])
    op.create_table(
        "aliases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_aliases"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], ondelete="RESTRICT", name="fk_aliases_model_id_models"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            ondelete="RESTRICT",
            name="fk_aliases_version_id_model_versions",
        ),
        sa.UniqueConstraint("model_id", "name", name="uq_aliases_model_name"),
    )


def downgrade() -> None:
    op.drop_table("aliases")
    op.drop_index("ix_model_versions_owner_team", table_name="model_versions")
    op.drop_table("model_versions")
    op.drop_table("models")
