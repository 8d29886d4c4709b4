"""Tags on event source mappings (CreateEventSourceMapping's Tags, TagResource on the mapping's ARN).

Revision ID: 0083
Revises: 0082
"""

import sqlalchemy as sa
from alembic import op

revision = "0083"
down_revision = "0082"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing mappings get no tags ({}); the default is then dropped, as store/schema.py has none
    # (lamina always writes the column). Two steps: SQLite adds the column in place, then makes
    # the table anew without the default, copying the rows that now have it.
    with op.batch_alter_table("event_source_mappings") as batch:
        batch.add_column(sa.Column("tags", sa.JSON, nullable=False, server_default="{}"))
    with op.batch_alter_table("event_source_mappings") as batch:
        batch.alter_column("tags", existing_type=sa.JSON, existing_nullable=False, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("event_source_mappings") as batch:
        batch.drop_column("tags")
