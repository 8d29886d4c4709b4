"""The environment variables of an execution environment, built from scratch (nothing of the
host's environment leaks in): Lambda's reserved variables, its presets (with
AWS_LAMBDA_LOG_FORMAT / AWS_LAMBDA_LOG_LEVEL for LogFormat JSON), the user's variables, and the
private ones the lamina runtime (or rapid) consumes at start (reference 4.2). Custom runtimes
(provided.*) get AWS's OS-only PATH: no interpreter of lamina's on it.

Pure: the caller passes the spec, the in-sandbox layout and the platform facts. Imports
lamina.engine.spec and lamina.engine.sandbox (for the Layout type) only.
"""

from __future__ import annotations

import base64
import secrets
import string

from lamina.engine import report
from lamina.engine.sandbox import Layout
from lamina.engine.spec import RunSpec

OPT_DIRS_VARIABLE = "_LAMINA_OPT_DIRS"  # layer roots, highest precedence first; popped by the runtime
DEBUG_PORT_VARIABLE = "_LAMINA_DEBUG_PORT"  # lamina dev --debug: the port debugpy listens on; popped by the runtime
LIBRARY_PATH_VARIABLE = "_LAMINA_LD_LIBRARY_PATH"  # custom runtimes: the bootstrap's LD_LIBRARY_PATH; popped by rapid
# "invoke" in the environment of an Init retried inside its event (suppressed init): rapid's Telemetry
# API events say that phase; popped by the runtime
INIT_PHASE_VARIABLE = "_LAMINA_INIT_PHASE"
# INIT_START's runtime version and its ARN, tab-separated, for rapid's Telemetry API initStart; popped by the runtime
RUNTIME_VERSION_VARIABLE = "_LAMINA_RUNTIME_VERSION"
ACCOUNT_VARIABLE = "_LAMINA_ACCOUNT_ID"  # the function's account, for extensions accepting `accountId`; popped by the runtime

# Variables a function may not set (CreateFunction rejects them); they always win.
RESERVED = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ",
})

_KEY_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


def local_credentials() -> tuple[str, str, str]:
    """Well-formed temporary credentials (ASIA… key id, 40-character secret, session token) for an
    environment that has no execution-role credentials to hand out."""
    # One read of the system's randomness (not one per character: this runs in every cold start);
    # both alphabets have a power-of-two size dividing 256, so `byte % size` stays uniform.
    noise = secrets.token_bytes(296)
    key_id = "ASIA" + "".join(_KEY_ALPHABET[b % 32] for b in noise[:16])
    secret = "".join(_SECRET_ALPHABET[b % 64] for b in noise[16:56])
    token = "IQoJb3JpZ2luX2VjE" + base64.b64encode(noise[56:]).decode()
    return key_id, secret, token


def account_of(spec: RunSpec) -> str:
    """The account of the function (its ARN's fifth field), "" when the ARN has none."""
    parts = spec.function_arn.split(":")
    return parts[4] if len(parts) > 4 else ""


def is_custom(runtime: str) -> bool:
    """An OS-only runtime (provided, provided.al2, provided.al2023): no managed interpreter."""
    return runtime == "provided" or runtime.startswith("provided.")


