"""The metadata tables (SQLAlchemy Core). Alembic migrations in store/migrations create them.

Imports nothing from lamina.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

metadata = sa.MetaData()


# The same columns mean the same on SQLite and PostgreSQL. SQLite never enforces a String's length,
# compares and orders text byte by byte, and keeps every INTEGER in 64 bits; so on PostgreSQL (in
# the DDL the migrations emit) a String column is VARCHAR without a length in the "C" collation
# (byte order, as SQLite's BINARY), and an Integer column is BIGINT.
@compiles(sa.String, "postgresql")
def _postgresql_string(type_, compiler, **kw) -> str:
    if isinstance(kw.get("type_expression"), sa.Column):
        return 'VARCHAR COLLATE "C"'
    return "VARCHAR"


@compiles(sa.Integer, "postgresql")
def _postgresql_integer(type_, compiler, **kw) -> str:
    return "BIGINT"


# A row id that counts up by itself: SQLite's INTEGER PRIMARY KEY (its rowid), PostgreSQL's BIGSERIAL.
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# What an integer column holds (SQLite and PostgreSQL BIGINT alike): a value outside it can never be
# stored, and handing one to the driver raises OverflowError, so queries answer for such values without asking.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def fits(n: int) -> bool:
    """Whether `n` can be stored in (or compared against) an integer column."""
    return INT64_MIN <= n <= INT64_MAX

functions = sa.Table(
    "functions",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("tags", sa.JSON, nullable=False, default=dict),
    sa.Column("last_version_number", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.Float, nullable=False),
)

versions = sa.Table(
    "versions",
    metadata,
    sa.Column("function_name", sa.String(64), sa.ForeignKey("functions.name", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("version", sa.String(16), primary_key=True),
    sa.Column("number", sa.Integer, nullable=False),  # 0 for $LATEST
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("code_hex", sa.String(64), nullable=False),
    sa.Column("code_size", sa.BigInteger, nullable=False),
)

log_groups = sa.Table(
    "log_groups",
    metadata,
    sa.Column("name", sa.String(512), primary_key=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("retention_days", sa.Integer, nullable=True),
)

log_streams = sa.Table(
    "log_streams",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),  # what log_events.stream_id names
    sa.Column("log_group", sa.String(512), nullable=False),
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("first_event_ms", sa.BigInteger, nullable=True),
    sa.Column("last_event_ms", sa.BigInteger, nullable=True),
    sa.Column("last_ingestion_ms", sa.BigInteger, nullable=True),
    sa.Column("stored_bytes", sa.BigInteger, nullable=False, default=0),
    sa.UniqueConstraint("log_group", "name", name="uq_log_streams_group_name"),
)

log_events = sa.Table(
    "log_events",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("log_group", sa.String(512), nullable=False),
    # The stream's log_streams.id, not its name: the name (~55 characters) in every row and in the
    # stream index cost the hot write of every invocation's lines (migration 0084).
    sa.Column("stream_id", sa.BigInteger, nullable=False),
    sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
    sa.Column("ingestion_ms", sa.BigInteger, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Index("ix_log_events_group_time", "log_group", "timestamp_ms"),
    sa.Index("ix_log_events_stream", "stream_id", "id"),
)

aliases = sa.Table(
    "aliases",
    metadata,
    sa.Column("function_name", sa.String(64), sa.ForeignKey("functions.name", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("function_version", sa.String(16), nullable=False),
    sa.Column("description", sa.String(256), nullable=False),
    sa.Column("weights", sa.JSON, nullable=False),  # AdditionalVersionWeights {version: weight}
    sa.Column("revision_id", sa.String(36), nullable=False),
)

layer_names = sa.Table(
    "layer_names",
    metadata,
    sa.Column("name", sa.String(140), primary_key=True),
    sa.Column("last_version", sa.Integer, nullable=False),  # version numbers are never reused
)

layer_versions = sa.Table(
    "layer_versions",
    metadata,
    sa.Column("name", sa.String(140), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("record", sa.JSON, nullable=False),
)

queue_events = sa.Table(
    "queue_events",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(36), nullable=False),
    sa.Column("function_name", sa.String(64), nullable=False),
    sa.Column("qualifier", sa.String(128), nullable=True),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("enqueued_at", sa.Float, nullable=False),
    sa.Column("due_at", sa.Float, nullable=False),
    sa.Column("runs", sa.Integer, nullable=False, default=0),
    sa.Column("throttles", sa.Integer, nullable=False, default=0),
    sa.Column("lease_until", sa.Float, nullable=True),  # held by a worker until then (None: not leased)
    # the X-Ray trace it was accepted with, without a Parent (lamina.telemetry.tracing.queued_trace)
    sa.Column("trace", sa.String(64), nullable=True),
    sa.Index("ix_queue_events_due", "due_at"),
)

event_invoke_configs = sa.Table(
    "event_invoke_configs",
    metadata,
    sa.Column("function_name", sa.String(64), primary_key=True),
    sa.Column("qualifier", sa.String(128), primary_key=True),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("last_modified", sa.Float, nullable=False),
)

function_concurrency = sa.Table(
    "function_concurrency",
    metadata,
    sa.Column("function_name", sa.String(64), primary_key=True),
    sa.Column("reserved", sa.Integer, nullable=False),
)

provisioned_configs = sa.Table(
    "provisioned_configs",
    metadata,
    sa.Column("function_name", sa.String(64), primary_key=True),
    sa.Column("qualifier", sa.String(128), primary_key=True),
    sa.Column("requested", sa.Integer, nullable=False),
    sa.Column("last_modified", sa.String(32), nullable=False),
)

# Function URL configs, one per (function, qualifier); `url_id` is the URL's host label.
function_urls = sa.Table(
    "function_urls",
    metadata,
    sa.Column("function_name", sa.String(64), primary_key=True),
    sa.Column("qualifier", sa.String(128), primary_key=True),
    sa.Column("url_id", sa.String(32), nullable=False, unique=True),
    sa.Column("auth_type", sa.String(16), nullable=False),
    sa.Column("cors", sa.JSON, nullable=True),
    sa.Column("invoke_mode", sa.String(16), nullable=True),
    sa.Column("creation_time", sa.String(32), nullable=False),
    sa.Column("last_modified_time", sa.String(32), nullable=False),
)

# Per-minute invocation metrics per function (and "ALL"); `minute` is the epoch second that starts it.
metric_minutes = sa.Table(
    "metric_minutes",
    metadata,
    sa.Column("function", sa.String(64), primary_key=True),
    sa.Column("minute", sa.BigInteger, primary_key=True),
    sa.Column("invocations", sa.BigInteger, nullable=False, default=0),
    sa.Column("errors", sa.BigInteger, nullable=False, default=0),
    sa.Column("throttles", sa.BigInteger, nullable=False, default=0),
    sa.Column("duration_ms_sum", sa.Float, nullable=False, default=0.0),
    sa.Column("duration_ms_max", sa.Float, nullable=False, default=0.0),
    sa.Column("billed_ms_sum", sa.BigInteger, nullable=False, default=0),
    sa.Column("gb_seconds", sa.Float, nullable=False, default=0.0),
    sa.Column("gb_seconds_arm64", sa.Float, nullable=False, default=0.0),
    sa.Column("cold_starts", sa.BigInteger, nullable=False, default=0),
    sa.Column("init_ms_sum", sa.Float, nullable=False, default=0.0),
    sa.Column("async_dropped", sa.BigInteger, nullable=False, default=0),
    sa.Column("concurrency_max", sa.Integer, nullable=False, default=0),
    # The largest sample of the minute: async events held and the oldest one's age, stream iterator age.
    sa.Column("async_depth_max", sa.BigInteger, nullable=False, default=0, server_default="0"),
    sa.Column("async_age_ms_max", sa.Float, nullable=False, default=0.0, server_default="0"),
    sa.Column("iterator_age_ms_max", sa.Float, nullable=False, default=0.0, server_default="0"),
    sa.Index("ix_metric_minutes_minute", "minute"),
)

# Lifetime usage per function for the cost report; never expired with the minutes.
metric_totals = sa.Table(
    "metric_totals",
    metadata,
    sa.Column("function", sa.String(64), primary_key=True),
    sa.Column("requests", sa.BigInteger, nullable=False, default=0),
    sa.Column("errors", sa.BigInteger, nullable=False, default=0),
    sa.Column("throttles", sa.BigInteger, nullable=False, default=0),
    sa.Column("billed_ms", sa.BigInteger, nullable=False, default=0),
    sa.Column("gb_seconds", sa.Float, nullable=False, default=0.0),
    sa.Column("gb_seconds_arm64", sa.Float, nullable=False, default=0.0),
    sa.Column("first_minute", sa.BigInteger, nullable=False),
    sa.Column("last_minute", sa.BigInteger, nullable=False),
)

# Deployed SAM stacks (lamina deploy): the whole state document per stack, written after every step.
stacks = sa.Table(
    "stacks",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("updated", sa.String(32), nullable=False),
)

# EventBridge (lamina.control.rules): custom event buses (the default bus is implicit), rules and their
# targets. A scheduled rule keeps its clock state here: the minute its rate counts from and the last
# minute it fired, so a restart neither fires a minute twice nor forgets where a rate stood.
event_buses = sa.Table(
    "event_buses",
    metadata,
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("config", sa.JSON, nullable=False),  # Description, ... as given to CreateEventBus
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

event_rules = sa.Table(
    "event_rules",
    metadata,
    sa.Column("bus", sa.String(256), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("config", sa.JSON, nullable=False),  # State, ScheduleExpression, EventPattern, Description, RoleArn
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("schedule_anchor", sa.BigInteger, nullable=True),  # minute a rate counts from
    sa.Column("last_fired", sa.BigInteger, nullable=True),  # last scheduled minute fired (or skipped)
)

event_targets = sa.Table(
    "event_targets",
    metadata,
    sa.Column("bus", sa.String(256), primary_key=True),
    sa.Column("rule", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("arn", sa.String(1600), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),  # the Target as given (Id, Arn, Input, ...)
    sa.Column("position", sa.Integer, nullable=False),
    sa.Index("ix_event_targets_arn", "arn"),
)

# EventBridge deliveries that failed (lamina.rule_targets): each waits here, durably, for its next
# retry (`due_at`) or, once given up (`condition` set, or `final` for errors that are not retried),
# for its dead-letter message. `target` is the Target as stored (RetryPolicy, DeadLetterConfig).
event_deliveries = sa.Table(
    "event_deliveries",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("rule_arn", sa.String(1600), nullable=False),
    sa.Column("function_arn", sa.String(1600), nullable=False),
    sa.Column("target", sa.JSON, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("first_at", sa.Float, nullable=False),
    sa.Column("retries", sa.Integer, nullable=False),
    sa.Column("due_at", sa.Float, nullable=False),
    sa.Column("error_code", sa.String(64), nullable=False),
    sa.Column("error_message", sa.Text, nullable=False),
    sa.Column("final", sa.Boolean, nullable=False),  # given up: send to the dead-letter queue when due
    sa.Column("condition", sa.String(32), nullable=True),  # EXHAUSTED_RETRY_CONDITION of a final one
    sa.Index("ix_event_deliveries_due", "due_at"),
)

# IAM entities (roles, users, customer managed policies), each one JSON document keyed by kind and
# name (a policy by its ARN): they are few and read whole.
iam_entities = sa.Table(
    "iam_entities",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),  # role | user | policy
    sa.Column("name", sa.String(2048), primary_key=True),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

iam_access_keys = sa.Table(
    "iam_access_keys",
    metadata,
    sa.Column("access_key_id", sa.String(32), primary_key=True),
    sa.Column("user_name", sa.String(64), nullable=False, index=True),
    sa.Column("secret", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

# Resource-based policies: a function's (per qualifier; "" for the unqualified function) and a layer
# version's ("layer", name, version). `statements` is the list AddPermission built, in order.
resource_policies = sa.Table(
    "resource_policies",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),  # "function" | "layer"
    sa.Column("name", sa.String(140), primary_key=True),
    sa.Column("qualifier", sa.String(128), primary_key=True),
    sa.Column("statements", sa.JSON, nullable=False),
    sa.Column("revision_id", sa.String(36), nullable=False),
)

# Event source mappings; `config` holds the AWS members (BatchSize, FilterCriteria, ...) with defaults filled.
event_source_mappings = sa.Table(
    "event_source_mappings",
    metadata,
    sa.Column("uuid", sa.String(36), primary_key=True),
    sa.Column("function_name", sa.String(64), nullable=False),
    sa.Column("qualifier", sa.String(128), nullable=True),
    sa.Column("event_source_arn", sa.String(1024), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("state_reason", sa.String(1024), nullable=False),
    sa.Column("last_processing_result", sa.String(1024), nullable=True),
    sa.Column("last_modified", sa.Float, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False, default=dict),
    sa.Index("ix_event_source_mappings_function", "function_name"),
    sa.Index("ix_event_source_mappings_source", "event_source_arn"),
)

# Where each shard of a stream mapping resumes: after `sequence_number` (the last record delivered
# or given up), else at `position` (TRIM_HORIZON / LATEST / AT_TIMESTAMP with `at_timestamp`), the
# starting position fixed when the mapping first saw the shard; `finished` once a closed shard was
# read to its end; `window` the open tumbling window (start and state).
stream_checkpoints = sa.Table(
    "stream_checkpoints",
    metadata,
    sa.Column("mapping_uuid", sa.String(36), primary_key=True),
    sa.Column("shard_id", sa.String(256), primary_key=True),
    sa.Column("sequence_number", sa.String(128), nullable=True),
    sa.Column("position", sa.String(16), nullable=True),
    sa.Column("at_timestamp", sa.Float, nullable=True),
    sa.Column("finished", sa.Boolean, nullable=False),
    sa.Column("window", sa.JSON, nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# Code signing: AWS Signer's side (signing profile versions, with their Ed25519 keys) and Lambda's
# (code signing configs and which function uses which).
signing_profiles = sa.Table(
    "signing_profiles",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.String(16), primary_key=True),
    sa.Column("doc", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

code_signing_configs = sa.Table(
    "code_signing_configs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("doc", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False, default=dict),  # CreateCodeSigningConfig's / TagResource's
)

function_code_signing = sa.Table(
    "function_code_signing",
    metadata,
    sa.Column("function_name", sa.String(64), primary_key=True),
    sa.Column("csc_id", sa.String(32), nullable=False, index=True),
)

# Saved test events of the console, per function, shared by everyone using this lamina.
test_events = sa.Table(
    "test_events",
    metadata,
    sa.Column("function_name", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(25), primary_key=True),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("last_modified", sa.Float, nullable=False),
)

# Secrets every node of a cluster must share (store/secrets.py): the STS master key, the administrator's
# access key. Used only when the database is not SQLite (a single node keeps them in data-dir files).
shared_secrets = sa.Table(
    "shared_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

# Cluster mode: blocks of concurrency a front node has leased from a pool ("" is the account's unreserved
# pool, else a function's reserved concurrency); a row whose node stopped renewing it expires.
concurrency_blocks = sa.Table(
    "concurrency_blocks",
    metadata,
    sa.Column("node", sa.String(64), primary_key=True),
    sa.Column("pool", sa.String(64), primary_key=True),
    sa.Column("units", sa.Integer, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)
