"""Per-function backlog figures in the metric minutes: async queue depth and oldest event age, and the
stream mappings' iterator age (each the largest sample of the minute).

Revision ID: 0072
Revises: 0071
"""

import sqlalchemy as sa
from alembic import op

revision = "0072"
down_revision = "0071"
branch_labels = None
depends_on = None

COLUMNS = (("async_depth_max", sa.BigInteger), ("async_age_ms_max", sa.Float), ("iterator_age_ms_max", sa.Float))


def upgrade() -> None:
    with op.batch_alter_table("metric_minutes") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("metric_minutes") as batch:
        for name, _ in COLUMNS:
            batch.drop_column(name)
