"""IAM roles, users, customer managed policies and access keys.

Revision ID: 0030
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "iam_entities",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(2048), primary_key=True),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "iam_access_keys",
        sa.Column("access_key_id", sa.String(32), primary_key=True),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_iam_access_keys_user_name", "iam_access_keys", ["user_name"])


def downgrade() -> None:
    op.drop_index("ix_iam_access_keys_user_name", "iam_access_keys")
    op.drop_table("iam_access_keys")
    op.drop_table("iam_entities")
