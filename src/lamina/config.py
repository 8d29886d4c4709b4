"""Settings: every tunable of a lamina process, read once and passed down.

Imports nothing from lamina. `Settings.from_env` reads LAMINA_* environment variables;
`lamina serve` overrides host, port, data dir, sandbox and isolation from its flags.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "lamina"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lamina"


def _paths(text: str) -> dict[str, str]:
    """`python3.12=/opt/py312/bin/python3,python3.13=/usr/bin/python3.13` → {runtime: path}."""
    out: dict[str, str] = {}
    for item in text.split(","):
        if "=" in item:
            runtime, path = item.split("=", 1)
            out[runtime.strip()] = path.strip()
    return out


@dataclass(frozen=True)
class FileSystem:
    """A host directory standing in for one EFS access point (`--file-system ARN=PATH[:UID:GID]`):
    functions naming the access point see it read-write at their LocalMountPath, owned by the
    access point's POSIX user (uid/gid; None = the sandbox uid)."""

    path: Path
    uid: int | None = None
    gid: int | None = None


def file_system_entry(text: str) -> tuple[str, FileSystem]:
    """`ARN=PATH` or `ARN=PATH:UID:GID` → (ARN, FileSystem); ValueError when malformed."""
    arn, sep, rest = text.strip().partition("=")
    if not sep or not arn.strip() or not rest.strip():
        raise ValueError(f"expected ARN=PATH[:UID:GID], got {text!r}")
    parts = rest.strip().rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return arn.strip(), FileSystem(Path(parts[0]).expanduser(), int(parts[1]), int(parts[2]))
    return arn.strip(), FileSystem(Path(rest.strip()).expanduser())


def _credentials(text: str) -> dict[str, tuple[str, str]]:
    """`host[:port]=user:password` entries separated by whitespace or commas."""
    out: dict[str, tuple[str, str]] = {}
    for item in text.replace(",", " ").split():
        host, _, secret = item.partition("=")
        user, sep, password = secret.partition(":")
        if host and sep:
            out[host] = (user, password)
    return out


