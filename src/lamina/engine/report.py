"""The platform's own texts: log stream names, INIT_START / START / END / REPORT / INIT_REPORT
lines (or, for LogFormat JSON, their platform.* objects filtered by SystemLogLevel), the timeout
and exit lines, the error bodies the platform (not the runtime) writes, and the 4 KB log tail.
Pure functions with AWS's exact formats (reference 4.5, 4.6); imports nothing from lamina.
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
    """`python3.12` → `python:3.12.v1`, `nodejs22.x` → `nodejs:22.v1`, `provided.al2023` →
    `provided:al2023.v1` (as AWS writes them, with lamina's runtime build as v1)."""
    for prefix in ("python", "nodejs", "ruby", "java", "dotnet", "provided."):
        if runtime.startswith(prefix) and runtime[len(prefix):]:
            return f"{prefix.rstrip('.')}:{runtime[len(prefix):].removesuffix('.x')}.v1"
    return f"{runtime}.v1"


def runtime_version_arn(region: str, runtime: str) -> str:
    digest = hashlib.sha256(f"lamina:{runtime_version(runtime)}".encode()).hexdigest()
    return f"arn:aws:lambda:{region}::runtime:{digest}"


def init_start(runtime: str, region: str) -> str:
    return (f"INIT_START Runtime Version: {runtime_version(runtime)}\t"
            f"Runtime Version ARN: {runtime_version_arn(region, runtime)}")


def init_report(init_ms: float, status: str, error_type: str | None = None, phase: str = "init") -> str:
    """`phase` is "init", or "invoke" for an Init retried inside the first event (suppressed init)."""
    line = f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: {phase}\tStatus: {status}"
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


def _platform_json(kind: str, record: dict, now: float | None) -> str:
    event = {"time": iso_timestamp(time.time() if now is None else now), "type": kind, "record": record}
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def json_init_start(runtime: str, region: str, function_name: str, version: str,
                    initialization_type: str = "on-demand", now: float | None = None) -> str:
    return _platform_json("platform.initStart", {
        "initializationType": initialization_type, "phase": "init", "runtimeVersion": runtime_version(runtime),
        "runtimeVersionArn": runtime_version_arn(region, runtime), "functionName": function_name,
        "functionVersion": version}, now)


def json_init_report(init_ms: float, status: str, error_type: str | None = None,
                     initialization_type: str = "on-demand", now: float | None = None, phase: str = "init") -> str:
    record: dict = {"initializationType": initialization_type, "phase": phase, "status": status}
    if error_type:
        record["errorType"] = error_type
    record["metrics"] = {"durationMs": round(init_ms, 2)}
    return _platform_json("platform.initReport", record, now)


def json_start(request_id: str, version: str, now: float | None = None) -> str:
    return _platform_json("platform.start", {"requestId": request_id, "version": version}, now)


def json_runtime_done(request_id: str, duration_ms: float, status: str, error_type: str | None = None,
                      now: float | None = None) -> str:
    record: dict = {"requestId": request_id, "status": status}
    if error_type:
        record["errorType"] = error_type
    record["metrics"] = {"durationMs": round(duration_ms, 2)}
    return _platform_json("platform.runtimeDone", record, now)


def json_report(request_id: str, duration_ms: float, billed_ms: int, memory_size: int, max_used_mb: int,
                init_ms: float | None = None, status: str = "success", error_type: str | None = None,
                now: float | None = None) -> str:
    metrics: dict = {"durationMs": round(duration_ms, 2), "billedDurationMs": billed_ms,
                     "memorySizeMB": memory_size, "maxMemoryUsedMB": max_used_mb}
    if init_ms is not None:
        metrics["initDurationMs"] = round(init_ms, 2)
    record: dict = {"requestId": request_id, "metrics": metrics, "status": status}
    if error_type:
        record["errorType"] = error_type
    return _platform_json("platform.report", record, now)


_SYSTEM_LEVELS = {"DEBUG": 0, "INFO": 1, "WARN": 2}


class Platform:
    """The platform lines of one function's log: Text lines, or JSON objects filtered by the
    SystemLogLevel (INFO: initStart, initReport, start, report; DEBUG adds runtimeDone; WARN none
    of them). A method answers None when its line is not written. `status` is the platform's
    (timeout, error) as in REPORT; an `error_type` without it is the function's own error, which
    JSON reports as status "error" and Text leaves out."""

    def __init__(self, log_format: str = "Text", system_level: str | None = None) -> None:
        self.json = log_format == "JSON"
        level = _SYSTEM_LEVELS.get((system_level or "INFO").upper(), 1)
        self._info = not self.json or level <= 1
        self._debug = self.json and level == 0

    def init_start(self, runtime: str, region: str, function_name: str, version: str,
                   initialization_type: str = "on-demand") -> str | None:
        if not runtime:  # a container image has no managed runtime version to name
            return None
        if not self.json:
            return init_start(runtime, region)
        return json_init_start(runtime, region, function_name, version, initialization_type) if self._info else None

    def init_report(self, init_ms: float, status: str, error_type: str | None = None,
                    phase: str = "init") -> str | None:
        if not self.json:
            return init_report(init_ms, status, error_type, phase)
        return json_init_report(init_ms, status, error_type, phase=phase) if self._info else None

    def start(self, request_id: str, version: str) -> str | None:
        if not self.json:
            return start(request_id, version)
        return json_start(request_id, version) if self._info else None

    def end(self, request_id: str, duration_ms: float, status: str | None,
            error_type: str | None) -> str | None:
        """END for Text; platform.runtimeDone at DEBUG for JSON."""
        if not self.json:
            return end(request_id)
        if not self._debug:
            return None
        return json_runtime_done(request_id, duration_ms, status or ("error" if error_type else "success"),
                                 error_type)

    def report(self, request_id: str, duration_ms: float, billed_ms: int, memory_size: int, max_used_mb: int,
               init_ms: float | None = None, status: str | None = None,
               error_type: str | None = None) -> str | None:
        if not self.json:
            return report(request_id, duration_ms, billed_ms, memory_size, max_used_mb, init_ms, status,
                          error_type if status == "error" else None)
        if not self._info:
            return None
        return json_report(request_id, duration_ms, billed_ms, memory_size, max_used_mb, init_ms,
                           status or ("error" if error_type else "success"), error_type)


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


def exited(request_id: str, status: int, error_type: str = "Runtime.ExitError") -> bytes:
    """The body of an invoke whose runtime exited (error_type Runtime.OutOfMemory when the memory
    limit killed it)."""
    return platform_error(f"RequestId: {request_id} Error: {exit_reason(status)}", error_type)


def too_large(limit: int) -> bytes:
    return platform_error(f"Response payload size exceeded maximum allowed payload size ({limit} bytes).",
                          "Function.ResponseSizeTooLarge")


def unpassable_handler(handler: str) -> tuple[str, bytes] | None:
    """The Python runtime's init error for a handler no environment variable can carry (one with a
    NUL byte, which `_HANDLER` cannot hold), as the runtime would report it after failing to load
    it: (errorType, error body); None for a handler that can be passed."""
    if "\0" not in handler:
        return None
    modname, _, fname = handler.rpartition(".")
    if not modname:
        error_type, message = "Runtime.MalformedHandlerName", f"Bad handler '{handler}': not enough values to unpack (expected 2, got 1)"
    elif "\0" in modname:
        error_type = "Runtime.ImportModuleError"
        message = f"Unable to import module '{modname}': No module named {modname!r}"
    else:
        error_type, message = "Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'"
    body = {"errorMessage": message, "errorType": error_type, "requestId": "", "stackTrace": []}
    return error_type, json.dumps(body, ensure_ascii=False).encode()


def invalid_entrypoint(request_id: str, detail: str) -> bytes:
    return platform_failure(request_id, detail, "Runtime.InvalidEntrypoint")


def platform_failure(request_id: str, detail: str, error_type: str) -> bytes:
    """The body of a failure the platform found (no bootstrap, an extension that cannot start):
    `RequestId: <id> Error: <detail>`, as AWS words Runtime.InvalidEntrypoint and its kin."""
    return platform_error(f"RequestId: {request_id} Error: {detail}", error_type)


def tail(lines: list[str]) -> str:
    """The last 4,096 bytes of these log lines as text, never starting inside a character."""
    data = "".join(line if line.endswith("\n") else line + "\n" for line in lines).encode()
    if len(data) <= TAIL_BYTES:
        return data.decode()
    return data[-TAIL_BYTES:].decode("utf-8", "ignore")
