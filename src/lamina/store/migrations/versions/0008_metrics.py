"""Per-minute invocation metrics and lifetime usage per function (cost).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_minutes",
        sa.Column("function", sa.String(64), primary_key=True),
        sa.Column("minute", sa.BigInteger, primary_key=True),
        sa.Column("invocations", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
        sa.Column("throttles", sa.BigInteger, nullable=False),
        sa.Column("duration_ms_sum", sa.Float, nullable=False),
        sa.Column("duration_ms_max", sa.Float, nullable=False),
        sa.Column("billed_ms_sum", sa.BigInteger, nullable=False),
        sa.Column("gb_seconds", sa.Float, nullable=False),
        sa.Column("gb_seconds_arm64", sa.Float, nullable=False),
        sa.Column("cold_starts", sa.BigInteger, nullable=False),
        sa.Column("init_ms_sum", sa.Float, nullable=False),
        sa.Column("async_dropped", sa.BigInteger, nullable=False),
        sa.Column("concurrency_max", sa.Integer, nullable=False),
    )
    op.create_index("ix_metric_minutes_minute", "metric_minutes", ["minute"])
    op.create_table(
        "metric_totals",
        sa.Column("function", sa.String(64), primary_key=True),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
        sa.Column("throttles", sa.BigInteger, nullable=False),
        sa.Column("billed_ms", sa.BigInteger, nullable=False),
        sa.Column("gb_seconds", sa.Float, nullable=False),
        sa.Column("gb_seconds_arm64", sa.Float, nullable=False),
        sa.Column("first_minute", sa.BigInteger, nullable=False),
        sa.Column("last_minute", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_index("ix_metric_minutes_minute", table_name="metric_minutes")
    op.drop_table("metric_totals")
    op.drop_table("metric_minutes")