def _file_systems(text: str) -> dict[str, FileSystem]:
    """Entries of `file_system_entry` separated by commas or whitespace."""
    return dict(file_system_entry(item) for item in text.replace(",", " ").split())


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 9001
    data_dir: Path = field(default_factory=default_data_dir)
    # What every lamina of this user may share and rebuild at will: the runtime image (/var/runtime)
    # with the byte-code each runtime's zygote compiled for it, so a new data dir or a restart does
    # not compile boto3 again (lamina.engine.runtime_site).
    cache_dir: Path = field(default_factory=default_cache_dir)
    region: str = "us-east-1"
    account_id: str = "000000000000"
    # Account-level concurrency (GetAccountSettings ConcurrentExecutions).
    concurrency_limit: int = 1000
    # Idle execution environments are ended after this many seconds.
    idle_timeout: float = 600.0
    # On SIGTERM/SIGINT the server exits within this many seconds: it stops accepting at once, lets
    # invokes in flight run until the reserve for ending environments (lamina.stopping), answers the
    # rest with ServiceException, ends every environment and exits 0.
    stop_grace: float = 10.0
    # How many execution environments initialise at once (0: four per processor); a burst of cold
    # starts beyond it waits its turn rather than every environment missing its Init timeout.
    start_concurrency: int = 0
    # Upper bound of a function's Timeout (the developer guide says 900 s; see reference 2.2).
    max_timeout: int = 900
    # Sandbox backend: "auto", "namespaces", "bubblewrap" or "process".
    sandbox: str = "auto"
    # Refuse to start below this isolation level: "process", "bubblewrap" or "namespaces".
    isolation: str = "process"
    # Explicit interpreter per runtime id, e.g. {"python3.12": "/usr/bin/python3.12"}.
    runtime_paths: dict[str, str] = field(default_factory=dict)
    # Multiplies every async retry delay and MaximumEventAgeInSeconds (1.0 = AWS's 1 min / 2 min / 1 s…5 min
    # back-off).
    async_backoff_scale: float = 1.0
    # Most queued events run at once, across functions (0: accepted events wait, none runs); each
    # function's share ramps up to its concurrency (lamina.queue.ramp).
    async_workers: int = 64
    # Length of an EventBridge schedule minute in seconds (60 = real time; less runs the schedule clock
    # faster, counted from 2026-01-01T00:00Z, so tests see rate(1 minute) fire every few seconds).
    schedule_minute_seconds: float = 60.0
    # Per-minute metric series are kept this many days.
    metrics_retention_days: float = 14.0
    # How often log events past their group's retention are deleted (seconds).
    log_expiry_interval: float = 300.0
    # Let functions be created on runtimes past AWS's block-create date (reference 2.3).
    allow_deprecated_runtimes: bool = False
    # The public base URL the service is reached at (for Code.Location and AWS_ENDPOINT_URL).
    public_url: str | None = None
    # The warm lane: a RequestResponse Invoke whose function has an idle warm environment runs
    # without a coroutine per layer, and an Event Invoke of a known function is accepted the same
    # way ("The warm lane" in docs/architecture.md). Off: every invoke takes the layered path
    # (what the lane must answer alike; its tests run both).
    warm_lane: bool = True
    # Authentication: "sigv4" (every request signed by a key lamina issued), "none" (explicitly
    # unauthenticated, allowed on a non-loopback address with a warning) or "" (not chosen:
    # unauthenticated, loopback addresses only).
    auth: str = ""
    # Execution-role credentials are minted per period of this many seconds and stay valid one period
    # more; environments are renewed when the period moves on.
    execution_credentials_ttl: float = 3600.0

    # The S3-compatible endpoint Code.S3Bucket/S3Key packages are read from; unset = the SDK's own
    # AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, then AWS.
    s3_endpoint_url: str | None = None
    # Event source endpoints, overriding the SDK's own AWS_ENDPOINT_URL_SQS / _KINESIS / _DYNAMODB_STREAMS
    # and AWS_ENDPOINT_URL (None: boto3's resolution, i.e. those variables or real AWS).
    sqs_endpoint_url: str | None = None
    kinesis_endpoint_url: str | None = None
    dynamodb_streams_endpoint_url: str | None = None
    # Amazon MQ brokers lamina reaches: broker ARN → AMQP URL (credentials in the URL).
    mq_brokers: dict[str, str] = field(default_factory=dict)
    # Longest pause (seconds) between retries of a poller that cannot reach its source.
    mapping_backoff_max: float = 30.0
    # Kinesis / DynamoDB Streams mappings: the pause after an empty GetRecords per shard (seconds), and
    # a factor on the retry back-off of failed batches (1.0 = 1 s, 2 s, 4 s... up to a minute).
    stream_poll_interval: float = 1.0
    stream_retry_scale: float = 1.0

    # Registries (host[:port]) pulled from over plain HTTP besides loopback ones (container images).
    insecure_registries: tuple[str, ...] = ()
    # Registry (host[:port]) → (user, password) for basic auth or a bearer token's request (container images).
    registry_credentials: dict[str, tuple[str, str]] = field(default_factory=dict)
    # EFS access point ARN → the host directory mounted for it (FileSystemConfigs).
    file_systems: dict[str, FileSystem] = field(default_factory=dict)

    # WaitTimeSeconds of the SQS pollers' long polls (0-20).
    sqs_wait_seconds: int = 20

    # Cluster mode (docs/cluster.md): the shared database (None = SQLite in the data dir) and the NATS
    # server that moves work between nodes (None = single node, everything in process). `cluster_name`
    # prefixes every NATS subject, stream and bucket (and so keeps two clusters on one NATS apart).
    database_url: str | None = None
    nats_url: str | None = None
    cluster_name: str = "lamina"
    # Cluster mode: this front also runs a worker in its own process (`lamina serve --with-worker`).
    with_worker: bool = False

    @property
    def loopback(self) -> bool:
        return self.host in ("127.0.0.1", "::1", "localhost") or self.host.startswith("127.")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        """The field defaults above, overridden by LAMINA_* variables (empty = unset), then by `overrides`
        (None = not given)."""
        env = dict(os.environ if env is None else env)
        values: dict = {}
        for name, (key, parse) in _FROM_ENV.items():
            if env.get(key) not in (None, ""):
                values[name] = parse(env[key])
        settings = cls(**values)
        clean = {k: v for k, v in overrides.items() if v is not None}
        if "data_dir" in clean:
            clean["data_dir"] = Path(str(clean["data_dir"])).expanduser()
        return replace(settings, **clean)

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"


