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
