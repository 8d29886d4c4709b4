"""Functions, versions and logs.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "functions",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("last_version_number", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "versions",
        sa.Column("function_name", sa.String(64), sa.ForeignKey("functions.name", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("version", sa.String(16), primary_key=True),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("code_hex", sa.String(64), nullable=False),
        sa.Column("code_size", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "log_groups",
        sa.Column("name", sa.String(512), primary_key=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("retention_days", sa.Integer, nullable=True),
    )
    op.create_table(
        "log_streams",
        sa.Column("log_group", sa.String(512), primary_key=True),
        sa.Column("name", sa.String(512), primary_key=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("first_event_ms", sa.BigInteger, nullable=True),
        sa.Column("last_event_ms", sa.BigInteger, nullable=True),
        sa.Column("last_ingestion_ms", sa.BigInteger, nullable=True),
        sa.Column("stored_bytes", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "log_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("log_group", sa.String(512), nullable=False),
        sa.Column("log_stream", sa.String(512), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
        sa.Column("ingestion_ms", sa.BigInteger, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index("ix_log_events_group_time", "log_events", ["log_group", "timestamp_ms"])
    op.create_index("ix_log_events_stream", "log_events", ["log_group", "log_stream", "id"])


def downgrade() -> None:
    for table in ("log_events", "log_streams", "log_groups", "versions", "functions"):
        op.drop_table(table)
