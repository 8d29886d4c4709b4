"""The CloudWatch Logs API (JSON 1.1, target prefix Logs_20140328) over lamina's stored logs.

One method per operation: the request dict in, the response dict out, `LogsError` (HTTP 400,
`{"__type", "message"}`) on failure. Timestamps are epoch milliseconds. Owns the paging tokens,
event ids, AWS's semantic checks and retention expiry (`expire`, run periodically by the supervisor, as lamina.server schedules it).
Model-level checks (required members, types, ranges) are the HTTP layer's. Imports lamina.store.logs
and lamina.control.filter_pattern; never lamina.api or the engine.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Callable

from lamina.control.filter_pattern import FilterPatternError, compile_pattern
from lamina.store.logs import DAY_MS, EventRow, LogStore

RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                  2922, 3288, 3653)
MAX_RESPONSE_BYTES = 1_048_576  # a page of events holds at most 1 MB (message bytes + 26 per event)
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
EVENTS_LIMIT = 10_000
DESCRIBE_LIMIT = 50
FUTURE_LIMIT_MS = 2 * 3_600_000
PAST_LIMIT_MS = 14 * DAY_MS
BATCH_SPAN_MS = DAY_MS
SCAN_CHUNK = 2_000
SCAN_BUDGET = 100_000  # rows FilterLogEvents examines per call before answering with a nextToken
_POSITION = re.compile(r"([fb])/(\d{20})(\d{36})")
_GROUP_ARN = re.compile(r"arn:aws[a-zA-Z-]*:logs:([^:]*):([^:]*):log-group:([^:]+)(:\*)?")


class LogsError(Exception):
    """An error answered as HTTP 400 with AWS's JSON 1.1 body (written by lamina.api.responses)."""

    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> LogsError:
    return LogsError("InvalidParameterException", message)


GROUP_NOT_FOUND = "The specified log group does not exist."
STREAM_NOT_FOUND = "The specified log stream does not exist."


def event_id(timestamp: int, row_id: int) -> str:
    """A stable, unique, 56-digit event id (AWS's length) that also sorts as the event does."""
    return f"{timestamp:020d}{row_id:036d}"


def _position_token(direction: str, position: tuple[int, int]) -> str:
    return f"{direction}/{event_id(*position)}"


def _parse_position(token: str) -> tuple[str, tuple[int, int]]:
    match = _POSITION.fullmatch(token)
    if match is None:
        raise invalid("The specified nextToken is invalid.")
    return match[1], (int(match[2]), int(match[3]))


