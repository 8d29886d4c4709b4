"""The metadata tables (SQLAlchemy Core). Alembic migrations in store/migrations create them.

Imports nothing from lamina.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

functions = sa.Table(
    "functions",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("tags", sa.JSON, nullable=False, default=dict),
    sa.Column("last_version_number", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.Float, nullable=False),
)

versions = sa.Table(
    "versions",
    metadata,
    sa.Column("function_name", sa.String(64), sa.ForeignKey("functions.name", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("version", sa.String(16), primary_key=True),
    sa.Column("number", sa.Integer, nullable=False),  # 0 for $LATEST
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("code_hex", sa.String(64), nullable=False),
    sa.Column("code_size", sa.BigInteger, nullable=False),
)

log_groups = sa.Table(
    "log_groups",
    metadata,
    sa.Column("name", sa.String(512), primary_key=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("retention_days", sa.Integer, nullable=True),
)

log_streams = sa.Table(
    "log_streams",
    metadata,
    sa.Column("log_group", sa.String(512), primary_key=True),
    sa.Column("name", sa.String(512), primary_key=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("first_event_ms", sa.BigInteger, nullable=True),
    sa.Column("last_event_ms", sa.BigInteger, nullable=True),
    sa.Column("last_ingestion_ms", sa.BigInteger, nullable=True),
    sa.Column("stored_bytes", sa.BigInteger, nullable=False, default=0),
)

log_events = sa.Table(
    "log_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("log_group", sa.String(512), nullable=False),
    sa.Column("log_stream", sa.String(512), nullable=False),
    sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
    sa.Column("ingestion_ms", sa.BigInteger, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Index("ix_log_events_group_time", "log_group", "timestamp_ms"),
    sa.Index("ix_log_events_stream", "log_group", "log_stream", "id"),
)

aliases = sa.Table(
    "aliases",
    metadata,
    sa.Column("function_name", sa.String(64), sa.ForeignKey("functions.name", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("function_version", sa.String(16), nullable=False),
    sa.Column("description", sa.String(256), nullable=False),
    sa.Column("weights", sa.JSON, nullable=False),  # AdditionalVersionWeights {version: weight}
    sa.Column("revision_id", sa.String(36), nullable=False),
)

layer_names = sa.Table(
    "layer_names",
    metadata,
    sa.Column("name", sa.String(140), primary_key=True),
    sa.Column("last_version", sa.Integer, nullable=False),  # version numbers are never reused
)

layer_versions = sa.Table(
    "layer_versions",
    metadata,
    sa.Column("name", sa.String(140), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("record", sa.JSON, nullable=False),
)
