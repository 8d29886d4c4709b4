"""EventBridge through boto3 and the aws CLI against a real server: rules and targets, PutEvents
routed by pattern to the right functions only, input shaping, AWS's errors, and a shortened rate
schedule that fires once per minute and goes on after a restart (no minute twice, no backfill).

Deliveries are counted by what the target functions print (`RECORD <function> <event>`), read back
through the Logs API. The schedule minute is shortened to one second (LAMINA_SCHEDULE_MINUTE_SECONDS).
"""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, ROLE, LaminaProcess, client_for, make_zip

FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"
APP = r'''
import json

def record(event, context):
    print("RECORD " + context.function_name + " " + context.invoked_function_arn + " " + json.dumps(event))
    return "ok"
'''
FUNCTIONS = ("orders", "refunds", "shaped", "custom", "ticks")


@pytest.fixture(scope="module")
def lamina(tmp_path_factory):
    server = LaminaProcess(tmp_path_factory.mktemp("events") / "data",
                           env={"LAMINA_SCHEDULE_MINUTE_SECONDS": "1"}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def lam(lamina):
    client = client_for(lamina.url)
    for name in FUNCTIONS:
        client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.record",
                               Code={"ZipFile": make_zip({"app.py": APP})})
    for name in FUNCTIONS:
        client.get_waiter("function_active_v2").wait(FunctionName=name)
    client.publish_version(FunctionName="orders")
    client.create_alias(FunctionName="orders", Name="live", FunctionVersion="1")
    return client


@pytest.fixture(scope="module")
def events(lamina, lam):
    return client_for(lamina.url, "events")


def records(server, function: str) -> list[tuple[str, dict]]:
    """(invoked function ARN, event) of every RECORD line the function printed so far."""
    logs = client_for(server.url, "logs")
    found, token = [], None
    while True:
        kwargs = {"nextToken": token} if token else {}
        try:
            page = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}", filterPattern='"RECORD"', **kwargs)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ResourceNotFoundException":
                return []
            raise
        for event in page["events"]:
            _, _, arn, body = event["message"].rstrip("\n").split(" ", 3)
            found.append((arn, json.loads(body)))
        token = page.get("nextToken")
        if not token:
            return found


def wait_records(server, function: str, count: int, timeout: float = 60.0) -> list[tuple[str, dict]]:
    deadline = time.monotonic() + timeout
    while True:
        found = records(server, function)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def test_put_events_routes_by_pattern_to_the_right_functions_only(lamina, events, aws_cli):
    events.put_rule(Name="orders", EventPattern=json.dumps({"source": ["shop"], "detail-type": ["Order Placed"]}))
    events.put_targets(Rule="orders", Targets=[{"Id": "o", "Arn": f"{FN}:orders:live"}])
    code, out, err = aws_cli("events", "put-rule", "--name", "refunds", "--event-pattern",
                             json.dumps({"detail": {"amount": [{"numeric": ["<", 0]}]}}))
    assert code == 0, err
    assert out == {"RuleArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/refunds"}
    code, out, err = aws_cli("events", "put-targets", "--rule", "refunds", "--targets",
                             f"Id=r,Arn={FN}:refunds")
    assert code == 0 and out == {"FailedEntryCount": 0, "FailedEntries": []}, err
    events.create_event_bus(Name="side")
    events.put_rule(Name="side-all", EventBusName="side", EventPattern=json.dumps({"source": [{"prefix": ""}]}))
    events.put_targets(Rule="side-all", EventBusName="side", Targets=[{"Id": "c", "Arn": f"{FN}:custom"}])

    sent = events.put_events(Entries=[
        {"Source": "shop", "DetailType": "Order Placed", "Detail": json.dumps({"amount": 10}), "Resources": ["arn:o"]},
        {"Source": "shop", "DetailType": "Refund", "Detail": json.dumps({"amount": -5})},
        {"Source": "other", "DetailType": "Order Placed", "Detail": json.dumps({"amount": 1})},
        {"Source": "shop", "DetailType": "Order Placed", "Detail": json.dumps({"amount": 7}), "EventBusName": "side"},
    ])
    assert sent["FailedEntryCount"] == 0
    ids = [entry["EventId"] for entry in sent["Entries"]]
    code, out, err = aws_cli("events", "put-events", "--entries", json.dumps(
        [{"Source": "cli", "DetailType": "Refund", "Detail": json.dumps({"amount": -1})}]))
    assert code == 0 and out["FailedEntryCount"] == 0, err
    ids.append(out["Entries"][0]["EventId"])

    orders = wait_records(lamina, "orders", 1)
    refunds = wait_records(lamina, "refunds", 2)
    custom = wait_records(lamina, "custom", 1)
    time.sleep(1.0)  # nothing else arrives late
    assert [event["id"] for _, event in records(lamina, "orders")] == [ids[0]]
    assert sorted(event["id"] for _, event in records(lamina, "refunds")) == sorted([ids[1], ids[4]])
    assert [event["id"] for _, event in records(lamina, "custom")] == [ids[3]]
    arn, event = orders[0]
    assert arn == f"{FN}:orders:live"  # a qualified target ARN invokes that alias
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert (event["version"], event["source"], event["detail-type"], event["account"], event["region"]) == (
        "0", "shop", "Order Placed", ACCOUNT, REGION)
    assert event["resources"] == ["arn:o"] and event["detail"] == {"amount": 10}
    assert dt.datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")
    assert refunds and custom[0][1]["detail"] == {"amount": 7}


