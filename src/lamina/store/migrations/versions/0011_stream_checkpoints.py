"""Stream checkpoints: where each shard of a Kinesis or DynamoDB Streams mapping resumes.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stream_checkpoints",
        sa.Column("mapping_uuid", sa.String(36), primary_key=True),
        sa.Column("shard_id", sa.String(256), primary_key=True),
        sa.Column("sequence_number", sa.String(128), nullable=True),
        sa.Column("position", sa.String(16), nullable=True),
        sa.Column("at_timestamp", sa.Float, nullable=True),
        sa.Column("finished", sa.Boolean, nullable=False),
        sa.Column("window", sa.JSON, nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stream_checkpoints")
