"""Target input shaping (reference 3.6): Input, InputPath, InputTransformer, and PutTargets' checks."""

from __future__ import annotations

import json

import pytest

from lamina.control.target_input import Context, check, render

EVENT = {
    "version": "0", "id": "e-1", "detail-type": "Order Placed", "source": "shop", "account": "000000000000",
    "time": "2026-03-01T10:00:00Z", "region": "us-east-1", "resources": ["arn:r1", "arn:r2"],
    "detail": {"state": "RUNNING", "instance": "i-123", "count": 3, "tags": {"a": "b"}, "items": [{"sku": "x"}],
               "quote": 'say "hi"', "nothing": None},
}
CONTEXT = Context(rule_arn="arn:aws:events:us-east-1:000000000000:rule/r", rule_name="r",
                  ingestion_time="2026-03-01T10:00:01Z")


def transformer(template: str, paths: dict | None = None) -> dict:
    out = {"Id": "t", "Arn": "a", "InputTransformer": {"InputTemplate": template}}
    if paths is not None:
        out["InputTransformer"]["InputPathsMap"] = paths
    return out


RENDER = [
    ({"Id": "t"}, EVENT),
    ({"Id": "t", "Input": '{"fixed": true}'}, {"fixed": True}),
    ({"Id": "t", "Input": '"text"'}, "text"),
    ({"Id": "t", "InputPath": "$.detail"}, EVENT["detail"]),
    ({"Id": "t", "InputPath": "$.detail.state"}, "RUNNING"),
    ({"Id": "t", "InputPath": "$.detail.items[0].sku"}, "x"),
    ({"Id": "t", "InputPath": "$.resources[1]"}, "arn:r2"),
    ({"Id": "t", "InputPath": "$['detail-type']"}, "Order Placed"),
    ({"Id": "t", "InputPath": "$.detail.missing"}, None),
    ({"Id": "t", "InputPath": "$"}, EVENT),
    # JSON templates: outside quotes the JSON value, inside quotes the text.
    (transformer('{"state": <state>, "n": <n>, "tags": <tags>}',
                 {"state": "$.detail.state", "n": "$.detail.count", "tags": "$.detail.tags"}),
     {"state": "RUNNING", "n": 3, "tags": {"a": "b"}}),
    (transformer('{"msg": "<instance> is in state <state>"}', {"instance": "$.detail.instance", "state": "$.detail.state"}),
     {"msg": "i-123 is in state RUNNING"}),
    (transformer('"<instance> is in state <state>"', {"instance": "$.detail.instance", "state": "$.detail.state"}),
     "i-123 is in state RUNNING"),
    (transformer('{"n": "count <n>"}', {"n": "$.detail.count"}), {"n": "count 3"}),
    (transformer('{"q": "<q>", "raw": <q>}', {"q": "$.detail.quote"}), {"q": 'say "hi"', "raw": 'say "hi"'}),
    (transformer('{"gone": <m>, "text": "<m>"}', {"m": "$.detail.missing"}), {"gone": None, "text": ""}),
    (transformer('{"null": <z>}', {"z": "$.detail.nothing"}), {"null": None}),
    (transformer('{"rule": <aws.events.rule-name>, "arn": "<aws.events.rule-arn>", '
                 '"at": <aws.events.event.ingestion-time>, "event": <aws.events.event.json>}'),
     {"rule": "r", "arn": CONTEXT.rule_arn, "at": "2026-03-01T10:00:01Z", "event": EVENT}),
    (transformer('{"a": "x \\" <s> y"}', {"s": "$.detail.state"}), {"a": 'x " RUNNING y'}),
]


@pytest.mark.parametrize("target, expected", RENDER)
def test_render(target, expected):
    assert json.loads(render(target, EVENT, CONTEXT)) == expected


def test_a_text_template_without_quotes_is_sent_as_text():
    target = transformer("<instance> is <state>", {"instance": "$.detail.instance", "state": "$.detail.state"})
    assert render(target, EVENT, CONTEXT) == b'"i-123" is "RUNNING"'


CHECKS = [
    ({"Id": "t", "Arn": "a"}, None),
    ({"Id": "t", "Arn": "a", "Input": "{}", "InputPath": "$.detail"},
     "Only one of Input, InputPath, or InputTransformer must be provided for target t."),
    ({"Id": "t", "Arn": "a", "InputPath": "$", "InputTransformer": {"InputTemplate": "{}"}},
     "Only one of Input, InputPath, or InputTransformer must be provided for target t."),
    ({"Id": "t", "Arn": "a", "Input": "{nope"}, "Input for target t is not valid JSON text."),
    ({"Id": "t", "Arn": "a", "InputPath": "detail"}, "InputPath for target t is not a valid JsonPath."),
    ({"Id": "t", "Arn": "a", "InputPath": "$.a..b"}, "InputPath for target t is not a valid JsonPath."),
    (transformer('{"x": <y>}', {"x": "$.detail"}), "InputTemplate for target t contains invalid placeholder y."),
    (transformer('{"x": <x>}', {"x": "nope"}), "InputPathsMap for target t contains invalid JsonPath nope."),
    (transformer('{"x": <aws.events.rule-name>}'), None),
    (transformer('{"x": <x>}', {"x": "$.detail"}), None),
]


@pytest.mark.parametrize("target, expected", CHECKS)
def test_check(target, expected):
    assert check(target) == expected