def _opaque(kind: str, value: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode()


def _unwrap(kind: str, token: str) -> str:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise invalid("The specified nextToken is invalid.") from None
    found, _, value = text.partition(":")
    if found != kind:
        raise invalid("The specified nextToken is invalid.")
    return value


def _event_bytes(message: str) -> int:
    return len(message.encode()) + EVENT_OVERHEAD


class Logs:
    OPERATIONS = {
        "DescribeLogGroups": "describe_log_groups", "DescribeLogStreams": "describe_log_streams",
        "GetLogEvents": "get_log_events", "FilterLogEvents": "filter_log_events",
        "CreateLogGroup": "create_log_group", "DeleteLogGroup": "delete_log_group",
        "CreateLogStream": "create_log_stream", "DeleteLogStream": "delete_log_stream",
        "PutLogEvents": "put_log_events", "PutRetentionPolicy": "put_retention_policy",
        "DeleteRetentionPolicy": "delete_retention_policy",
    }

    def __init__(self, store: LogStore, region: str, account_id: str,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._region = region
        self._account = account_id
        self._clock = clock

    def call(self, operation: str, request: dict) -> dict:
        """Run an operation by its API name; UnknownOperationException for any other name."""
        method = self.OPERATIONS.get(operation)
        if method is None:
            raise LogsError("UnknownOperationException", f"Unknown operation {operation}")
        return getattr(self, method)(request)

    def expire(self, now_ms: int | None = None) -> int:
        """Delete the events older than their group's retention; how many were deleted."""
        return self._store.expire(self._now() if now_ms is None else now_ms)

    # -- helpers ------------------------------------------------------------------------------
    def _now(self) -> int:
        return int(self._clock() * 1000)

    def group_arn(self, group: str) -> str:
        return f"arn:aws:logs:{self._region}:{self._account}:log-group:{group}"

    def _group_name(self, request: dict) -> str:
        """The log group of logGroupName or logGroupIdentifier (a name or an ARN), which must exist."""
        name, identifier = request.get("logGroupName"), request.get("logGroupIdentifier")
        if name and identifier:
            raise invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
        if not name and not identifier:
            raise invalid("Either logGroupName or logGroupIdentifier must be specified.")
        if identifier:
            name = self._identified(identifier)
        if name is None or self._store.group(name) is None:
            raise LogsError("ResourceNotFoundException", GROUP_NOT_FOUND)
        return name

    def _identified(self, identifier: str) -> str | None:
        """A log group name from a name or an ARN; None for an ARN of another account or region."""
        if not identifier.startswith("arn:"):
            return identifier
        match = _GROUP_ARN.fullmatch(identifier)
        if match is None:
            raise invalid(f"Invalid log group identifier: {identifier}")
        return match[3] if (match[1], match[2]) == (self._region, self._account) else None

    def _existing_stream(self, request: dict) -> tuple[str, str]:
        group = self._group_name(request)
        stream = request["logStreamName"]
        if self._store.stream(group, stream) is None:
            raise LogsError("ResourceNotFoundException", STREAM_NOT_FOUND)
        return group, stream

    # -- groups -------------------------------------------------------------------------------
    def describe_log_groups(self, request: dict) -> dict:
        prefix, pattern = request.get("logGroupNamePrefix"), request.get("logGroupNamePattern")
        identifiers = request.get("logGroupIdentifiers")
        if prefix and pattern:
            raise invalid("logGroupNamePattern and logGroupNamePrefix are mutually exclusive. "
                          "Only one of these parameters can be passed.")
        if identifiers and (prefix or pattern or request.get("logGroupClass")):
            raise invalid("If you specify logGroupIdentifiers, the only other filter that you can choose to "
                          "specify is includeLinkedAccounts.")
        if request.get("logGroupClass", "STANDARD") != "STANDARD":
            return {"logGroups": []}
        limit = request.get("limit") or DESCRIBE_LIMIT
        after = _unwrap("group", request["nextToken"]) if request.get("nextToken") else None
        names = None if identifiers is None else [n for n in map(self._identified, identifiers) if n]
        rows = self._store.groups(prefix=prefix, contains=pattern, names=names, after=after, limit=limit + 1)
        response: dict = {"logGroups": [self._group_item(row, brief=bool(pattern)) for row in rows[:limit]]}
        if len(rows) > limit:
            response["nextToken"] = _opaque("group", rows[limit - 1]["name"])
        return response

    def _group_item(self, row: dict, *, brief: bool) -> dict:
        arn = self.group_arn(row["name"])
        if brief:  # AWS answers a logGroupNamePattern search with these three only
            return {"logGroupName": row["name"], "creationTime": row["created_ms"], "arn": arn + ":*"}
        item = {"logGroupName": row["name"], "creationTime": row["created_ms"], "metricFilterCount": 0,
                "arn": arn + ":*", "storedBytes": row["stored_bytes"], "logGroupClass": "STANDARD",
                "logGroupArn": arn}
        if row["retention_days"] is not None:
            item["retentionInDays"] = row["retention_days"]
        return item

    def create_log_group(self, request: dict) -> dict:
        if request.get("kmsKeyId"):
            raise invalid("lamina does not encrypt log groups with KMS keys: remove kmsKeyId.")
        if request.get("tags"):
            raise invalid("lamina does not store tags on log groups: remove tags.")
        if request.get("logGroupClass", "STANDARD") != "STANDARD":
            raise invalid("lamina only has the STANDARD log group class.")
        if request.get("deletionProtectionEnabled"):
            raise invalid("lamina does not support deletion protection on log groups.")
        if not self._store.create_group(request["logGroupName"], self._now()):
            raise LogsError("ResourceAlreadyExistsException", "The specified log group already exists")
        return {}

    def delete_log_group(self, request: dict) -> dict:
        if not self._store.delete_group(request["logGroupName"]):
            raise LogsError("ResourceNotFoundException", GROUP_NOT_FOUND)
        return {}

    def put_retention_policy(self, request: dict) -> dict:
        days = request["retentionInDays"]
        if days not in RETENTION_DAYS:
            raise invalid(f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy "
                          f"constraint: Member must satisfy enum value set: "
                          f"[{', '.join(map(str, RETENTION_DAYS))}]")
        if not self._store.set_retention(request["logGroupName"], days):
            raise LogsError("ResourceNotFoundException", GROUP_NOT_FOUND)
        return {}

    def delete_retention_policy(self, request: dict) -> dict:
        if not self._store.set_retention(request["logGroupName"], None):
            raise LogsError("ResourceNotFoundException", GROUP_NOT_FOUND)
        return {}

    # -- streams ------------------------------------------------------------------------------
    def describe_log_streams(self, request: dict) -> dict:
        group = self._group_name(request)
        prefix = request.get("logStreamNamePrefix")
        by_last_event = request.get("orderBy", "LogStreamName") == "LastEventTime"
        if by_last_event and prefix:
            raise invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
        limit = request.get("limit") or DESCRIBE_LIMIT
        offset = 0
        if request.get("nextToken"):
            text = _unwrap("streams", request["nextToken"])
            if not text.isdigit():
                raise invalid("The specified nextToken is invalid.")
            offset = int(text)
        rows = self._store.streams(group, prefix=prefix, by_last_event=by_last_event,
                                   descending=bool(request.get("descending")), offset=offset, limit=limit + 1)
        response: dict = {"logStreams": [self._stream_item(group, row) for row in rows[:limit]]}
        if len(rows) > limit:
            response["nextToken"] = _opaque("streams", str(offset + limit))
        return response

    def _stream_item(self, group: str, row: dict) -> dict:
        item = {"logStreamName": row["name"], "creationTime": row["created_ms"],
                "arn": f"{self.group_arn(group)}:log-stream:{row['name']}",
                "storedBytes": 0}  # AWS has reported 0 for streams since 2019; the group has the total
        for key, field in (("firstEventTimestamp", "first_event_ms"), ("lastEventTimestamp", "last_event_ms"),
                           ("lastIngestionTime", "last_ingestion_ms")):
            if row[field] is not None:
                item[key] = row[field]
        return item

    def create_log_stream(self, request: dict) -> dict:
        created = self._store.create_stream(request["logGroupName"], request["logStreamName"], self._now())
        if created is None:
            raise LogsError("ResourceNotFoundException", GROUP_NOT_FOUND)
        if not created:
            raise LogsError("ResourceAlreadyExistsException", "The specified log stream already exists")
        return {}

    def delete_log_stream(self, request: dict) -> dict:
        if self._store.group(request["logGroupName"]) is None:
            raise LogsError("ResourceNotFoundException", GROUP_NOT_FOUND)
        if not self._store.delete_stream(request["logGroupName"], request["logStreamName"]):
            raise LogsError("ResourceNotFoundException", STREAM_NOT_FOUND)
        return {}

    # -- events -------------------------------------------------------------------------------
    def put_log_events(self, request: dict) -> dict:
        group, stream = self._existing_stream(request)
        events = [(int(event["timestamp"]), event["message"]) for event in request["logEvents"]]
        if any(later[0] < earlier[0] for earlier, later in zip(events, events[1:], strict=False)):
            raise invalid("Log events in a single PutLogEvents request must be in chronological order.")
        size = sum(_event_bytes(message) for _, message in events)
        if size > MAX_BATCH_BYTES:
            raise invalid(f"Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}")
        now = self._now()
        retention = self._store.group(group)["retention_days"]
        expired_before = now - retention * DAY_MS if retention is not None else None
        rejected: dict[str, int] = {}
        accepted = []
        for index, (timestamp, message) in enumerate(events):
            if timestamp > now + FUTURE_LIMIT_MS:
                rejected.setdefault("tooNewLogEventStartIndex", index)
            elif timestamp < now - PAST_LIMIT_MS:
                rejected["tooOldLogEventEndIndex"] = index
            elif expired_before is not None and timestamp < expired_before:
                rejected["expiredLogEventEndIndex"] = index
            else:
                accepted.append((timestamp, message))
        if accepted and accepted[-1][0] - accepted[0][0] > BATCH_SPAN_MS:
            raise invalid("The batch of log events in a single PutLogEvents request cannot span more than "
                          "24 hours.")
        if accepted and not self._store.put(group, stream, accepted, now):
            raise LogsError("ResourceNotFoundException", STREAM_NOT_FOUND)
        return {"rejectedLogEventsInfo": rejected} if rejected else {}

    def get_log_events(self, request: dict) -> dict:
        group, stream = self._existing_stream(request)
        limit = request.get("limit") or EVENTS_LIMIT
        token = request.get("nextToken")
        window = {"start": request.get("startTime"), "end": request.get("endTime")}
        if token:
            direction, position = _parse_position(token)
            forward = direction == "f"
            bound = {"after": position} if forward else {"before": position}
            rows = self._store.page(group, streams=[stream], newest_first=not forward, limit=limit, **window,
                                    **bound)
        else:
            forward = bool(request.get("startFromHead"))
            rows = self._store.page(group, streams=[stream], newest_first=not forward, limit=limit, **window)
        rows = self._within_response_size(rows)
        rows.sort(key=lambda row: (row[2], row[0]))
        if rows:
            first, last = (rows[0][2], rows[0][0]), (rows[-1][2], rows[-1][0])
            forward_token, backward_token = _position_token("f", last), _position_token("b", first)
        elif token:  # nothing more that way: the same token comes back, which is how clients stop
            forward_token, backward_token = _position_token("f", position), _position_token("b", position)
        else:
            forward_token, backward_token = _position_token("f", (0, 0)), _position_token("b", (0, 0))
        return {"events": [{"timestamp": row[2], "message": row[4], "ingestionTime": row[3]} for row in rows],
                "nextForwardToken": forward_token, "nextBackwardToken": backward_token}

    @staticmethod
    def _within_response_size(rows: list[EventRow]) -> list[EventRow]:
        """The leading rows (in fetch order) that fit one response."""
        size = 0
        for index, row in enumerate(rows):
            size += _event_bytes(row[4])
            if size > MAX_RESPONSE_BYTES and index:
                return rows[:index]
        return list(rows)

    def filter_log_events(self, request: dict) -> dict:
        group = self._group_name(request)
        names, prefix = request.get("logStreamNames"), request.get("logStreamNamePrefix")
        if names and prefix:
            raise invalid("You cannot specify both LogStreamNames and LogStreamNamePrefix.")
        try:
            matches = compile_pattern(request.get("filterPattern") or "")
        except FilterPatternError:
            raise invalid("Invalid filter pattern") from None
        limit = request.get("limit") or EVENTS_LIMIT
        token = request.get("nextToken")
        if token:
            direction, position = _parse_position(token)
            newest_first = direction == "b"
        else:
            newest_first, position = request.get("startFromHead") is False, None
        end = request.get("endTime")
        query = {"streams": names, "stream_prefix": prefix, "start": request.get("startTime"),
                 "end": None if end is None else end + 1, "newest_first": newest_first}
        found: list[EventRow] = []
        size, scanned, more = 0, 0, False
        while True:
            bound = {} if position is None else {"before" if newest_first else "after": position}
            chunk = limit + 1 if not request.get("filterPattern") else SCAN_CHUNK
            rows = self._store.page(group, limit=chunk, **query, **bound)
            for row in rows:
                if matches(row[4]):
                    size += _event_bytes(row[4])
                    if len(found) == limit or (found and size > MAX_RESPONSE_BYTES):
                        more = True
                        break
                    found.append(row)
                position = (row[2], row[0])
            scanned += len(rows)
            if more or len(rows) < chunk:
                break
            if scanned >= SCAN_BUDGET:
                more = True
                break
        response: dict = {
            "events": [{"logStreamName": row[1], "timestamp": row[2], "message": row[4], "ingestionTime": row[3],
                        "eventId": event_id(row[2], row[0])} for row in found],
            "searchedLogStreams": [],  # AWS has answered an empty list since 2020
        }
        if more and position is not None:
            response["nextToken"] = _position_token("b" if newest_first else "f", position)
        return response
