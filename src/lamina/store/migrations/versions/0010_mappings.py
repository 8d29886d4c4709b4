"""Event source mappings.

Revision ID: 0010
Revises: 0060
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0060"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_source_mappings",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("qualifier", sa.String(128), nullable=True),
        sa.Column("event_source_arn", sa.String(1024), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_reason", sa.String(1024), nullable=False),
        sa.Column("last_processing_result", sa.String(1024), nullable=True),
        sa.Column("last_modified", sa.Float, nullable=False),
    )
    op.create_index("ix_event_source_mappings_function", "event_source_mappings", ["function_name"])
    op.create_index("ix_event_source_mappings_source", "event_source_mappings", ["event_source_arn"])


def downgrade() -> None:
    op.drop_index("ix_event_source_mappings_source", table_name="event_source_mappings")
    op.drop_index("ix_event_source_mappings_function", table_name="event_source_mappings")
    op.drop_table("event_source_mappings")
