"""Code signing: signing profile versions, code signing configs, and which function uses which.

Revision ID: 0040
Revises: 0031
"""

import sqlalchemy as sa
from alembic import op

revision = "0040"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_profiles",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("version", sa.String(16), primary_key=True),
        sa.Column("doc", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "code_signing_configs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("doc", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "function_code_signing",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("csc_id", sa.String(32), nullable=False),
    )
    op.create_index("ix_function_code_signing_csc_id", "function_code_signing", ["csc_id"])


def downgrade() -> None:
    op.drop_index("ix_function_code_signing_csc_id", table_name="function_code_signing")
    op.drop_table("function_code_signing")
    op.drop_table("code_signing_configs")
    op.drop_table("signing_profiles")
