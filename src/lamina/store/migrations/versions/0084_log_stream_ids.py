"""Log events name their stream by an integer id (log_streams.id) instead of its name.

Every invocation stores three or more events; each row carried the stream's name (~55 characters)
and the stream index keyed (group, stream name, id) on it. Now log_streams has an id (its primary
key; (log_group, name) stays unique) and log_events a stream_id, indexed (stream_id, id).
SQLite makes the two tables anew and copies the rows (it cannot change a primary key in place);
PostgreSQL alters them.

Revision ID: 0084
Revises: 0083
"""

import sqlalchemy as sa
from alembic import op

revision = "0084"
down_revision = "0083"
branch_labels = None
depends_on = None

_STREAM_COLUMNS = "log_group, name, created_ms, first_event_ms, last_event_ms, last_ingestion_ms, stored_bytes"


def _stream_counters() -> list[sa.Column]:
    return [sa.Column("created_ms", sa.BigInteger, nullable=False),
            sa.Column("first_event_ms", sa.BigInteger, nullable=True),
            sa.Column("last_event_ms", sa.BigInteger, nullable=True),
            sa.Column("last_ingestion_ms", sa.BigInteger, nullable=True),
            sa.Column("stored_bytes", sa.BigInteger, nullable=False)]


def _event_columns(stream: sa.Column) -> list[sa.Column]:
    return [sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("log_group", sa.String(512), nullable=False), stream,
            sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
            sa.Column("ingestion_ms", sa.BigInteger, nullable=False),
            sa.Column("message", sa.Text, nullable=False)]


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.create_table("log_streams_0084", sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                        sa.Column("log_group", sa.String(512), nullable=False),
                        sa.Column("name", sa.String(512), nullable=False), *_stream_counters(),
                        sa.UniqueConstraint("log_group", "name", name="uq_log_streams_group_name"))
        op.execute(f"INSERT INTO log_streams_0084 ({_STREAM_COLUMNS}) SELECT {_STREAM_COLUMNS} FROM log_streams "
                   "ORDER BY log_group, name")
        op.drop_table("log_streams")
        op.rename_table("log_streams_0084", "log_streams")
        op.create_table("log_events_0084", *_event_columns(sa.Column("stream_id", sa.BigInteger, nullable=False)))
        op.execute("INSERT INTO log_events_0084 (id, log_group, stream_id, timestamp_ms, ingestion_ms, message) "
                   "SELECT e.id, e.log_group, s.id, e.timestamp_ms, e.ingestion_ms, e.message FROM log_events e "
                   "JOIN log_streams s ON s.log_group = e.log_group AND s.name = e.log_stream")
        op.drop_table("log_events")
        op.rename_table("log_events_0084", "log_events")
        op.create_index("ix_log_events_group_time", "log_events", ["log_group", "timestamp_ms"])
    else:
        op.execute("ALTER TABLE log_streams ADD COLUMN id BIGSERIAL")
        op.execute("ALTER TABLE log_streams DROP CONSTRAINT log_streams_pkey")
        op.create_primary_key("log_streams_pkey", "log_streams", ["id"])
        op.create_unique_constraint("uq_log_streams_group_name", "log_streams", ["log_group", "name"])
        op.add_column("log_events", sa.Column("stream_id", sa.BigInteger, nullable=True))
        op.execute("UPDATE log_events e SET stream_id = s.id FROM log_streams s "
                   "WHERE s.log_group = e.log_group AND s.name = e.log_stream")
        op.execute("DELETE FROM log_events WHERE stream_id IS NULL")
        op.alter_column("log_events", "stream_id", nullable=False)
        op.drop_index("ix_log_events_stream", "log_events")
        op.drop_column("log_events", "log_stream")
    op.create_index("ix_log_events_stream", "log_events", ["stream_id", "id"])


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.create_table("log_events_0081", *_event_columns(sa.Column("log_stream", sa.String(512), nullable=False)))
        op.execute("INSERT INTO log_events_0081 (id, log_group, log_stream, timestamp_ms, ingestion_ms, message) "
                   "SELECT e.id, e.log_group, s.name, e.timestamp_ms, e.ingestion_ms, e.message FROM log_events e "
                   "JOIN log_streams s ON s.id = e.stream_id")
        op.drop_table("log_events")
        op.rename_table("log_events_0081", "log_events")
        op.create_table("log_streams_0081", sa.Column("log_group", sa.String(512), primary_key=True),
                        sa.Column("name", sa.String(512), primary_key=True), *_stream_counters())
        op.execute(f"INSERT INTO log_streams_0081 ({_STREAM_COLUMNS}) SELECT {_STREAM_COLUMNS} FROM log_streams")
        op.drop_table("log_streams")
        op.rename_table("log_streams_0081", "log_streams")
        op.create_index("ix_log_events_group_time", "log_events", ["log_group", "timestamp_ms"])
    else:
        op.add_column("log_events", sa.Column("log_stream", sa.String(512), nullable=True))
        op.execute("UPDATE log_events e SET log_stream = s.name FROM log_streams s WHERE s.id = e.stream_id")
        op.alter_column("log_events", "log_stream", nullable=False)
        op.drop_index("ix_log_events_stream", "log_events")
        op.drop_column("log_events", "stream_id")
        op.drop_constraint("uq_log_streams_group_name", "log_streams", type_="unique")
        op.execute("ALTER TABLE log_streams DROP CONSTRAINT log_streams_pkey")
        op.drop_column("log_streams", "id")
        op.create_primary_key("log_streams_pkey", "log_streams", ["log_group", "name"])
    op.create_index("ix_log_events_stream", "log_events", ["log_group", "log_stream", "id"])