def _flag(text: str) -> bool:
    return text in ("1", "true", "yes")


# Each setting read from the environment: field → (variable, parser). Defaults live only on Settings.
_FROM_ENV: dict[str, tuple[str, Callable[[str], object]]] = {
    "host": ("LAMINA_HOST", str),
    "port": ("LAMINA_PORT", int),
    "data_dir": ("LAMINA_DATA_DIR", Path),
    "cache_dir": ("LAMINA_CACHE_DIR", Path),
    "region": ("LAMINA_REGION", str),
    "account_id": ("LAMINA_ACCOUNT_ID", str),
    "concurrency_limit": ("LAMINA_CONCURRENCY_LIMIT", int),
    "idle_timeout": ("LAMINA_IDLE_TIMEOUT", float),
    "stop_grace": ("LAMINA_STOP_GRACE", float),
    "start_concurrency": ("LAMINA_START_CONCURRENCY", int),
    "max_timeout": ("LAMINA_MAX_TIMEOUT", int),
    "sandbox": ("LAMINA_SANDBOX", str),
    "isolation": ("LAMINA_ISOLATION", str),
    "runtime_paths": ("LAMINA_RUNTIME_PATHS", _paths),
    "metrics_retention_days": ("LAMINA_METRICS_RETENTION_DAYS", float),
    "log_expiry_interval": ("LAMINA_LOG_EXPIRY_INTERVAL", float),
    "async_backoff_scale": ("LAMINA_ASYNC_BACKOFF_SCALE", float),
    "async_workers": ("LAMINA_ASYNC_WORKERS", int),
    "schedule_minute_seconds": ("LAMINA_SCHEDULE_MINUTE_SECONDS", float),
    "allow_deprecated_runtimes": ("LAMINA_ALLOW_DEPRECATED_RUNTIMES", _flag),
    "public_url": ("LAMINA_PUBLIC_URL", str),
    "auth": ("LAMINA_AUTH", str),
    "execution_credentials_ttl": ("LAMINA_EXECUTION_CREDENTIALS_TTL", float),
    "s3_endpoint_url": ("LAMINA_S3_ENDPOINT_URL", str),
    "sqs_endpoint_url": ("LAMINA_SQS_ENDPOINT_URL", str),
    "kinesis_endpoint_url": ("LAMINA_KINESIS_ENDPOINT_URL", str),
    "dynamodb_streams_endpoint_url": ("LAMINA_DYNAMODB_STREAMS_ENDPOINT_URL", str),
    "mq_brokers": ("LAMINA_MQ_BROKERS", _paths),
    "mapping_backoff_max": ("LAMINA_MAPPING_BACKOFF_MAX", float),
    "stream_poll_interval": ("LAMINA_STREAM_POLL_INTERVAL", float),
    "stream_retry_scale": ("LAMINA_STREAM_RETRY_SCALE", float),
    "file_systems": ("LAMINA_FILE_SYSTEMS", _file_systems),
    "registry_credentials": ("LAMINA_REGISTRY_CREDENTIALS", _credentials),
    "insecure_registries": ("LAMINA_INSECURE_REGISTRIES", lambda text: tuple(text.replace(",", " ").split())),
    "sqs_wait_seconds": ("LAMINA_SQS_WAIT_SECONDS", lambda text: max(0, min(20, int(text)))),
    "database_url": ("LAMINA_DATABASE_URL", str),
    "nats_url": ("LAMINA_NATS_URL", str),
    "cluster_name": ("LAMINA_CLUSTER_NAME", str),
    "with_worker": ("LAMINA_WITH_WORKER", _flag),
    "warm_lane": ("LAMINA_WARM_LANE", _flag),
}

AUTH_MODES = ("sigv4", "none")
# Files in the data dir, owner-readable only (0600): the administrator's access key as a profile
# block for ~/.aws/credentials, and the master key that seals temporary credentials.
CREDENTIALS_FILE = "credentials"
MASTER_KEY_FILE = "master.key"
PROFILE = "lamina"
