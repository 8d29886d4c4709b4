"""lamina.control.logs.Logs over a real SQLite file, with events stored through LogStore.append."""

from __future__ import annotations

import pytest

from lamina.control import logs as logs_module
from lamina.control.logs import Logs, LogsError
from lamina.engine.spec import LogBatch as Batch
from lamina.engine.spec import LogEvent as Event
from lamina.store.database import open_database
from lamina.store.logs import DAY_MS, LogStore

REGION, ACCOUNT = "us-east-1", "123456789012"
NOW = 1_700_000_000_000
GROUP = "/aws/lambda/orders"
S1 = "2024/01/01/[$LATEST]" + "a" * 32
S2 = "2024/01/01/[$LATEST]" + "b" * 32


@pytest.fixture
def log_store(db_url):
    return LogStore(open_database(db_url))


@pytest.fixture
def logs(log_store):
    return Logs(log_store, REGION, ACCOUNT, clock=lambda: NOW / 1000)


def add(log_store: LogStore, group: str, stream: str, *events: tuple[int, str]) -> None:
    log_store.append([Batch(group, stream, tuple(Event(t, m) for t, m in events))])


def error_of(call, request) -> tuple[str, str]:
    with pytest.raises(LogsError) as caught:
        call(request)
    assert caught.value.status == 400
    return caught.value.code, caught.value.message


@pytest.fixture
def orders(log_store):
    """Two streams of one function, interleaved in time."""
    add(log_store, GROUP, S1, (NOW - 5000, "START RequestId: r1"), (NOW - 3000, "[ERROR] boom"),
        (NOW - 1000, "END RequestId: r1"))
    add(log_store, GROUP, S2, (NOW - 4000, "START RequestId: r2"), (NOW - 2000, '{"level": "ERROR", "ms": 7}'))
    return log_store


# -- groups ---------------------------------------------------------------------------------------

def test_describe_log_groups_fields_and_filters(logs, log_store, orders):
    add(log_store, "/aws/lambda/Other", "s", (NOW, "x"))
    add(log_store, "/custom/app", "s", (NOW, "y"))
    groups = logs.describe_log_groups({})["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/aws/lambda/Other", GROUP, "/custom/app"]
    item = groups[1]
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}"
    assert item["arn"] == arn + ":*" and item["logGroupArn"] == arn
    assert item["metricFilterCount"] == 0 and item["logGroupClass"] == "STANDARD"
    assert item["storedBytes"] == sum(len(m) for _, _, m in log_store.events(GROUP))
    assert isinstance(item["creationTime"], int) and "retentionInDays" not in item
    assert [g["logGroupName"] for g in logs.describe_log_groups({"logGroupNamePrefix": "/aws/"})["logGroups"]] \
        == ["/aws/lambda/Other", GROUP]
    assert logs.describe_log_groups({"logGroupNamePrefix": "/AWS/"})["logGroups"] == []
    by_pattern = logs.describe_log_groups({"logGroupNamePattern": "Other"})["logGroups"]
    assert by_pattern == [{"logGroupName": "/aws/lambda/Other", "creationTime": by_pattern[0]["creationTime"],
                           "arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/Other:*"}]
    assert logs.describe_log_groups({"logGroupNamePattern": "other"})["logGroups"] == []
    named = logs.describe_log_groups({"logGroupIdentifiers": ["/custom/app", arn]})["logGroups"]
    assert [g["logGroupName"] for g in named] == [GROUP, "/custom/app"]
    assert logs.describe_log_groups({"logGroupClass": "INFREQUENT_ACCESS"})["logGroups"] == []
    assert error_of(logs.describe_log_groups, {"logGroupNamePrefix": "/a", "logGroupNamePattern": "b"})[0] \
        == "InvalidParameterException"


def test_describe_log_groups_pages(logs, log_store):
    for name in ("g1", "g2", "g3"):
        add(log_store, name, "s", (NOW, "x"))
    seen, token = [], None
    while True:
        page = logs.describe_log_groups({"limit": 2, **({"nextToken": token} if token else {})})
        seen += [g["logGroupName"] for g in page["logGroups"]]
        token = page.get("nextToken")
        if token is None:
            break
    assert seen == ["g1", "g2", "g3"]
    assert error_of(logs.describe_log_groups, {"nextToken": "bogus"}) == (
        "InvalidParameterException", "The specified nextToken is invalid.")