def test_input_transformer_and_input_path(lamina, events):
    events.put_rule(Name="shaped", EventPattern=json.dumps({"source": ["shaper"]}))
    result = events.put_targets(Rule="shaped", Targets=[
        {"Id": "t", "Arn": f"{FN}:shaped", "InputTransformer": {
            "InputPathsMap": {"who": "$.detail.who", "n": "$.detail.n"},
            "InputTemplate": '{"greeting": "hello <who>", "n": <n>, "rule": <aws.events.rule-name>}'}},
        {"Id": "p", "Arn": f"{FN}:shaped", "InputPath": "$.detail"},
        {"Id": "c", "Arn": f"{FN}:shaped", "Input": '{"constant": true}'},
    ])
    assert result["FailedEntryCount"] == 0
    events.put_events(Entries=[{"Source": "shaper", "DetailType": "x", "Detail": json.dumps({"who": "ann", "n": 3})}])
    got = [event for _, event in wait_records(lamina, "shaped", 3)]
    assert sorted(got, key=json.dumps) == sorted([
        {"greeting": "hello ann", "n": 3, "rule": "shaped"}, {"who": "ann", "n": 3}, {"constant": True}],
        key=json.dumps)


def test_errors(events, aws_cli):
    events.put_rule(Name="guarded", EventPattern=json.dumps({"source": ["g"]}))
    events.put_targets(Rule="guarded", Targets=[{"Id": "g", "Arn": f"{FN}:orders"}])
    code, _, err = aws_cli("events", "delete-rule", "--name", "guarded")
    assert code != 0 and "ValidationException" in err and "Rule can't be deleted since it has targets." in err
    code, _, err = aws_cli("events", "put-rule", "--name", "bad", "--schedule-expression", "cron(0 1 * * * *)")
    assert code != 0 and "Parameter ScheduleExpression is not valid." in err
    code, _, err = aws_cli("events", "put-rule", "--name", "bad", "--schedule-expression", "rate(1 minutes)")
    assert code != 0 and "Parameter ScheduleExpression is not valid." in err
    with pytest.raises(ClientError) as caught:
        events.put_rule(Name="bad", EventPattern='{"source": []}')
    assert caught.value.response["Error"] == {"Code": "InvalidEventPatternException",
                                              "Message": "Event pattern is not valid. Reason: Empty arrays are not allowed"}
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as caught:
        events.describe_rule(Name="nope")
    assert caught.value.response["Error"] == {"Code": "ResourceNotFoundException",
                                              "Message": "Rule nope does not exist on EventBus default."}
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as caught:
        events.put_events(Entries=[{"Source": "s", "DetailType": "t", "Detail": "{}"}] * 11)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10" in \
        caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as caught:
        events.put_rule(Name="bad name!", ScheduleExpression="rate(1 minute)")
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as caught:
        events.create_event_bus(Name="side")
    assert caught.value.response["Error"]["Message"] == "Event bus side already exists."
    events.remove_targets(Rule="guarded", Ids=["g"])
    events.delete_rule(Name="guarded")