def build(spec: RunSpec, layout: Layout, *, region: str, endpoint_url: str, log_group: str,
          log_stream: str, credentials: tuple[str, str, str],
          initialization_type: str = "on-demand") -> dict[str, str]:
    opt = layout.opt_dirs
    # A custom runtime's bootstrap runs on the OS alone (AWS: no /var/lang on provided.*), so the
    # interpreter lamina runs rapid with is not on its PATH: `python3` is the OS's.
    managed = not is_custom(spec.runtime)
    bin_dirs = layout.bin_dirs if managed else ()
    libraries = ["/lib64", "/usr/lib64", layout.runtime_dir, f"{layout.runtime_dir}/lib",
                 layout.task_root, f"{layout.task_root}/lib", *(f"{d}/lib" for d in opt)]
    presets = {
        "LANG": "en_US.UTF-8",
        "PATH": ":".join([*bin_dirs, "/usr/local/bin", "/usr/bin/", "/bin", *(f"{d}/bin" for d in opt)]),
        # rapid itself needs the interpreter's libraries (a shared libpython) to start; what it
        # starts gets AWS's value, which it finds in LIBRARY_PATH_VARIABLE
        "LD_LIBRARY_PATH": ":".join([*layout.lib_dirs, *libraries]),
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        # boto3 inside the function reaches lamina rather than AWS.
        "AWS_ENDPOINT_URL": endpoint_url,
    }
    if spec.log_format == "JSON":  # LoggingConfig JSON: read by the runtime, as awslambdaric does
        presets["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
        presets["AWS_LAMBDA_LOG_LEVEL"] = (spec.application_log_level or "INFO").upper()
    if spec.runtime.startswith("python"):
        presets["PYTHONPATH"] = layout.site_dir or layout.runtime_dir  # AWS: /var/runtime (where boto3 lives)
    if layout.tmp_dir and layout.tmp_dir != "/tmp":
        presets["TMPDIR"] = layout.tmp_dir
    key_id, secret, token = spec.credentials or credentials
    if spec.image is not None:
        return _image_variables(spec, presets, layout, region=region, log_group=log_group, log_stream=log_stream,
                                credentials=(key_id, secret, token), initialization_type=initialization_type)
    reserved = {
        "_HANDLER": spec.handler,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
        "AWS_LAMBDA_INITIALIZATION_TYPE": initialization_type,
        "AWS_LAMBDA_LOG_GROUP_NAME": log_group,
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_SESSION_TOKEN": token,
        # /var/task semantics: the deployment package's root. The process backend shows the host
        # path of the unpacked code; isolating backends bind it at /var/task.
        "LAMBDA_TASK_ROOT": layout.task_root,
        "LAMBDA_RUNTIME_DIR": layout.runtime_dir,
        "TZ": ":UTC",
        OPT_DIRS_VARIABLE: ":".join(opt),
        ACCOUNT_VARIABLE: account_of(spec),
        RUNTIME_VERSION_VARIABLE: f"{report.runtime_version(spec.runtime)}\t{report.runtime_version_arn(region, spec.runtime)}",
    }
    if not managed:
        reserved[LIBRARY_PATH_VARIABLE] = ":".join(libraries)
    if spec.debug_port is not None:
        reserved[DEBUG_PORT_VARIABLE] = str(spec.debug_port)
    user = {key: value for key, value in spec.environment.items() if key not in RESERVED}
    return {**presets, **user, **reserved}


IMAGE_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def image_env(entries: tuple[tuple[str, str], ...] | list[str]) -> dict[str, str]:
    """An image config's Env (`KEY=VALUE` strings, or pairs) as a map."""
    out: dict[str, str] = {}
    for entry in entries:
        key, value = entry if isinstance(entry, tuple) else (entry.split("=", 1) + [""])[:2]
        if key:
            out[key] = value
    return out


def _image_variables(spec: RunSpec, presets: dict[str, str], layout: Layout, *, region: str, log_group: str,
                     log_stream: str, credentials: tuple[str, str, str], initialization_type: str) -> dict[str, str]:
    """A container image's environment: the image's Env, under lamina's presets that do not
    describe a managed runtime (no PATH or LD_LIBRARY_PATH of lamina's: the image's own, or the
    usual PATH), the function's variables and Lambda's reserved ones (no _HANDLER or
    AWS_EXECUTION_ENV, which images do not get)."""
    assert spec.image is not None
    base = image_env(spec.image.env)
    base.setdefault("PATH", IMAGE_DEFAULT_PATH)
    kept = {k: v for k, v in presets.items() if k not in ("PATH", "LD_LIBRARY_PATH", "PYTHONPATH", "LANG")}
    key_id, secret, token = credentials
    reserved = {
        "AWS_REGION": region, "AWS_DEFAULT_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
        "AWS_LAMBDA_INITIALIZATION_TYPE": initialization_type,
        "AWS_LAMBDA_LOG_GROUP_NAME": log_group, "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token,
        "LAMBDA_TASK_ROOT": layout.task_root, "LAMBDA_RUNTIME_DIR": layout.runtime_dir, "TZ": ":UTC",
        ACCOUNT_VARIABLE: account_of(spec),
    }
    user = {key: value for key, value in spec.environment.items() if key not in RESERVED}
    return {**base, **kept, **user, **reserved}
