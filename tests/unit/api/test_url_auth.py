"""The function URL check (lamina.api.url_auth.url_authorizer) as a table: with auth on, AWS_IAM
needs a verified signature and lambda:InvokeFunctionUrl, NONE a public grant; with auth off NONE is
open and AWS_IAM needs the form, and a signature by a key lamina issued is verified."""

from __future__ import annotations

import pytest

from lamina.api.pipeline import RequestView
from lamina.api.url_auth import Forbidden, url_authorizer
from lamina.errors import AuthenticationError
from lamina.identity import Caller
from lamina.model import FunctionUrlConfig

A, R = "123456789012", "us-east-1"
SIGNED = {b"authorization": b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE12345/20250101/us-east-1/lambda/aws4_request, "
                            b"SignedHeaders=host;x-amz-date, Signature=" + b"a" * 64, b"x-amz-date": b"x", b"host": b"h"}
ALICE = Caller(A, f"arn:aws:iam::{A}:user/alice", "AKIDEXAMPLE12345", authenticated=True, kind="user",
               user_name="alice", user_id="AIDAALICE")
ANON = Caller(A, f"arn:aws:iam::{A}:root")
MISMATCH = AuthenticationError("InvalidSignatureException", "SignatureDoesNotMatch", "mismatch")
UNKNOWN = AuthenticationError("UnrecognizedClientException", "InvalidClientTokenId", "unknown")


def config(auth_type: str, qualifier: str = "$LATEST") -> FunctionUrlConfig:
    return FunctionUrlConfig("f", qualifier, "a" * 32, auth_type, None, None, "t", "t")


def verifier(outcome):
    def verify(view, body):
        if isinstance(outcome, Exception):
            raise outcome
        return outcome
    return verify


def run(*, enforcing, auth_type, headers, verify=ALICE, allowed=True, public=False, qualifier="$LATEST"):
    seen = {}

    def check(caller, service, operation, params):
        seen.update(caller=caller, operation=operation, params=params)
        return None if allowed else "denied"

    def anyone(action, resource, context):
        seen.update(public=(action, resource, dict(context)))
        return public

    authorize = url_authorizer(R, A, enforcing=enforcing, verify=verifier(verify) if verify is not None else None,
                               check=check, public=anyone)
    view = RequestView("GET", "/", b"", headers, "127.0.0.1")
    return authorize(view, b"", ANON, config(auth_type, qualifier)), seen


ARN = f"arn:aws:lambda:{R}:{A}:function:f"


@pytest.mark.parametrize("kwargs, outcome", [
    # auth on, AWS_IAM
    (dict(enforcing=True, auth_type="AWS_IAM", headers=SIGNED), "alice"),
    (dict(enforcing=True, auth_type="AWS_IAM", headers=SIGNED, allowed=False), Forbidden),
    (dict(enforcing=True, auth_type="AWS_IAM", headers=SIGNED, verify=MISMATCH), Forbidden),
    (dict(enforcing=True, auth_type="AWS_IAM", headers=SIGNED, verify=UNKNOWN), Forbidden),
    (dict(enforcing=True, auth_type="AWS_IAM", headers={}), Forbidden),  # unsigned
    # auth on, NONE
    (dict(enforcing=True, auth_type="NONE", headers={}, public=True), None),
    (dict(enforcing=True, auth_type="NONE", headers={}, public=False), Forbidden),
    # auth off
    (dict(enforcing=False, auth_type="NONE", headers={}), None),
    (dict(enforcing=False, auth_type="AWS_IAM", headers={}), Forbidden),  # unsigned
    (dict(enforcing=False, auth_type="AWS_IAM", headers=SIGNED, verify=UNKNOWN), "anonymous"),  # form only
    (dict(enforcing=False, auth_type="AWS_IAM", headers=SIGNED, verify=MISMATCH), Forbidden),  # a known key, wrong
    (dict(enforcing=False, auth_type="AWS_IAM", headers=SIGNED), "alice"),
    (dict(enforcing=False, auth_type="AWS_IAM", headers=SIGNED, verify=None), "anonymous"),
])
def test_url_authorizer(kwargs, outcome):
    if outcome is Forbidden:
        with pytest.raises(Forbidden):
            run(**kwargs)
        return
    member, seen = run(**kwargs)
    if outcome is None:
        assert member is None
    elif outcome == "alice":
        assert member == {"accessKey": "AKIDEXAMPLE12345", "accountId": A, "callerId": "AIDAALICE",
                          "cognitoIdentity": None, "principalOrgId": None,
                          "userArn": f"arn:aws:iam::{A}:user/alice", "userId": "AIDAALICE"}
    else:
        assert member["userArn"] == ANON.principal_arn and member["accessKey"] == "AKIDEXAMPLE12345"


def test_the_checks_name_the_qualified_function_and_the_auth_type():
    _, seen = run(enforcing=True, auth_type="AWS_IAM", headers=SIGNED, qualifier="live")
    assert seen["operation"] == "InvokeFunctionUrl" and seen["caller"] is ALICE
    assert seen["params"] == {"FunctionName": ARN + ":live", "FunctionUrlAuthType": "AWS_IAM"}
    _, seen = run(enforcing=True, auth_type="NONE", headers={}, public=True)
    assert seen["public"] == ("lambda:InvokeFunctionUrl", ARN,
                              {"lambda:functionurlauthtype": "NONE", "aws:sourceip": "127.0.0.1"})


def test_an_enforcing_authorizer_needs_its_checks():
    with pytest.raises(ValueError):
        url_authorizer(R, A, enforcing=True)
