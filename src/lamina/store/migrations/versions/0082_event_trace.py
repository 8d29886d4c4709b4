"""Queued Event invokes keep the X-Ray trace they were accepted with (a caller's X-Amzn-Trace-Id
Root and sampling decision), so every attempt, retries included, continues the same trace.

Revision ID: 0082
Revises: 0081
"""

import sqlalchemy as sa
from alembic import op

revision = "0082"
down_revision = "0081"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queue_events") as batch:
        batch.add_column(sa.Column("trace", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("queue_events") as batch:
        batch.drop_column("trace")
