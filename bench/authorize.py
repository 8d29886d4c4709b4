"""Authorization benchmark: the cost of the authorize step each dispatched call takes, per caller
kind, next to a reference measured in the same run (a bare dict lookup + a Python call, the least
any per-request step costs).

Run: .venv/bin/python bench/authorize.py [--calls 50000]
Prints one JSON line per figure (microseconds per call, median of 5 rounds). Target: the
evaluator adds well under 0.1 ms to a warm invoke for a user with a few policies; the root
(admin key, or any caller of an unsigned deployment) costs about the reference.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import emit  # noqa: E402

from lamina.authz.authorizer import Authorizer  # noqa: E402

ACCOUNT, REGION = "123456789012", "us-east-1"
FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"


class Caller:
    def __init__(self, arn, account=ACCOUNT):
        self.principal_arn, self.account_id, self.source_ip = arn, account, "127.0.0.1"


FULL_ACCESS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["lambda:*", "logs:*", "iam:Get*", "iam:List*"], "Resource": "*"},
    {"Effect": "Deny", "Action": "lambda:DeleteFunction", "Resource": "*",
     "Condition": {"NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}}}]})
BASIC = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
     "Resource": "*"}]})
RESOURCE = json.dumps({"Version": "2012-10-17", "Id": "default", "Statement": [
    {"Sid": "x", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
     "Action": "lambda:InvokeFunction", "Resource": FN},
    {"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction",
     "Resource": FN, "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"}}},
    {"Sid": "FunctionURLAllowPublicAccess", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl",
     "Resource": FN, "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}}]})


def per_call_us(fn, calls: int) -> float:
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        rounds.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=50000)
    args = parser.parse_args()
    policies = {f"arn:aws:iam::{ACCOUNT}:user/alice": [FULL_ACCESS, BASIC],
                "arn:aws:iam::111122223333:user/bob": [FULL_ACCESS]}
    auth = Authorizer(region=REGION, account_id=ACCOUNT,
                      identity_policies=lambda caller: policies.get(caller.principal_arn, ()),
                      resource_policy=lambda arn: ("r1", RESOURCE) if arn == FN else None)
    params = {"FunctionName": "f", "Qualifier": None}
    table = {"f": 1}
    emit(figure="reference (dict lookup + call)", us_per_call=round(
        per_call_us(lambda: table.get(params["FunctionName"]), args.calls), 3))
    for name, caller in (("root", Caller(f"arn:aws:iam::{ACCOUNT}:root")),
                         ("same-account user, 2 identity policies", Caller(f"arn:aws:iam::{ACCOUNT}:user/alice")),
                         ("cross-account user + resource policy", Caller("arn:aws:iam::111122223333:user/bob",
                                                                         "111122223333"))):
        assert auth.check(caller, "lambda", "Invoke", params) is None, name
        emit(figure=f"authorize Invoke: {name}", us_per_call=round(
            per_call_us(lambda c=caller: auth.check(c, "lambda", "Invoke", params), args.calls), 3))
    emit(figure="may_invoke s3.amazonaws.com", us_per_call=round(per_call_us(
        lambda: auth.may_invoke("s3.amazonaws.com", FN, "arn:aws:s3:::bucket", ACCOUNT), args.calls), 3))
    # A NONE function URL with auth on: the public grant, per request.
    context = {"lambda:functionurlauthtype": "NONE", "aws:sourceip": "127.0.0.1"}
    assert auth.allows_anyone("lambda:InvokeFunctionUrl", FN, context)
    emit(figure="allows_anyone InvokeFunctionUrl (NONE URL)", us_per_call=round(per_call_us(
        lambda: auth.allows_anyone("lambda:InvokeFunctionUrl", FN, context), args.calls), 3))
    url_params = {"FunctionName": FN, "FunctionUrlAuthType": "AWS_IAM"}
    alice = Caller(f"arn:aws:iam::{ACCOUNT}:user/alice")
    emit(figure="authorize InvokeFunctionUrl (AWS_IAM URL): same-account user", us_per_call=round(per_call_us(
        lambda: auth.check(alice, "lambda", "InvokeFunctionUrl", url_params), args.calls), 3))


if __name__ == "__main__":
    main()
