"""The records lamina keeps about functions: one FunctionVersion per ($LATEST or published) version,
the Function that holds them, aliases, layer versions and async retry settings.

Plain dataclasses that know how to become and come back from a JSON-able dict for the store, and
the read-only records lamina.control answers with (lamina.api.wire turns them into AWS shapes).
Imports nothing from lamina.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import time
from dataclasses import dataclass, field

LATEST = "$LATEST"
ALL = "ALL"  # the per-minute metric series summed over every function (CloudWatch's account-level view)


def lambda_timestamp(epoch: float | None = None) -> str:
    """AWS's LastModified format: 2020-04-10T19:06:32.563+0000."""
    moment = _dt.datetime.fromtimestamp(time.time() if epoch is None else epoch, _dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


@dataclass
class FunctionVersion:
    """One version of a function as FunctionConfiguration describes it (snake_case here)."""

    name: str
    version: str = LATEST
    runtime: str | None = None
    handler: str | None = None
    role: str = ""
    description: str = ""
    timeout: int = 3
    memory_size: int = 128
    environment: dict[str, str] = field(default_factory=dict)
    tracing_mode: str = "PassThrough"
    ephemeral_storage: int = 512
    architectures: list[str] = field(default_factory=lambda: ["x86_64"])
    log_format: str = "Text"
    log_group: str | None = None  # None = /aws/lambda/NAME
    application_log_level: str | None = None
    system_log_level: str | None = None
    layers: list[dict] = field(default_factory=list)  # [{"Arn": ..., "CodeSize": ...}]
    file_system_configs: list[dict] = field(default_factory=list)  # [{"Arn": ..., "LocalMountPath": ...}]
    signing_profile_version_arn: str | None = None  # set when the deployed code is signed (code signing)
    signing_job_arn: str | None = None
    image_uri: str | None = None  # PackageType Image: Code.ImageUri as given
    resolved_image_uri: str | None = None  # repo@sha256:<manifest digest> once pulled
    image_config: dict = field(default_factory=dict)  # ImageConfig overrides: EntryPoint, Command, WorkingDirectory
    package_type: str = "Zip"
    code_sha256: str = ""  # base64 of the raw digest
    code_hex: str = ""  # hex of the same digest: the blob's key
    code_size: int = 0
    last_modified: str = field(default_factory=lambda_timestamp)
    revision_id: str = ""
    state: str = "Pending"
    state_reason: str | None = "The function is being created."
    state_reason_code: str | None = "Creating"
    last_update_status: str | None = None
    last_update_status_reason: str | None = None
    last_update_status_reason_code: str | None = None

    @property
    def effective_log_group(self) -> str:
        return self.log_group or f"/aws/lambda/{self.name}"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FunctionVersion:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def copy(self, **changes: object) -> FunctionVersion:
        return dataclasses.replace(self, **changes)


@dataclass
class Function:
    """A function: its $LATEST plus what belongs to the function as a whole."""

    name: str
    latest: FunctionVersion
    tags: dict[str, str] = field(default_factory=dict)
    last_version_number: int = 0  # published version numbers are never reused


@dataclass
class Alias:
    """A named pointer to a version, optionally splitting traffic with one more version."""

    function_name: str
    name: str
    function_version: str
    description: str = ""
    weights: dict[str, float] = field(default_factory=dict)  # RoutingConfig.AdditionalVersionWeights
    revision_id: str = ""


@dataclass
class LayerVersion:
    """One published version of a layer."""

    name: str
    version: int
    description: str = ""
    compatible_runtimes: list[str] = field(default_factory=list)
    compatible_architectures: list[str] = field(default_factory=list)
    license_info: str | None = None
    code_sha256: str = ""
    code_hex: str = ""
    code_size: int = 0
    unzipped_size: int = 0
    created_date: str = field(default_factory=lambda_timestamp)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LayerVersion:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class RetryConfig:
    """How an asynchronous event is retried and where its outcome goes (event invoke config)."""

    maximum_retry_attempts: int = 2
    maximum_event_age_s: int = 21_600
    on_success: str | None = None
    on_failure: str | None = None


@dataclass(frozen=True)
class EventInvokeConfig:
    """A function's (or qualifier's) asynchronous-invocation settings, as configured."""

    function_arn: str
    config: dict  # the given members: MaximumRetryAttempts, MaximumEventAgeInSeconds, DestinationConfig
    last_modified: float


@dataclass(frozen=True)
class ProvisionedConfig:
    """A provisioned-concurrency config and how many of its environments are ready."""

    function_arn: str
    requested: int
    ready: int
    last_modified: str

    @property
    def status(self) -> str:
        return "READY" if self.ready >= self.requested else "IN_PROGRESS"


@dataclass(frozen=True)
class AccountUsage:
    """The account's limits and what it uses."""

    total_code_size_limit: int
    code_size_unzipped_limit: int
    code_size_zipped_limit: int
    concurrent_executions: int
    unreserved_concurrent_executions: int
    total_code_size: int
    function_count: int


@dataclass(frozen=True)
class Checkpoint:
    """Where a stream mapping resumes in one shard: after `sequence_number` (the last record delivered or
    given up), else at the starting `position` fixed when the shard was first seen; `finished` once a
    closed shard was read to its end; `window` the open tumbling window. The pollers keep it, the store
    persists it."""

    shard_id: str
    sequence_number: str | None = None
    position: str | None = None
    at_timestamp: float | None = None
    finished: bool = False
    window: dict | None = None


@dataclass(frozen=True)
class EventSourceMapping:
    """An event source mapping: which source feeds which function, how (the AWS members, defaults
    filled in), and where it stands (State, StateTransitionReason, LastProcessingResult)."""

    uuid: str
    function_name: str
    qualifier: str | None
    event_source_arn: str
    kind: str  # "sqs" | "kinesis" | "dynamodb" | "mq"
    config: dict  # BatchSize, MaximumBatchingWindowInSeconds, FilterCriteria, ScalingConfig, Queues, ...
    enabled: bool
    state: str
    state_reason: str
    last_processing_result: str | None
    last_modified: float
    tags: dict[str, str] = field(default_factory=dict)  # TagResource's, on the mapping's ARN


@dataclass(frozen=True)
class FunctionUrlConfig:
    """A function URL: which function and qualifier it invokes, how it is authorised and served."""

    function_name: str
    qualifier: str  # "$LATEST" for an unqualified URL, else an alias name
    url_id: str  # 32 characters [a-z0-9], the host's first label
    auth_type: str  # "NONE" | "AWS_IAM"
    cors: dict | None  # the Cors members as given
    invoke_mode: str | None  # "BUFFERED" | "RESPONSE_STREAM" | None (never given: BUFFERED)
    creation_time: str
    last_modified_time: str

    @property
    def streaming(self) -> bool:
        return self.invoke_mode == "RESPONSE_STREAM"
