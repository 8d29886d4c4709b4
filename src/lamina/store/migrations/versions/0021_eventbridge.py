"""EventBridge: custom event buses, rules (with their schedule clock state) and targets.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_buses",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "event_rules",
        sa.Column("bus", sa.String(256), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("schedule_anchor", sa.BigInteger, nullable=True),
        sa.Column("last_fired", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "event_targets",
        sa.Column("bus", sa.String(256), primary_key=True),
        sa.Column("rule", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("arn", sa.String(1600), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_event_targets_arn", "event_targets", ["arn"])


def downgrade() -> None:
    op.drop_index("ix_event_targets_arn", "event_targets")
    op.drop_table("event_targets")
    op.drop_table("event_rules")
    op.drop_table("event_buses")
