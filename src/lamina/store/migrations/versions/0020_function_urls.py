"""Function URL configs.

Revision ID: 0020
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "function_urls",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("url_id", sa.String(32), nullable=False, unique=True),
        sa.Column("auth_type", sa.String(16), nullable=False),
        sa.Column("cors", sa.JSON, nullable=True),
        sa.Column("invoke_mode", sa.String(16), nullable=True),
        sa.Column("creation_time", sa.String(32), nullable=False),
        sa.Column("last_modified_time", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("function_urls")
