"""lamina.api.events and the JSON 1.1 routing of `POST /` by X-Amz-Target prefix: model checks,
AWS's error bodies, unknown targets, and the Logs endpoint still beside it."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from starlette.testclient import TestClient

from lamina.api.app import Api, create_app
from lamina.control.rules import EventsError, Rules
from lamina.identity import Caller

ACCOUNT = "000000000000"


class FakeRules:
    OPERATIONS = Rules.OPERATIONS

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def call(self, operation: str, request: dict) -> dict:
        self.calls.append((operation, request))
        if request.get("Name") == "missing":
            raise EventsError("ResourceNotFoundException", "Rule missing does not exist on EventBus default.")
        if request.get("Name") == "boom":
            raise RuntimeError("bug")
        return {"RuleArn": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{request.get('Name')}"}


class FakeLogs:
    OPERATIONS = {"DescribeLogGroups": "describe_log_groups"}

    def call(self, operation: str, request: dict) -> dict:
        return {"logGroups": []}


@pytest.fixture
def client():
    rules = FakeRules()
    app = create_app(Api(control=SimpleNamespace(), max_timeout=900, health=lambda: {},
                         authenticate=lambda view, body=b"": Caller(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root"),
                         logs=FakeLogs(), rules=rules))
    test_client = TestClient(app, raise_server_exceptions=False)
    test_client.rules = rules
    return test_client


def post(client, target: str, body) -> tuple[int, dict]:
    response = client.post("/", headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
                           content=body if isinstance(body, bytes) else json.dumps(body).encode())
    return response.status_code, response.json()


def test_an_operation_reaches_the_rules(client):
    assert post(client, "AWSEvents.PutRule", {"Name": "r", "ScheduleExpression": "rate(1 minute)"}) == (
        200, {"RuleArn": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/r"})
    assert client.rules.calls == [("PutRule", {"Name": "r", "ScheduleExpression": "rate(1 minute)"})]


@pytest.mark.parametrize("target, body, status, expected", [
    ("AWSEvents.DescribeRule", {"Name": "missing"}, 400,
     {"__type": "ResourceNotFoundException", "message": "Rule missing does not exist on EventBus default."}),
    ("AWSEvents.PutRule", {}, 400, {"__type": "ValidationException", "message":
                                    "1 validation error detected: Value null at 'name' failed to satisfy constraint: "
                                    "Member must not be null"}),
    ("AWSEvents.PutRule", {"Name": "bad name"}, 400, {"__type": "ValidationException", "message":
                                                      "1 validation error detected: Value 'bad name' at 'name' failed "
                                                      "to satisfy constraint: Member must satisfy regular expression "
                                                      "pattern: [\\.\\-_A-Za-z0-9]+"}),
    ("AWSEvents.PutRule", b"[1]", 400, {"__type": "SerializationException",
                                        "message": "The request body is not a JSON object."}),
    ("AWSEvents.PutPermission", {}, 400, {"__type": "UnknownOperationException",
                                          "message": "lamina does not implement the operation PutPermission."}),
    ("Nope_2020.Thing", {}, 400, {"__type": "UnknownOperationException",
                                  "message": "lamina does not implement the operation Thing."}),
    ("AWSEvents.DescribeRule", {"Name": "boom"}, 500, {"__type": "InternalException",
                                                      "message": "An internal error occurred in lamina; see its log."}),
])
def test_errors(client, target, body, status, expected):
    assert post(client, target, body) == (status, expected)


def test_logs_still_share_the_port(client):
    assert post(client, "Logs_20140328.DescribeLogGroups", {}) == (200, {"logGroups": []})