def test_create_and_delete_log_groups(logs, log_store, orders):
    assert logs.create_log_group({"logGroupName": "/mine"}) == {}
    assert error_of(logs.create_log_group, {"logGroupName": "/mine"}) == (
        "ResourceAlreadyExistsException", "The specified log group already exists")
    assert error_of(logs.create_log_group, {"logGroupName": "/x", "kmsKeyId": "k"})[0] == "InvalidParameterException"
    assert logs.delete_log_group({"logGroupName": GROUP}) == {}
    assert log_store.events(GROUP) == []
    assert error_of(logs.delete_log_group, {"logGroupName": GROUP}) == (
        "ResourceNotFoundException", "The specified log group does not exist.")
    assert error_of(logs.describe_log_streams, {"logGroupName": GROUP})[0] == "ResourceNotFoundException"
    # the function's next log lines bring the group back
    add(log_store, GROUP, S1, (NOW, "again"))
    streams = logs.describe_log_streams({"logGroupName": GROUP})["logStreams"]
    assert [(s["logStreamName"], s["firstEventTimestamp"]) for s in streams] == [(S1, NOW)]


def test_retention_policy_and_expiry(logs, log_store):
    add(log_store, GROUP, S1, (NOW - 10 * DAY_MS, "old"), (NOW - 2 * DAY_MS, "recent"), (NOW, "new"))
    add(log_store, GROUP, S2, (NOW - 9 * DAY_MS, "only old"))
    add(log_store, "/keep", "s", (NOW - 400 * DAY_MS, "ancient"))
    assert error_of(logs.put_retention_policy, {"logGroupName": GROUP, "retentionInDays": 2})[0] \
        == "InvalidParameterException"
    assert error_of(logs.put_retention_policy, {"logGroupName": "/nope", "retentionInDays": 7})[0] \
        == "ResourceNotFoundException"
    assert logs.put_retention_policy({"logGroupName": GROUP, "retentionInDays": 7}) == {}
    assert logs.describe_log_groups({"logGroupNamePrefix": GROUP})["logGroups"][0]["retentionInDays"] == 7
    assert logs.expire() == 2
    assert log_store.events(GROUP) == [(S1, NOW - 2 * DAY_MS, "recent"), (S1, NOW, "new")]
    assert log_store.events("/keep") == [("s", NOW - 400 * DAY_MS, "ancient")]
    streams = {s["logStreamName"]: s for s in logs.describe_log_streams({"logGroupName": GROUP})["logStreams"]}
    assert streams[S1]["firstEventTimestamp"] == NOW - 2 * DAY_MS
    assert "firstEventTimestamp" not in streams[S2]
    group = logs.describe_log_groups({"logGroupNamePrefix": GROUP})["logGroups"][0]
    assert group["storedBytes"] == len("recent") + len("new")
    assert logs.expire(NOW + 6 * DAY_MS) == 1  # "recent" is now 8 days old
    assert logs.delete_retention_policy({"logGroupName": GROUP}) == {}
    assert "retentionInDays" not in logs.describe_log_groups({"logGroupNamePrefix": GROUP})["logGroups"][0]
    assert logs.expire(NOW + 100 * DAY_MS) == 0
    assert error_of(logs.delete_retention_policy, {"logGroupName": "/nope"})[0] == "ResourceNotFoundException"


# -- streams --------------------------------------------------------------------------------------

