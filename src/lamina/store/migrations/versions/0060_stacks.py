"""Deployed SAM stacks.

Revision ID: 0060
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0060"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stacks",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("updated", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stacks")
