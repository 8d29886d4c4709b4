"""lamina.control.rules on a real SQLite store: AWS's answers for rules, targets, buses, tags and
PutEvents (reference 3.2-3.5), routing by pattern, and the firing of scheduled rules."""

from __future__ import annotations

import json

import pytest

from lamina.control.rules import EventsError, Rules
from lamina.events import RuleChanged
from lamina.store.database import open_database
from lamina.store.rules import RuleStore

FN = "arn:aws:lambda:us-east-1:000000000000:function"
RULE = "arn:aws:events:us-east-1:000000000000:rule"


class Harness:
    def __init__(self, db_url) -> None:
        self.delivered: list = []
        self.published: list = []
        self.minute = 1000
        self.rules = Rules(RuleStore(open_database(db_url)), "us-east-1", "000000000000",
                           deliver=self.delivered.extend, now_minute=lambda: self.minute,
                           publish=self.published.append, clock=lambda: 1_772_359_200.0)  # 2026-03-01T10:00Z

    def __call__(self, operation: str, **request):
        return self.rules.call(operation, request)

    def error(self, operation: str, **request) -> tuple[str, str]:
        with pytest.raises(EventsError) as caught:
            self.rules.call(operation, request)
        return caught.value.code, caught.value.message


@pytest.fixture
def ev(db_url):
    return Harness(db_url)


def test_put_describe_list_rules(ev):
    assert ev("PutRule", Name="every", ScheduleExpression="rate(5 minutes)", Description="d") == {
        "RuleArn": f"{RULE}/every"}
    assert ev("DescribeRule", Name="every") == {
        "Name": "every", "Arn": f"{RULE}/every", "ScheduleExpression": "rate(5 minutes)", "State": "ENABLED",
        "Description": "d", "EventBusName": "default", "CreatedBy": "000000000000"}
    ev("PutRule", Name="orders", EventPattern='{"source": ["shop"]}', State="DISABLED")
    rules = ev("ListRules")["Rules"]
    assert [r["Name"] for r in rules] == ["every", "orders"] and "CreatedBy" not in rules[0]
    assert rules[1]["State"] == "DISABLED" and rules[1]["EventPattern"] == '{"source": ["shop"]}'
    assert [r["Name"] for r in ev("ListRules", NamePrefix="or")["Rules"]] == ["orders"]
    first = ev("ListRules", Limit=1)
    assert [r["Name"] for r in first["Rules"]] == ["every"]
    second = ev("ListRules", Limit=1, NextToken=first["NextToken"])
    assert [r["Name"] for r in second["Rules"]] == ["orders"] and "NextToken" not in second
    assert ev.published[-1] == RuleChanged("default", "orders")


@pytest.mark.parametrize("request_, expected", [
    ({"Name": "r"}, ("ValidationException", "Parameter(s) EventPattern or ScheduleExpression must be specified.")),
    ({"Name": "r", "ScheduleExpression": "rate(1 minutes)"},
     ("ValidationException", "Parameter ScheduleExpression is not valid.")),
    ({"Name": "r", "ScheduleExpression": "cron(0 1 * * * *)"},
     ("ValidationException", "Parameter ScheduleExpression is not valid.")),
    ({"Name": "r", "EventPattern": '{"source": []}'},
     ("InvalidEventPatternException", "Event pattern is not valid. Reason: Empty arrays are not allowed")),
    ({"Name": "r", "EventPattern": '{"a": 1}'},
     ("InvalidEventPatternException", 'Event pattern is not valid. Reason: "a" must be an object or an array')),
    ({"Name": "r", "EventPattern": "[]"}, ("InvalidEventPatternException",
                                          "Event pattern is not valid. Reason: Filter is not an object")),
    ({"Name": "r", "EventPattern": '{"a": ["x"]}', "EventBusName": "nope"},
     ("ResourceNotFoundException", "Event bus nope does not exist.")),
])
def test_put_rule_errors(ev, request_, expected):
    assert ev.error("PutRule", **request_) == expected


def test_schedule_only_on_the_default_bus(ev):
    ev("CreateEventBus", Name="custom")
    assert ev.error("PutRule", Name="r", ScheduleExpression="rate(1 minute)", EventBusName="custom") == (
        "ValidationException", "ScheduleExpression is supported only on the default event bus.")
    assert ev("PutRule", Name="r", EventPattern='{"source": ["x"]}', EventBusName="custom") == {
        "RuleArn": f"{RULE}/custom/r"}
    assert ev("DescribeRule", Name="r", EventBusName="arn:aws:events:us-east-1:000000000000:event-bus/custom")[
        "EventBusName"] == "custom"