def test_describe_log_streams(logs, orders):
    streams = logs.describe_log_streams({"logGroupName": GROUP})["logStreams"]
    assert [s["logStreamName"] for s in streams] == [S1, S2]
    first = streams[0]
    assert first["arn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}:log-stream:{S1}"
    assert (first["firstEventTimestamp"], first["lastEventTimestamp"]) == (NOW - 5000, NOW - 1000)
    assert isinstance(first["lastIngestionTime"], int) and first["storedBytes"] == 0
    by_time = logs.describe_log_streams({"logGroupName": GROUP, "orderBy": "LastEventTime", "descending": True})
    assert [s["logStreamName"] for s in by_time["logStreams"]] == [S1, S2]
    by_time = logs.describe_log_streams({"logGroupName": GROUP, "orderBy": "LastEventTime"})
    assert [s["logStreamName"] for s in by_time["logStreams"]] == [S2, S1]
    assert logs.describe_log_streams({"logGroupName": GROUP, "descending": True})["logStreams"][0][
        "logStreamName"] == S2
    prefixed = logs.describe_log_streams({"logGroupName": GROUP, "logStreamNamePrefix": S2[:-3]})
    assert [s["logStreamName"] for s in prefixed["logStreams"]] == [S2]
    assert error_of(logs.describe_log_streams, {"logGroupName": GROUP, "orderBy": "LastEventTime",
                                                "logStreamNamePrefix": "2024"})[0] == "InvalidParameterException"
    page = logs.describe_log_streams({"logGroupName": GROUP, "limit": 1})
    assert [s["logStreamName"] for s in page["logStreams"]] == [S1]
    rest = logs.describe_log_streams({"logGroupName": GROUP, "limit": 1, "nextToken": page["nextToken"]})
    assert [s["logStreamName"] for s in rest["logStreams"]] == [S2] and "nextToken" not in rest
    by_arn = logs.describe_log_streams({"logGroupIdentifier": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}:*"})
    assert len(by_arn["logStreams"]) == 2
    other_account = f"arn:aws:logs:{REGION}:999999999999:log-group:{GROUP}"
    assert error_of(logs.describe_log_streams, {"logGroupIdentifier": other_account})[0] == "ResourceNotFoundException"
    assert error_of(logs.describe_log_streams, {"logGroupName": GROUP, "logGroupIdentifier": GROUP})[0] \
        == "InvalidParameterException"
    assert error_of(logs.describe_log_streams, {})[0] == "InvalidParameterException"


def test_create_delete_streams_and_put_log_events(logs, log_store):
    assert error_of(logs.create_log_stream, {"logGroupName": "/g", "logStreamName": "s"}) == (
        "ResourceNotFoundException", "The specified log group does not exist.")
    logs.create_log_group({"logGroupName": "/g"})
    assert logs.create_log_stream({"logGroupName": "/g", "logStreamName": "s"}) == {}
    assert error_of(logs.create_log_stream, {"logGroupName": "/g", "logStreamName": "s"}) == (
        "ResourceAlreadyExistsException", "The specified log stream already exists")
    put = {"logGroupName": "/g", "logStreamName": "s"}
    assert logs.put_log_events({**put, "logEvents": [{"timestamp": NOW - 10, "message": "one"},
                                                     {"timestamp": NOW, "message": "two"}]}) == {}
    assert log_store.events("/g", "s") == [("s", NOW - 10, "one"), ("s", NOW, "two")]
    stream = logs.describe_log_streams({"logGroupName": "/g"})["logStreams"][0]
    assert (stream["firstEventTimestamp"], stream["lastEventTimestamp"], stream["lastIngestionTime"]) == (
        NOW - 10, NOW, NOW)
    assert error_of(logs.put_log_events, {**put, "logEvents": [{"timestamp": NOW, "message": "b"},
                                                               {"timestamp": NOW - 1, "message": "a"}]}) == (
        "InvalidParameterException",
        "Log events in a single PutLogEvents request must be in chronological order.")
    span = [{"timestamp": NOW - 2 * DAY_MS, "message": "a"}, {"timestamp": NOW, "message": "b"}]
    assert error_of(logs.put_log_events, {**put, "logEvents": span})[0] == "InvalidParameterException"
    mixed = [{"timestamp": NOW - 15 * DAY_MS, "message": "too old"}, {"timestamp": NOW + 1, "message": "ok"},
             {"timestamp": NOW + 3 * 3_600_000, "message": "too new"}]
    assert logs.put_log_events({**put, "logEvents": mixed}) == {
        "rejectedLogEventsInfo": {"tooOldLogEventEndIndex": 0, "tooNewLogEventStartIndex": 2}}
    assert log_store.events("/g", "s")[-1] == ("s", NOW + 1, "ok")
    logs.put_retention_policy({"logGroupName": "/g", "retentionInDays": 1})
    assert logs.put_log_events({**put, "logEvents": [{"timestamp": NOW - 2 * DAY_MS, "message": "x"}]}) == {
        "rejectedLogEventsInfo": {"expiredLogEventEndIndex": 0}}
    assert error_of(logs.put_log_events, {"logGroupName": "/g", "logStreamName": "nope",
                                          "logEvents": [{"timestamp": NOW, "message": "x"}]}) == (
        "ResourceNotFoundException", "The specified log stream does not exist.")
    assert logs.delete_log_stream(put) == {}
    assert log_store.events("/g") == []
    assert error_of(logs.delete_log_stream, put) == (
        "ResourceNotFoundException", "The specified log stream does not exist.")
    assert error_of(logs.delete_log_stream, {"logGroupName": "/none", "logStreamName": "s"})[1] \
        == "The specified log group does not exist."


# -- GetLogEvents ---------------------------------------------------------------------------------

def messages(response: dict) -> list[str]:
    return [event["message"] for event in response["events"]]


def test_get_log_events_pages_with_tokens(logs, log_store):
    add(log_store, GROUP, S1, *[(NOW + i, f"m{i}") for i in range(5)])
    base = {"logGroupName": GROUP, "logStreamName": S1}
    newest = logs.get_log_events({**base, "limit": 2})
    assert messages(newest) == ["m3", "m4"]
    assert set(newest["events"][0]) == {"timestamp", "message", "ingestionTime"}
    assert newest["nextForwardToken"].startswith("f/") and newest["nextBackwardToken"].startswith("b/")
    older = logs.get_log_events({**base, "limit": 2, "nextToken": newest["nextBackwardToken"]})
    assert messages(older) == ["m1", "m2"]
    oldest = logs.get_log_events({**base, "limit": 2, "nextToken": older["nextBackwardToken"]})
    assert messages(oldest) == ["m0"]
    end = logs.get_log_events({**base, "limit": 2, "nextToken": oldest["nextBackwardToken"]})
    assert messages(end) == [] and end["nextBackwardToken"] == oldest["nextBackwardToken"]
    at_tail = logs.get_log_events({**base, "nextToken": newest["nextForwardToken"]})
    assert messages(at_tail) == [] and at_tail["nextForwardToken"] == newest["nextForwardToken"]
    add(log_store, GROUP, S1, (NOW + 10, "m10"))
    fresh = logs.get_log_events({**base, "nextToken": at_tail["nextForwardToken"], "startFromHead": True})
    assert messages(fresh) == ["m10"]
    head = logs.get_log_events({**base, "limit": 3, "startFromHead": True})
    assert messages(head) == ["m0", "m1", "m2"]
    assert messages(logs.get_log_events({**base, "nextToken": head["nextForwardToken"]})) == ["m3", "m4", "m10"]
    window = logs.get_log_events({**base, "startTime": NOW + 1, "endTime": NOW + 3, "startFromHead": True})
    assert messages(window) == ["m1", "m2"]  # endTime is exclusive


def test_get_log_events_errors_and_empty_stream(logs, log_store):
    logs.create_log_group({"logGroupName": "/g"})
    logs.create_log_stream({"logGroupName": "/g", "logStreamName": "s"})
    empty = logs.get_log_events({"logGroupName": "/g", "logStreamName": "s"})
    assert empty["events"] == []
    add(log_store, "/g", "s", (NOW, "late"))
    assert messages(logs.get_log_events({"logGroupName": "/g", "logStreamName": "s",
                                         "nextToken": empty["nextForwardToken"]})) == ["late"]
    assert error_of(logs.get_log_events, {"logGroupName": "/g", "logStreamName": "t"}) == (
        "ResourceNotFoundException", "The specified log stream does not exist.")
    assert error_of(logs.get_log_events, {"logGroupName": "/h", "logStreamName": "s"}) == (
        "ResourceNotFoundException", "The specified log group does not exist.")
    assert error_of(logs.get_log_events, {"logGroupName": "/g", "logStreamName": "s", "nextToken": "x/1"}) == (
        "InvalidParameterException", "The specified nextToken is invalid.")


def test_get_log_events_stays_within_one_megabyte(logs, log_store):
    big = "x" * 400_000
    add(log_store, GROUP, S1, *[(NOW + i, big + str(i)) for i in range(4)])
    page = logs.get_log_events({"logGroupName": GROUP, "logStreamName": S1})
    assert [event["message"][-1] for event in page["events"]] == ["2", "3"]


# -- FilterLogEvents ------------------------------------------------------------------------------

def test_filter_log_events_sorted_across_streams_with_stable_ids(logs, orders):
    response = logs.filter_log_events({"logGroupName": GROUP})
    events = response["events"]
    assert [e["message"] for e in events] == ["START RequestId: r1", "START RequestId: r2", "[ERROR] boom",
                                             '{"level": "ERROR", "ms": 7}', "END RequestId: r1"]
    assert [e["logStreamName"] for e in events] == [S1, S2, S1, S2, S1]
    assert all(set(e) == {"logStreamName", "timestamp", "message", "ingestionTime", "eventId"} for e in events)
    ids = [e["eventId"] for e in events]
    assert len(set(ids)) == 5 and all(len(i) == 56 and i.isdigit() for i in ids)
    assert ids == [e["eventId"] for e in logs.filter_log_events({"logGroupName": GROUP})["events"]]
    assert response["searchedLogStreams"] == [] and "nextToken" not in response


@pytest.mark.parametrize(("request_", "expected"), [
    ({"filterPattern": "ERROR"}, ["[ERROR] boom", '{"level": "ERROR", "ms": 7}']),
    ({"filterPattern": '"RequestId: r1"'}, ["START RequestId: r1", "END RequestId: r1"]),
    ({"filterPattern": "?boom ?r2"}, ["START RequestId: r2", "[ERROR] boom"]),
    ({"filterPattern": "RequestId -END"}, ["START RequestId: r1", "START RequestId: r2"]),
    ({"filterPattern": '{ $.level = "ERROR" && $.ms > 5 }'}, ['{"level": "ERROR", "ms": 7}']),
    ({"logStreamNames": [S2]}, ["START RequestId: r2", '{"level": "ERROR", "ms": 7}']),
    ({"logStreamNamePrefix": S1[:-5]}, ["START RequestId: r1", "[ERROR] boom", "END RequestId: r1"]),
    ({"startTime": NOW - 3000, "endTime": NOW - 2000}, ["[ERROR] boom", '{"level": "ERROR", "ms": 7}']),
    ({"startFromHead": False, "limit": 2}, ["END RequestId: r1", '{"level": "ERROR", "ms": 7}']),
    ({"logGroupName": None, "logGroupIdentifier": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}",
      "filterPattern": "boom"}, ["[ERROR] boom"]),
])
def test_filter_log_events_selects(logs, orders, request_, expected):
    request = {k: v for k, v in {"logGroupName": GROUP, **request_}.items() if v is not None}
    assert messages(logs.filter_log_events(request)) == expected


def test_filter_log_events_errors(logs, orders):
    assert error_of(logs.filter_log_events, {"logGroupName": GROUP, "logStreamNames": [S1],
                                             "logStreamNamePrefix": "2024"})[0] == "InvalidParameterException"
    assert error_of(logs.filter_log_events, {"logGroupName": GROUP, "filterPattern": '{ $.a = }'}) == (
        "InvalidParameterException", "Invalid filter pattern")
    assert error_of(logs.filter_log_events, {"logGroupName": "/nope"}) == (
        "ResourceNotFoundException", "The specified log group does not exist.")
    assert error_of(logs.filter_log_events, {"logGroupName": GROUP, "nextToken": "garbage"})[0] \
        == "InvalidParameterException"


def collect(logs: Logs, request: dict) -> tuple[list[str], int]:
    seen, pages, token = [], 0, None
    while True:
        page = logs.filter_log_events({**request, **({"nextToken": token} if token else {})})
        seen += messages(page)
        pages += 1
        token = page.get("nextToken")
        if token is None:
            return seen, pages


def test_filter_log_events_pages(logs, log_store, monkeypatch):
    add(log_store, GROUP, S1, *[(NOW + i, f"line {i} {'even' if i % 2 == 0 else 'odd'}") for i in range(0, 40, 2)])
    add(log_store, GROUP, S2, *[(NOW + i, f"line {i} {'even' if i % 2 == 0 else 'odd'}") for i in range(1, 40, 2)])
    everything = [f"line {i} {'even' if i % 2 == 0 else 'odd'}" for i in range(40)]
    assert collect(logs, {"logGroupName": GROUP, "limit": 7}) == (everything, 6)
    assert collect(logs, {"logGroupName": GROUP, "limit": 5}) == (everything, 8)  # the last page is empty
    monkeypatch.setattr(logs_module, "SCAN_CHUNK", 3)
    monkeypatch.setattr(logs_module, "SCAN_BUDGET", 6)
    odd, pages = collect(logs, {"logGroupName": GROUP, "filterPattern": "odd", "limit": 4})
    assert odd == [m for m in everything if m.endswith("odd")] and pages > 5
    newest_first, _ = collect(logs, {"logGroupName": GROUP, "startFromHead": False, "limit": 3})
    assert newest_first == everything[::-1]


def test_unknown_operation(logs):
    assert error_of(lambda request: logs.call("StartQuery", request), {})[0] == "UnknownOperationException"
    assert logs.call("DescribeLogGroups", {}) == {"logGroups": []}