def scheduled_minutes(server) -> list[int]:
    """The scheduled minutes the `ticks` function received, one per distinct event (a queue redelivery
    of one event is not a second firing)."""
    by_id = {event["id"]: event for _, event in records(server, "ticks")}
    for event in by_id.values():
        assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
        assert event["resources"] == [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/every-minute"]
        assert event["detail"] == {} and event["time"].endswith(":00Z")
    return [int(dt.datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()) // 60
            for e in by_id.values()]


def test_rate_schedule_fires_each_minute_once_and_goes_on_after_a_restart(lamina, lam, aws_cli):
    code, out, err = aws_cli("events", "put-rule", "--name", "every-minute", "--schedule-expression", "rate(1 minute)")
    assert code == 0, err
    code, out, err = aws_cli("events", "put-targets", "--rule", "every-minute", "--targets", f"Id=t,Arn={FN}:ticks")
    assert code == 0 and out["FailedEntryCount"] == 0, err
    fired_before = len(wait_records(lamina, "ticks", 4))
    lamina.stop()
    time.sleep(3.0)  # three schedule minutes pass while lamina is down
    lamina.start()
    wait_records(lamina, "ticks", fired_before + 4)
    code, _, err = aws_cli("events", "disable-rule", "--name", "every-minute")
    assert code == 0, err
    time.sleep(1.5)  # what was queued before the disable is delivered
    minutes = scheduled_minutes(lamina)
    assert len(minutes) == len(set(minutes)), "a minute fired twice"
    minutes.sort()
    gaps = [i for i in range(1, len(minutes)) if minutes[i] - minutes[i - 1] != 1]
    # Every minute fired exactly once while lamina ran (consecutive minutes before and after the
    # restart), and the minutes while it was down were not backfilled (one gap, the downtime).
    assert len(gaps) == 1, minutes
    before, after = minutes[:gaps[0]], minutes[gaps[0]:]
    assert len(before) >= 4 and len(after) >= 4
    assert after[0] - before[-1] > 3
    described = client_for(lamina.url, "events").describe_rule(Name="every-minute")
    assert described["State"] == "DISABLED" and described["ScheduleExpression"] == "rate(1 minute)"
    count = len(scheduled_minutes(lamina))
    time.sleep(2.0)
    assert len(scheduled_minutes(lamina)) == count  # a disabled rule does not fire


def test_the_aws_cli_round_trip(aws_cli):
    code, out, err = aws_cli("events", "put-rule", "--name", "weekdays", "--schedule-expression",
                             "cron(0/5 8-17 ? * MON-FRI *)", "--description", "office hours", "--state", "DISABLED")
    assert code == 0, err
    code, out, err = aws_cli("events", "describe-rule", "--name", "weekdays")
    assert code == 0, err
    assert out == {"Name": "weekdays", "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/weekdays",
                   "ScheduleExpression": "cron(0/5 8-17 ? * MON-FRI *)", "State": "DISABLED",
                   "Description": "office hours", "EventBusName": "default", "CreatedBy": ACCOUNT}
    code, out, err = aws_cli("events", "put-targets", "--rule", "weekdays", "--targets", json.dumps(
        [{"Id": "1", "Arn": f"{FN}:orders", "Input": '{"k": "v"}'}]))
    assert code == 0 and out["FailedEntryCount"] == 0, err
    code, out, err = aws_cli("events", "list-targets-by-rule", "--rule", "weekdays")
    assert out == {"Targets": [{"Id": "1", "Arn": f"{FN}:orders", "Input": '{"k": "v"}'}]}, err
    code, out, err = aws_cli("events", "list-rule-names-by-target", "--target-arn", f"{FN}:orders")
    assert code == 0 and "weekdays" in out["RuleNames"], err
    code, out, err = aws_cli("events", "list-rules", "--name-prefix", "week")
    assert [rule["Name"] for rule in out["Rules"]] == ["weekdays"], err
    code, out, err = aws_cli("events", "remove-targets", "--rule", "weekdays", "--ids", "1")
    assert code == 0 and out == {"FailedEntryCount": 0, "FailedEntries": []}, err
    code, out, err = aws_cli("events", "delete-rule", "--name", "weekdays")
    assert code == 0, err
    code, out, err = aws_cli("events", "describe-rule", "--name", "weekdays")
    assert code != 0 and "ResourceNotFoundException" in err
