"""The asynchronous event queue, event invoke configs and reserved concurrency.

Revision ID: 0005
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("qualifier", sa.String(128), nullable=True),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("enqueued_at", sa.Float, nullable=False),
        sa.Column("due_at", sa.Float, nullable=False),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("throttles", sa.Integer, nullable=False),
        sa.Column("lease_until", sa.Float, nullable=True),
    )
    op.create_index("ix_queue_events_due", "queue_events", ["due_at"])
    op.create_table(
        "event_invoke_configs",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("last_modified", sa.Float, nullable=False),
    )
    op.create_table(
        "function_concurrency",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("reserved", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("function_concurrency", "event_invoke_configs", "queue_events"):
        op.drop_table(table)
