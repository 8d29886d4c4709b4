"""Resource-based policies of functions (per qualifier) and layer versions.

Revision ID: 0031
Revises: 0030
"""

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resource_policies",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(140), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("statements", sa.JSON, nullable=False),
        sa.Column("revision_id", sa.String(36), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("resource_policies")
