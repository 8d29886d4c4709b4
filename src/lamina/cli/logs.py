"""`lamina logs`: a function's log group read (or followed) through the CloudWatch Logs API, coloured
by kind of line; `Tail`, the follower `lamina dev` uses too."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
import time

from rich.text import Text

from lamina.cli.common import (
    _endpoint,
    _logs_client,
    _say,
    console,
)

FOLLOW_POLL_S = 1.0
FOLLOW_LOOKBACK_MS = 5_000  # re-read this much before the newest event seen: late writes still show
_SINCE = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PLATFORM = ("START ", "END ", "REPORT ", "INIT_START", "INIT_REPORT", "INIT_RUNTIME", "EXTENSION", "TELEMETRY",
             "RESTORE_", "XRAY ")
_ERROR = ("[ERROR]", "[CRITICAL]", "[FATAL]")
_ERROR_TEXTS = ("Traceback (most recent call last)", "Task timed out after", "Runtime exited with error")
_WARNING = ("[WARNING]", "[WARN]", "LAMBDA_WARNING")
_STREAM = re.compile(r"(?:.*/)?(\[[^\]]*\])([0-9a-fA-F]+)")


# -- lamina logs ------------------------------------------------------------------------------
def parse_since(text: str, now: float) -> int:
    """`--since`: a relative `<n>s|m|h|d|w` or an ISO 8601 time (naive = local) → epoch ms."""
    match = _SINCE.fullmatch(text.strip())
    if match:
        return int((now - int(match[1]) * _UNITS[match[2]]) * 1000)
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since {text!r}: use a duration such as 10m, 2h, 1d or an ISO 8601 time") \
            from None
    return int(moment.timestamp() * 1000)


def message_style(message: str) -> str | None:
    """How a log line is coloured: platform lines dim, errors red, warnings yellow."""
    head = message.lstrip()
    if head.startswith(_PLATFORM):
        return "dim"
    if head.startswith("{"):
        try:
            record = json.loads(head)
        except ValueError:
            record = None
        if isinstance(record, dict):
            if str(record.get("type", "")).startswith("platform."):
                return "dim"
            level = str(record.get("level") or record.get("log_level") or "").upper()
            return {"ERROR": "red", "FATAL": "red", "CRITICAL": "red", "WARN": "yellow",
                    "WARNING": "yellow"}.get(level)
    if head.startswith(_ERROR) or any(text in message for text in _ERROR_TEXTS):
        return "red"
    if head.startswith(_WARNING):
        return "yellow"
    return None


def short_stream(stream: str) -> str:
    """`2024/02/21/[$LATEST]3f2a9c1e…` → `[$LATEST]3f2a9c1e`."""
    match = _STREAM.fullmatch(stream)
    if match:
        return match[1] + match[2][:8]
    return stream.rsplit("/", 1)[-1][-16:]


def log_line(event: dict) -> Text:
    """One event as a line: UTC timestamp, short stream id, message (continuation lines indented)."""
    moment = datetime.datetime.fromtimestamp(event["timestamp"] / 1000, tz=datetime.UTC)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    stream = short_stream(event.get("logStreamName", ""))
    message = event.get("message", "").replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")
    indent = " " * (len(stamp) + len(stream) + 2)
    style = message_style(message)
    line = Text(style=style or "")
    line.append(stamp, style=None if style == "dim" else "cyan")
    line.append(" ")
    line.append(stream, style=None if style == "dim" else "magenta")
    line.append(" ")
    line.append(message.replace("\n", "\n" + indent))
    return line



def _events(client, group: str, start_ms: int, pattern: str | None):
    """Every event of `group` from `start_ms` on, following nextToken."""
    request: dict = {"logGroupName": group, "startTime": start_ms}
    if pattern:
        request["filterPattern"] = pattern
    while True:
        page = client.filter_log_events(**request)
        yield from page.get("events", [])
        token = page.get("nextToken")
        if not token:
            return
        request["nextToken"] = token


class Tail:
    """New events of one log group, polled: re-reads a short window before the newest event seen, so
    late writes still show, and never shows an event twice."""

    def __init__(self, client, group: str, since_ms: int, pattern: str | None = None) -> None:
        self.client, self.group, self.pattern = client, group, pattern
        self.since = self.newest = since_ms
        self.seen: dict[str, int] = {}  # eventId → timestamp, for the events inside the re-read window

    def new_events(self):
        start = max(self.since, self.newest - FOLLOW_LOOKBACK_MS)
        self.seen = {key: stamp for key, stamp in self.seen.items() if stamp >= start}
        for event in _events(self.client, self.group, start, self.pattern):
            if event["eventId"] in self.seen:
                continue
            self.seen[event["eventId"]] = event["timestamp"]
            self.newest = max(self.newest, event["timestamp"])
            yield event


def logs(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        since = parse_since(args.since, time.time())
    except ValueError as error:
        _say(str(error), "red")
        return 2
    group = args.name if args.name.startswith("/") else f"/aws/lambda/{args.name}"
    client = _logs_client(args)
    out = sys.stdout

    def show(event: dict) -> None:
        console.print(log_line(event), soft_wrap=True)

    try:
        if not args.follow:
            try:
                for event in _events(client, group, since, args.filter):
                    show(event)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code")
                if code == "ResourceNotFoundException":
                    _say(f"No logs yet: the log group {group} does not exist (the function has not run).",
                         "yellow")
                else:
                    _say(f"{code}: {error.response.get('Error', {}).get('Message')}", "red")
                return 1
            except BotoCoreError as error:
                _say(f"cannot read logs from {_endpoint(args)}: {error}", "red")
                return 1
            return 0
        tail = Tail(client, group, since, args.filter)
        noted = None
        while True:
            try:
                for event in tail.new_events():
                    show(event)
                noted = None
            except (ClientError, BotoCoreError) as error:
                missing = isinstance(error, ClientError) and \
                    error.response.get("Error", {}).get("Code") == "ResourceNotFoundException"
                note = (f"waiting for {group} to exist (the function has not run yet)" if missing
                        else f"waiting for lamina at {_endpoint(args)}: {error}")
                if note != noted:
                    _say(note, "yellow")
                    noted = note
            out.flush()
            time.sleep(FOLLOW_POLL_S)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # e.g. `lamina logs f | head`: the reader is gone, so are we
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return 0


