"""Scope ids per owner: a task's `client_id` (unique per owner), who uploaded which image, and
share link records (deleted by their owner, dead once the key that made them is revoked).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_IMAGES = "images/"


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("client_id", sa.String(64)))
    op.create_index("ux_tasks_owner_client_id", "tasks", ["owner", "client_id"], unique=True)
    op.create_table(
        "uploads",
        sa.Column("owner", sa.String(255), primary_key=True),
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    # The images of existing tasks stay reachable by their owners.
    op.execute(
        sa.text(
            "INSERT INTO uploads (owner, sha256, created_at) "
            "SELECT owner, substr(input_key, :start), min(created_at) FROM tasks "
            "WHERE kind = 'image' AND input_key LIKE :prefix "
            "GROUP BY owner, substr(input_key, :start)"
        ).bindparams(start=len(_IMAGES) + 1, prefix=_IMAGES + "%")
    )
    op.create_table(
        "shares",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("key_id", sa.String(32)),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_shares_task_id", "shares", ["task_id"])


def downgrade() -> None:
    op.drop_index("ix_shares_task_id", table_name="shares")
    op.drop_table("shares")
    op.drop_table("uploads")
    op.drop_index("ux_tasks_owner_client_id", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("client_id")
