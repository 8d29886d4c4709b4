"""Secrets every node of a cluster shares (the STS master key, the administrator's access key), kept in
the database when it is PostgreSQL; a single node on SQLite keeps them in files in its data dir.

Revision ID: 0080
Revises: 0072
"""

import sqlalchemy as sa
from alembic import op

revision = "0080"
down_revision = "0072"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shared_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("shared_secrets")
