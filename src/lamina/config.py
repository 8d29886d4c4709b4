"""Settings: every tunable of a lamina process, read once and passed down.

Imports nothing from lamina. `Settings.from_env` reads LAMINA_* environment variables;
the CLI overrides host, port and data dir from its flags.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "lamina"


def _int(env: dict[str, str], key: str, default: int) -> int:
    value = env.get(key)
    return int(value) if value not in (None, "") else default


def _float(env: dict[str, str], key: str, default: float) -> float:
    value = env.get(key)
    return float(value) if value not in (None, "") else default


def _paths(env: dict[str, str], key: str) -> dict[str, str]:
    """`python3.12=/opt/py312/bin/python3,python3.13=/usr/bin/python3.13` → {runtime: path}."""
    out: dict[str, str] = {}
    for item in (env.get(key) or "").split(","):
        if "=" in item:
            runtime, path = item.split("=", 1)
            out[runtime.strip()] = path.strip()
    return out


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 9001
    data_dir: Path = field(default_factory=default_data_dir)
    region: str = "us-east-1"
    account_id: str = "000000000000"
    # Account-level concurrency (GetAccountSettings ConcurrentExecutions).
    concurrency_limit: int = 1000
    # Idle execution environments are ended after this many seconds.
    idle_timeout: float = 600.0
    # Upper bound of a function's Timeout (the developer guide says 900 s; see reference 2.2).
    max_timeout: int = 900
    # Sandbox backend: "auto", "namespaces", "bubblewrap" or "process".
    sandbox: str = "auto"
    # Refuse to start below this isolation level: "process", "bubblewrap" or "namespaces".
    isolation: str = "process"
    # Explicit interpreter per runtime id, e.g. {"python3.12": "/usr/bin/python3.12"}.
    runtime_paths: dict[str, str] = field(default_factory=dict)
    # Multiplies every async retry delay (1.0 = AWS's 1 min / 2 min / 1 s…5 min back-off).
    async_backoff_scale: float = 1.0
    # Per-minute metric series are kept this many days.
    metrics_retention_days: float = 14.0
    # How often log events past their group's retention are deleted (seconds).
    log_expiry_interval: float = 300.0
    # Let functions be created on runtimes past AWS's block-create date (reference 2.3).
    allow_deprecated_runtimes: bool = False
    # The public base URL the service is reached at (for Code.Location and AWS_ENDPOINT_URL).
    public_url: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        env = dict(os.environ if env is None else env)
        settings = cls(
            host=env.get("LAMINA_HOST", "127.0.0.1"),
            port=_int(env, "LAMINA_PORT", 9001),
            data_dir=Path(env["LAMINA_DATA_DIR"]) if env.get("LAMINA_DATA_DIR") else default_data_dir(),
            region=env.get("LAMINA_REGION", "us-east-1"),
            account_id=env.get("LAMINA_ACCOUNT_ID", "000000000000"),
            concurrency_limit=_int(env, "LAMINA_CONCURRENCY_LIMIT", 1000),
            idle_timeout=_float(env, "LAMINA_IDLE_TIMEOUT", 600.0),
            max_timeout=_int(env, "LAMINA_MAX_TIMEOUT", 900),
            sandbox=env.get("LAMINA_SANDBOX", "auto"),
            isolation=env.get("LAMINA_ISOLATION", "process"),
            runtime_paths=_paths(env, "LAMINA_RUNTIME_PATHS"),
            metrics_retention_days=_float(env, "LAMINA_METRICS_RETENTION_DAYS", 14.0),
            log_expiry_interval=_float(env, "LAMINA_LOG_EXPIRY_INTERVAL", 300.0),
            async_backoff_scale=_float(env, "LAMINA_ASYNC_BACKOFF_SCALE", 1.0),
            allow_deprecated_runtimes=env.get("LAMINA_ALLOW_DEPRECATED_RUNTIMES", "") in ("1", "true", "yes"),
            public_url=env.get("LAMINA_PUBLIC_URL") or None,
        )
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
