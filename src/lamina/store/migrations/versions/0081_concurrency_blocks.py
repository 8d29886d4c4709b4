"""Cluster mode: concurrency blocks leased by front nodes (lamina.cluster.admission).

Revision ID: 0081
Revises: 0080
"""

import sqlalchemy as sa
from alembic import op

revision = "0081"
down_revision = "0080"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "concurrency_blocks",
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("pool", sa.String(64), primary_key=True),
        sa.Column("units", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_concurrency_blocks_expires_at", "concurrency_blocks", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_concurrency_blocks_expires_at", "concurrency_blocks")
    op.drop_table("concurrency_blocks")
