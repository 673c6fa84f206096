"""The tables of the service's database (SQLite or PostgreSQL); Alembic's migrations build them."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware datetimes, stored as UTC (SQLite keeps no offset, so we add it back when reading)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")

metadata = sa.MetaData()

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("input_key", sa.String(1024), nullable=False),
    sa.Column("params", _JSON, nullable=False),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("client_id", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("progress", sa.Float, nullable=False),
    sa.Column("model_version", sa.String(255)),
    sa.Column("result_key", sa.String(1024)),
    sa.Column("error", _JSON),
    sa.Column("timings_ms", _JSON, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("started_at", UtcDateTime),
    sa.Column("finished_at", UtcDateTime),
    sa.Index("ix_tasks_owner_created_at", "owner", "created_at"),
    sa.Index("ux_tasks_owner_client_id", "owner", "client_id", unique=True),
)

# Who uploaded which image: an `image_id` reaches only its uploaders' images.
uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("owner", sa.String(255), primary_key=True),
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

shares = sa.Table(
    "shares",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("task_id", sa.String(64), nullable=False),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("key_id", sa.String(32)),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_shares_task_id", "task_id"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("rate_per_min", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime),
    sa.Index("ux_api_keys_key_hash", "key_hash", unique=True),
)

# The model hub: versions of the model, what happened to them, and which serve whom.
model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("source_kind", sa.String(8), nullable=False),
    sa.Column("source", sa.String(1024), nullable=False),
    sa.Column("revision", sa.String(64)),
    sa.Column("checksum", sa.String(64), nullable=False),
    sa.Column("dtype", sa.String(16), nullable=False),
    sa.Column("device", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("promoted_at", UtcDateTime),
    sa.Column("promoted_by", sa.String(255)),
)

model_events = sa.Table(
    "model_events",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("version", sa.String(64)),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(1024), nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index("ix_model_events_version_at", "version", "at"),
    sa.Index("ix_model_events_at", "at"),
)

# One row (id 1): the stable version, a canary, an A/B split and a shadow.
model_routing = sa.Table(
    "model_routing",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("stable", sa.String(64)),
    sa.Column("canary", sa.String(64)),
    sa.Column("canary_percent", sa.Float, nullable=False),
    sa.Column("split", _JSON, nullable=False),  # [[version, weight], ...]
    sa.Column("shadow", sa.String(64)),
    sa.Column("shadow_percent", sa.Float, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("updated_at", UtcDateTime),
    sa.Column("updated_by", sa.String(255)),
)
