"""The authorize step in dispatch: the Lambda routes, the Invoke fast lane and the Logs endpoint
ask it before running a call, and answer a denial with AWS's AccessDenied in their protocol."""

from __future__ import annotations

import json
from types import SimpleNamespace

from starlette.testclient import TestClient

from lamina.api.app import Api, create_app
from lamina.api.authorization import query_denied
from lamina.authz.authorizer import Authorizer
from lamina.identity import Caller
from lamina.invoke import Outcome

ACCOUNT = "000000000000"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
FN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f"
READ_ONLY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["lambda:Get*", "lambda:List*", "logs:Describe*"], "Resource": "*"}]})


class FakeInvoker:
    def __init__(self) -> None:
        self.calls = []

    async def invoke(self, call):
        self.calls.append(call)
        return Outcome(status=202, request_id="rid-1")


class FakeLogs:
    OPERATIONS = {"DescribeLogGroups": "d", "CreateLogGroup": "c"}

    def call(self, operation, params):
        return {"logGroups": []} if operation == "DescribeLogGroups" else {}


def client(invoker=None):
    authorizer = Authorizer(region="us-east-1", account_id=ACCOUNT, identity_policies=lambda caller: [READ_ONLY])
    control = SimpleNamespace(functions=SimpleNamespace(list=lambda **kw: ([], None)))
    app = create_app(Api(control=control, max_timeout=900, health=dict, invoker=invoker, logs=FakeLogs(),
                         authenticate=lambda view, body=b"": Caller(ACCOUNT, ALICE, authenticated=True),
                         authorize=authorizer.check))
    return TestClient(app, raise_server_exceptions=False)


def test_lambda_route_denied_with_access_denied_exception():
    response = client().delete("/2015-03-31/functions/f")
    assert response.status_code == 403
    assert response.headers["x-amzn-errortype"] == "AccessDeniedException"
    assert response.json() == {"Type": "User", "Message": (
        f"User: {ALICE} is not authorized to perform: lambda:DeleteFunction on resource: {FN} because no "
        "identity-based policy allows the lambda:DeleteFunction action")}


def test_lambda_route_allowed():
    assert client().get("/2015-03-31/functions").status_code == 200


def test_fast_lane_denied_before_invoking():
    invoker = FakeInvoker()
    response = client(invoker).post("/2015-03-31/functions/f/invocations?Qualifier=live",
                                    headers={"X-Amz-Invocation-Type": "Event"}, content=b"{}")
    assert response.status_code == 403
    assert response.json()["Message"] == (
        f"User: {ALICE} is not authorized to perform: lambda:InvokeFunction on resource: {FN}:live because no "
        "identity-based policy allows the lambda:InvokeFunction action")
    assert invoker.calls == []


def test_logs_denied_in_json11():
    headers = {"X-Amz-Target": "Logs_20140328.CreateLogGroup", "Content-Type": "application/x-amz-json-1.1"}
    response = client().post("/", headers=headers, content=json.dumps({"logGroupName": "/aws/lambda/f"}))
    assert response.status_code == 400
    assert response.json() == {"__type": "AccessDeniedException", "message": (
        f"User: {ALICE} is not authorized to perform: logs:CreateLogGroup on resource: "
        f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/f:log-stream: because no identity-based policy "
        "allows the logs:CreateLogGroup action")}
    headers["X-Amz-Target"] = "Logs_20140328.DescribeLogGroups"
    assert client().post("/", headers=headers, content=b"{}").status_code == 200


def test_query_protocol_denial():
    denial = Authorizer(region="us-east-1", account_id=ACCOUNT).check(
        Caller(ACCOUNT, ALICE), "sts", "AssumeRole", {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/r"})
    response = query_denied(denial, "sts")
    assert response.status == 403
    assert response.body.decode().startswith(
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        f"<Code>AccessDenied</Code><Message>User: {ALICE} is not authorized to perform: sts:AssumeRole on "
        f"resource: arn:aws:iam::{ACCOUNT}:role/r</Message></Error><RequestId>")  # STS words it bare
