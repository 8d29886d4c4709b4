"""EventBridge deliveries waiting for a retry or their dead-letter message.

Revision ID: 0071
Revises: 0060
"""

import sqlalchemy as sa
from alembic import op

revision = "0071"
down_revision = "0060"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("rule_arn", sa.String(1600), nullable=False),
        sa.Column("function_arn", sa.String(1600), nullable=False),
        sa.Column("target", sa.JSON, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("first_at", sa.Float, nullable=False),
        sa.Column("retries", sa.Integer, nullable=False),
        sa.Column("due_at", sa.Float, nullable=False),
        sa.Column("error_code", sa.String(64), nullable=False),
        sa.Column("error_message", sa.Text, nullable=False),
        sa.Column("final", sa.Boolean, nullable=False),
        sa.Column("condition", sa.String(32), nullable=True),
    )
    op.create_index("ix_event_deliveries_due", "event_deliveries", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_event_deliveries_due", "event_deliveries")
    op.drop_table("event_deliveries")
