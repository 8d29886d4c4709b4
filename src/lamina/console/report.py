"""What the Test tab shows of an invoke: the REPORT line's figures and the log lines, read from
the LogResult tail Invoke returns (`X-Amz-Log-Result`, base64 of the last 4 KB of the log)."""

from __future__ import annotations

import base64
import re

_FIELD = re.compile(r"(RequestId|Duration|Billed Duration|Memory Size|Max Memory Used|Init Duration|Restore Duration|"
                    r"Status|Error Type):\s*([^\t\n]+?)\s*(?=\t|$)")
FIELDS = ("Duration", "Billed Duration", "Memory Size", "Max Memory Used", "Init Duration")


def decode_log(log_result: str | None) -> str:
    """The log tail as text ('' when absent or not base64)."""
    if not log_result:
        return ""
    try:
        return base64.b64decode(log_result).decode("utf-8", "replace")
    except ValueError:
        return ""


def report_fields(log_text: str) -> dict[str, str]:
    """The last REPORT line's fields, by name (`Duration` → `1.23 ms`); {} when there is none."""
    lines = [line for line in log_text.splitlines() if line.startswith("REPORT ")]
    if not lines:
        return {}
    return {name: value for name, value in _FIELD.findall(lines[-1][len("REPORT "):])}


def milliseconds(value: str) -> float | None:
    """`1.23 ms` → 1.23; None when it is not a figure in ms."""
    number, _, unit = value.partition(" ")
    try:
        return float(number) if unit == "ms" else None
    except ValueError:
        return None


def percentile(ordered: list[float], q: float) -> float:
    """The nearest-rank percentile of an ascending, non-empty list."""
    return ordered[min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))]


def duration_percentiles(events: list[dict]) -> dict[int, dict[str, float]]:
    """Per minute (epoch seconds of its start), p50 / p99 / count of the Duration of the REPORT lines
    among `events` (CloudWatch Logs events: timestamp in ms, message)."""
    per_minute: dict[int, list[float]] = {}
    for event in events:
        duration = milliseconds(report_fields(event.get("message", "")).get("Duration", ""))
        if duration is not None:
            per_minute.setdefault(event["timestamp"] // 60000 * 60, []).append(duration)
    out = {}
    for minute, values in sorted(per_minute.items()):
        values.sort()
        out[minute] = {"p50": percentile(values, 0.5), "p99": percentile(values, 0.99), "count": len(values)}
    return out
