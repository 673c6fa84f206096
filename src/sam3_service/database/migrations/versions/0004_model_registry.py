"""The model hub's registry: model versions, their events, and the routing table (one row).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("source_kind", sa.String(8), nullable=False),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("revision", sa.String(64)),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("dtype", sa.String(16), nullable=False),
        sa.Column("device", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("promoted_at", sa.DateTime(timezone=True)),
        sa.Column("promoted_by", sa.String(255)),
    )
    op.create_table(
        "model_events",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("version", sa.String(64)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(1024), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_model_events_version_at", "model_events", ["version", "at"])
    op.create_index("ix_model_events_at", "model_events", ["at"])
    op.create_table(
        "model_routing",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("stable", sa.String(64)),
        sa.Column("canary", sa.String(64)),
        sa.Column("canary_percent", sa.Float, nullable=False),
        sa.Column("split", JSON, nullable=False),
        sa.Column("shadow", sa.String(64)),
        sa.Column("shadow_percent", sa.Float, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.Column("updated_by", sa.String(255)),
    )


def downgrade() -> None:
    op.drop_table("model_routing")
    op.drop_index("ix_model_events_at", table_name="model_events")
    op.drop_index("ix_model_events_version_at", table_name="model_events")
    op.drop_table("model_events")
    op.drop_table("model_versions")
