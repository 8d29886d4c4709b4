"""Tags on code signing configs (CreateCodeSigningConfig's Tags, TagResource on the config's ARN).

Revision ID: 0085
Revises: 0084
"""

import sqlalchemy as sa
from alembic import op

revision = "0085"
down_revision = "0084"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # As 0083 for mappings: existing configs get no tags ({}), then the default is dropped, as
    # store/schema.py has none (lamina always writes the column; PostgreSQL cannot compare a JSON
    # default). SQLite adds the column in place, then makes the table anew without the default.
    with op.batch_alter_table("code_signing_configs") as batch:
        batch.add_column(sa.Column("tags", sa.JSON, nullable=False, server_default="{}"))
    with op.batch_alter_table("code_signing_configs") as batch:
        batch.alter_column("tags", existing_type=sa.JSON, existing_nullable=False, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("code_signing_configs") as batch:
        batch.drop_column("tags")
