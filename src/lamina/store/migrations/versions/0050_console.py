"""Saved test events of the console (per function, shared by every user of the server).

Revision ID: 0050
Revises: 0040
"""

import sqlalchemy as sa
from alembic import op

revision = "0050"
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "test_events",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(25), primary_key=True),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("last_modified", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("test_events")
