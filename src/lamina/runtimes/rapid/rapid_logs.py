"""The legacy Logs API (PUT /2020-08-15/logs, reference 5.3; docs/architecture.md "The Logs API"):
its request limits and its view of rapid's telemetry events, in the 2020-08-15 schema (and
2021-03-18, which adds platform.runtimeDone). Delivery, buffering and the subscription rules are
the Telemetry API's (`rapid_telemetry`); only what a subscriber receives differs:

- platform.start → {requestId, version}; platform.report → platform.end {requestId} then
  platform.report {requestId, metrics {durationMs, billedDurationMs, memorySizeMB,
  maxMemoryUsedMB, initDurationMs?}}; platform.runtimeDone → {requestId, status} (2021-03-18
  only; status success | failure | timeout); platform.extension → {name, state, events};
  platform.logsSubscription, platform.logsDropped and platform.fault (a string: rapid emits it
  when the runtime exits in the middle of an invoke) as they are;
- `function` / `extension` records are the log line as a string;
- the Telemetry API's own events (platform.init*, platform.telemetrySubscription, …) are not
  shown: a subscriber that decodes into a closed set of types would reject the whole batch.

Runs inside the sandbox; imports only the standard library.
"""

import json

SCHEMAS = ("2020-08-15", "2021-03-18")
DEFAULT_SCHEMA = "2020-08-15"
LIMITS = {"maxItems": (1000, 10000, 10000), "maxBytes": (262144, 1048576, 262144), "timeoutMs": (25, 30000, 1000)}
INVALID = "Logs.ValidationError"
SUBSCRIBED = "platform.logsSubscription"
OWN = frozenset({SUBSCRIBED, "platform.fault"})  # emitted for this API only: the Telemetry API has no such events
_METRICS = ("durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB", "initDurationMs")
_STATUS = {"success": "success", "timeout": "timeout"}  # error (the function's) and failure: failure


def _only(record, keys):
    return {key: record[key] for key in keys if record.get(key) is not None}


def _line(record):
    return record if isinstance(record, str) else json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def _start(record, schema):
    return [("platform.start", _only(record, ("requestId", "version")))]


def _report(record, schema):
    return [("platform.end", {"requestId": record["requestId"]}),
            ("platform.report", {"requestId": record["requestId"], "metrics": _only(record["metrics"], _METRICS)})]


def _runtime_done(record, schema):
    if schema == DEFAULT_SCHEMA:
        return []
    return [("platform.runtimeDone", {"requestId": record["requestId"],
                                      "status": _STATUS.get(record.get("status"), "failure")})]


def _extension(record, schema):
    return [("platform.extension", _only(record, ("name", "state", "events")))]


def _as_is(kind):
    return lambda record, schema: [(kind, record)]


_VIEWS = {
    "platform.start": _start,
    "platform.report": _report,
    "platform.runtimeDone": _runtime_done,
    "platform.extension": _extension,
    "platform.logsSubscription": _as_is("platform.logsSubscription"),
    "platform.logsDropped": _as_is("platform.logsDropped"),
    "platform.fault": _as_is("platform.fault"),
    "function": lambda record, schema: [("function", _line(record))],
    "extension": lambda record, schema: [("extension", _line(record))],
}


def view(event, schema):
    """The Logs API events (0, 1 or 2) a subscriber on `schema` receives for one telemetry event."""
    shown = _VIEWS.get(event["type"])
    if shown is None:
        return []
    return [{"time": event["time"], "type": kind, "record": record}
            for kind, record in shown(event["record"], schema)]
