"""The platform's own texts: log stream names, INIT_START / START / END / REPORT / INIT_REPORT
lines, the timeout and exit lines, the error bodies the platform (not the runtime) writes, and
the 4 KB log tail. Pure functions with AWS's exact formats (reference 4.5, 4.6); imports
nothing from lamina.
"""

from __future__ import annotations

import hashlib
import json
import signal
import time

TAIL_BYTES = 4096


def stream_name(version: str, env_hex: str, now: float) -> str:
    """`YYYY/MM/DD/[VERSION]<32 hex>`, dated in UTC."""
    return time.strftime("%Y/%m/%d/", time.gmtime(now)) + f"[{version}]{env_hex}"


def iso_timestamp(now: float) -> str:
    """`2024-02-21T13:12:33.933Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def runtime_version(runtime: str) -> str:
    """`python3.12` → `python:3.12.v1`."""
    for prefix in ("python", "nodejs", "ruby", "java", "dotnet"):
        if runtime.startswith(prefix) and runtime[len(prefix):]:
            return f"{prefix}:{runtime[len(prefix):]}.v1"
    return f"{runtime}.v1"


def runtime_version_arn(region: str, runtime: str) -> str:
    digest = hashlib.sha256(f"lamina:{runtime_version(runtime)}".encode()).hexdigest()
    return f"arn:aws:lambda:{region}::runtime:{digest}"


def init_start(runtime: str, region: str) -> str:
    return (f"INIT_START Runtime Version: {runtime_version(runtime)}\t"
            f"Runtime Version ARN: {runtime_version_arn(region, runtime)}")


def init_report(init_ms: float, status: str, error_type: str | None = None) -> str:
    line = f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\tStatus: {status}"
    return line + (f"\tError Type: {error_type}" if error_type else "")


def start(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}"


def end(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def report(request_id: str, duration_ms: float, billed_ms: int, memory_size: int, max_used_mb: int,
           init_ms: float | None = None, status: str | None = None, error_type: str | None = None) -> str:
    line = (f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed_ms} ms\t"
            f"Memory Size: {memory_size} MB\tMax Memory Used: {max_used_mb} MB")
    if init_ms is not None:
        line += f"\tInit Duration: {init_ms:.2f} ms"
    if status:
        line += f"\tStatus: {status}"
    if error_type:
        line += f"\tError Type: {error_type}"
    return line


def timed_out_line(request_id: str, elapsed_s: float, now: float) -> str:
    return f"{iso_timestamp(now)} {request_id} Task timed out after {elapsed_s:.2f} seconds"


def platform_error(message: str, error_type: str) -> bytes:
    """A platform-written error body: only errorMessage and errorType, compact (Go's encoder)."""
    return json.dumps({"errorMessage": message, "errorType": error_type}, separators=(",", ":"),
                      ensure_ascii=False).encode()


def timed_out(request_id: str, timeout_s: float) -> bytes:
    return platform_error(f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds",
                          "Sandbox.Timedout")


def _signal_name(signum: int) -> str:
    """Go's wording (`killed`, `segmentation fault`), which is strsignal's with a lower-case start."""
    try:
        name = signal.strsignal(signum) or f"signal {signum}"
    except ValueError:
        name = f"signal {signum}"
    if len(name) > 1 and name[0].isupper() and name[1].islower():
        name = name[0].lower() + name[1:]
    return name


def exit_reason(status: int) -> str:
    if status == 0:
        return "Runtime exited without providing a reason"
    if status < 0:
        return f"Runtime exited with error: signal: {_signal_name(-status)}"
    return f"Runtime exited with error: exit status {status}"


def exited(request_id: str, status: int) -> bytes:
    return platform_error(f"RequestId: {request_id} Error: {exit_reason(status)}", "Runtime.ExitError")


def too_large(limit: int) -> bytes:
    return platform_error(f"Response payload size exceeded maximum allowed payload size ({limit} bytes).",
                          "Function.ResponseSizeTooLarge")


def invalid_entrypoint(request_id: str, detail: str) -> bytes:
    return platform_error(f"RequestId: {request_id} Error: {detail}", "Runtime.InvalidEntrypoint")


def tail(lines: list[str]) -> str:
    """The last 4,096 bytes of these log lines as text, never starting inside a character."""
    data = ("\n".join(lines) + "\n").encode()
    if len(data) <= TAIL_BYTES:
        return data.decode()
    return data[-TAIL_BYTES:].decode("utf-8", "ignore")