def test_missing_rule_texts(ev):
    assert ev.error("DescribeRule", Name="x") == ("ResourceNotFoundException", "Rule x does not exist on EventBus default.")
    assert ev.error("EnableRule", Name="x")[0] == "ResourceNotFoundException"
    assert ev.error("PutTargets", Rule="x", Targets=[{"Id": "a", "Arn": f"{FN}:f"}]) == (
        "ResourceNotFoundException", "Rule x does not exist on EventBus default.")
    assert ev("DeleteRule", Name="x") == {}  # deleting a missing rule succeeds


def test_targets_and_delete_rule(ev):
    ev("PutRule", Name="r", ScheduleExpression="rate(1 hour)")
    result = ev("PutTargets", Rule="r", Targets=[{"Id": "a", "Arn": f"{FN}:f"}, {"Id": "b", "Arn": f"{FN}:g:live"},
                                                 {"Id": "q", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"}])
    assert result["FailedEntryCount"] == 1 and result["FailedEntries"][0]["TargetId"] == "q"
    assert [t["Id"] for t in ev("ListTargetsByRule", Rule="r")["Targets"]] == ["a", "b"]
    ev("PutTargets", Rule="r", Targets=[{"Id": "a", "Arn": f"{FN}:f", "Input": '{"x": 1}'}])
    assert ev("ListTargetsByRule", Rule="r")["Targets"][0] == {"Id": "a", "Arn": f"{FN}:f", "Input": '{"x": 1}'}
    assert ev("ListRuleNamesByTarget", TargetArn=f"{FN}:g:live") == {"RuleNames": ["r"]}
    assert ev("ListRuleNamesByTarget", TargetArn=f"{FN}:none") == {"RuleNames": []}
    assert ev.error("DeleteRule", Name="r") == ("ValidationException", "Rule can't be deleted since it has targets.")
    removed = ev("RemoveTargets", Rule="r", Ids=["a", "zz"])
    assert removed == {"FailedEntryCount": 1, "FailedEntries": [{
        "TargetId": "zz", "ErrorCode": "ResourceNotFoundException",
        "ErrorMessage": "Rule 'r' does not have a target with the Id 'zz'."}]}
    ev("RemoveTargets", Rule="r", Ids=["b"])
    assert ev("DeleteRule", Name="r") == {}
    assert ev.error("DescribeRule", Name="r")[0] == "ResourceNotFoundException"


def test_target_limit_and_input_checks(ev):
    ev("PutRule", Name="r", EventPattern='{"source": ["s"]}')
    ev("PutTargets", Rule="r", Targets=[{"Id": str(i), "Arn": f"{FN}:f"} for i in range(5)])
    assert ev.error("PutTargets", Rule="r", Targets=[{"Id": "6", "Arn": f"{FN}:f"}]) == (
        "LimitExceededException", "The requested resource exceeds the maximum number allowed.")
    ev("PutTargets", Rule="r", Targets=[{"Id": "0", "Arn": f"{FN}:g"}])  # replacing one is not adding one
    assert ev.error("PutTargets", Rule="r", Targets=[{"Id": "0", "Arn": f"{FN}:f", "Input": "{}",
                                                      "InputPath": "$"}]) == (
        "ValidationException", "Only one of Input, InputPath, or InputTransformer must be provided for target 0.")


def test_buses(ev):
    assert ev("CreateEventBus", Name="orders", Description="d") == {
        "EventBusArn": "arn:aws:events:us-east-1:000000000000:event-bus/orders", "Description": "d"}
    assert ev.error("CreateEventBus", Name="orders") == ("ResourceAlreadyExistsException",
                                                        "Event bus orders already exists.")
    assert [b["Name"] for b in ev("ListEventBuses")["EventBuses"]] == ["default", "orders"]
    assert ev("DescribeEventBus", Name="orders")["Description"] == "d"
    assert ev("DescribeEventBus")["Name"] == "default"
    assert ev.error("DeleteEventBus", Name="default") == ("ValidationException", "Cannot delete event bus default.")
    ev("PutRule", Name="r", EventPattern='{"source": ["s"]}', EventBusName="orders")
    ev("DeleteEventBus", Name="orders")
    assert ev.error("DescribeEventBus", Name="orders") == ("ResourceNotFoundException",
                                                          "Event bus orders does not exist.")
    assert ev.error("ListRules", EventBusName="orders")[0] == "ResourceNotFoundException"


def test_tags(ev):
    arn = ev("PutRule", Name="r", ScheduleExpression="rate(1 day)", Tags=[{"Key": "a", "Value": "1"}])["RuleArn"]
    ev("TagResource", ResourceARN=arn, Tags=[{"Key": "b", "Value": "2"}])
    ev("UntagResource", ResourceARN=arn, TagKeys=["a"])
    assert ev("ListTagsForResource", ResourceARN=arn) == {"Tags": [{"Key": "b", "Value": "2"}]}
    bus = ev("CreateEventBus", Name="x", Tags=[{"Key": "k", "Value": "v"}])["EventBusArn"]
    assert ev("ListTagsForResource", ResourceARN=bus) == {"Tags": [{"Key": "k", "Value": "v"}]}
    assert ev.error("TagResource", ResourceARN=f"{RULE}/none", Tags=[])[0] == "ResourceNotFoundException"


def test_put_events_routes_by_pattern_with_aws_envelope(ev):
    ev("PutRule", Name="shop", EventPattern='{"source": ["shop"], "detail": {"total": [{"numeric": [">", 100]}]}}')
    ev("PutTargets", Rule="shop", Targets=[{"Id": "big", "Arn": f"{FN}:big"},
                                           {"Id": "path", "Arn": f"{FN}:path:live", "InputPath": "$.detail.total"}])
    ev("PutRule", Name="off", EventPattern='{"source": ["shop"]}', State="DISABLED")
    ev("PutTargets", Rule="off", Targets=[{"Id": "x", "Arn": f"{FN}:never"}])
    result = ev("PutEvents", Entries=[
        {"Source": "shop", "DetailType": "Order", "Detail": '{"total": 150}', "Resources": ["arn:x"]},
        {"Source": "shop", "DetailType": "Order", "Detail": '{"total": 50}'},
        {"Source": "other", "DetailType": "Order", "Detail": '{"total": 500}', "Time": 1_772_359_000},
        {"Source": "shop", "DetailType": "Order", "Detail": '{"total": 150}', "EventBusName": "missing"},
    ])
    assert result["FailedEntryCount"] == 0 and all("EventId" in e for e in result["Entries"])
    assert [d.function_arn for d in ev.delivered] == [f"{FN}:big", f"{FN}:path:live"]
    event = json.loads(ev.delivered[0].payload)
    assert event == {"version": "0", "id": result["Entries"][0]["EventId"], "detail-type": "Order", "source": "shop",
                     "account": "000000000000", "time": "2026-03-01T10:00:00Z", "region": "us-east-1",
                     "resources": ["arn:x"], "detail": {"total": 150}}
    assert ev.delivered[1].payload == b"150" and ev.delivered[0].rule_arn == f"{RULE}/shop"


@pytest.mark.parametrize("entry, code, message", [
    ({"DetailType": "t", "Detail": "{}"}, "InvalidArgument", "Parameter Source is not valid. Reason: Source is a "
                                                            "required argument."),
    ({"Source": "s", "Detail": "{}"}, "InvalidArgument", "Parameter DetailType is not valid. Reason: DetailType is "
                                                         "a required argument."),
    ({"Source": "s", "DetailType": "t"}, "InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a "
                                                            "required argument."),
    ({"Source": "s", "DetailType": "t", "Detail": "[1]"}, "MalformedDetail", "Detail is malformed."),
    ({"Source": "s", "DetailType": "t", "Detail": "{oops"}, "MalformedDetail", "Detail is malformed."),
    ({"Source": "s", "DetailType": "t", "Detail": '{"a": NaN}'}, "MalformedDetail", "Detail is malformed."),
    ({"Source": "aws.ec2", "DetailType": "t", "Detail": "{}"}, "NotAuthorizedForSourceException",
     "Not authorized for the source."),
])
def test_put_events_entry_errors(ev, entry, code, message):
    result = ev("PutEvents", Entries=[entry, {"Source": "s", "DetailType": "t", "Detail": "{}"}])
    assert result["FailedEntryCount"] == 1
    assert result["Entries"][0] == {"ErrorCode": code, "ErrorMessage": message}
    assert "EventId" in result["Entries"][1]


def test_put_events_size_limit(ev):
    detail = json.dumps({"x": "y" * 30_000})
    entries = [{"Source": "s", "DetailType": "t", "Detail": detail}] * 9
    assert ev.error("PutEvents", Entries=entries) == (
        "ValidationException", "Total size of the entries in the request is over the limit.")


def test_scheduled_rules_fire_their_envelope_once_per_minute(ev):
    ev("PutRule", Name="tick", ScheduleExpression="rate(1 minute)")
    ev("PutTargets", Rule="tick", Targets=[{"Id": "a", "Arn": f"{FN}:f"},
                                           {"Id": "b", "Arn": f"{FN}:g", "InputTransformer": {
                                               "InputPathsMap": {"t": "$.time"},
                                               "InputTemplate": '{"at": <t>, "rule": <aws.events.rule-name>}'}}])
    [rule] = ev.rules.scheduled()
    assert (rule.anchor, rule.last_fired, rule.enabled) == (1000, 1000, True)
    assert ev.rules.claim(rule, 1001) and not ev.rules.claim(rule, 1001)
    ev.rules.fire(rule, 1001)
    event = json.loads(ev.delivered[0].payload)
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"] == [f"{RULE}/tick"] and event["detail"] == {}
    assert event["time"] == "1970-01-01T16:41:00Z"  # minute 1001
    assert json.loads(ev.delivered[1].payload) == {"at": "1970-01-01T16:41:00Z", "rule": "tick"}


def test_disabled_minutes_are_not_fired_after_enable(ev):
    ev("PutRule", Name="tick", ScheduleExpression="rate(1 minute)")
    ev("DisableRule", Name="tick")
    assert not ev.rules.scheduled()[0].enabled
    ev.minute = 1050
    ev("EnableRule", Name="tick")
    rule = ev.rules.scheduled()[0]
    assert rule.enabled and rule.last_fired == 1050 and rule.anchor == 1000
    ev.minute = 1060
    ev("PutRule", Name="tick", ScheduleExpression="rate(1 minute)", Description="same schedule")
    assert ev.rules.scheduled()[0].anchor == 1000 and ev.rules.scheduled()[0].last_fired == 1050
    ev("PutRule", Name="tick", ScheduleExpression="rate(2 minutes)")
    assert (ev.rules.scheduled()[0].anchor, ev.rules.scheduled()[0].last_fired) == (1060, 1060)


def test_unsupported_features_are_refused_clearly(ev):
    assert ev.error("PutEvents", EndpointId="abc.xyz", Entries=[{"Source": "s", "DetailType": "t", "Detail": "{}"}]) == (
        "ValidationException", "lamina does not support global endpoints (EndpointId).")
    assert ev.error("CreateEventBus", Name="k", KmsKeyIdentifier="key") == (
        "ValidationException", "lamina does not support KmsKeyIdentifier on event buses.")
    ev("PutRule", Name="r", EventPattern='{"source": ["s"]}')
    result = ev("PutTargets", Rule="r", Targets=[{"Id": "a", "Arn": f"{FN}:f", "SqsParameters": {"MessageGroupId": "g"}}])
    assert result["FailedEntries"] == [{"TargetId": "a", "ErrorCode": "ValidationException",
                                        "ErrorMessage": "SqsParameters does not apply to a Lambda function target."}]
    assert ev("ListTargetsByRule", Rule="r")["Targets"] == []


def test_a_put_rule_never_moves_a_claimed_minute_back(ev):
    ev("PutRule", Name="tick", ScheduleExpression="rate(1 minute)")
    [rule] = ev.rules.scheduled()
    assert ev.rules.claim(rule, 1005)  # the clock claims minute 1005 while PutRule holds the older row
    ev.minute = 1003
    ev("PutRule", Name="tick", ScheduleExpression="rate(1 minute)", Description="edited")
    assert ev.rules.scheduled()[0].last_fired == 1005
    assert not ev.rules.claim(rule, 1005)


def test_rewind(ev):
    ev("PutRule", Name="tick", ScheduleExpression="rate(1 minute)")
    [rule] = ev.rules.scheduled()
    assert ev.rules.claim(rule, 99_999)
    ev.rules.rewind(rule, 500)
    rule = ev.rules.scheduled()[0]
    assert (rule.anchor, rule.last_fired) == (500, 500)
    assert ev.rules.claim(rule, 501)
