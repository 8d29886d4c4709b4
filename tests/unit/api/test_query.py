"""The query protocol: form bodies decoded by the iam/sts models, XML that botocore parses back."""

from __future__ import annotations

import datetime
import json

import pytest
from botocore.parsers import QueryParser

from lamina.api import query
from lamina.errors import AuthenticationError, IamError


def parse(service: str, action: str, raw) -> dict:
    """What boto3 makes of an answer (its parser, then the IAM handler that decodes policy documents)."""
    op = query.operation(service, action)
    parsed = QueryParser().parse({"body": raw.body, "headers": dict((k.decode(), v.decode()) for k, v in raw.headers),
                                  "status_code": raw.status}, op.output_shape)
    from botocore.handlers import json_decode_policies
    json_decode_policies(parsed, op)
    return parsed


def test_form_members_lists_and_structures_decode():
    op = query.operation("iam", "CreateRole")
    params = query.decode(op, [("Action", "CreateRole"), ("Version", "2010-05-08"), ("RoleName", "r"),
                               ("AssumeRolePolicyDocument", "{}"), ("MaxSessionDuration", "7200"),
                               ("Tags.member.1.Key", "k"), ("Tags.member.1.Value", "v"),
                               ("Tags.member.2.Key", "k2"), ("Tags.member.2.Value", "")])
    assert params == {"RoleName": "r", "AssumeRolePolicyDocument": "{}", "MaxSessionDuration": 7200,
                      "Tags": [{"Key": "k", "Value": "v"}, {"Key": "k2", "Value": ""}]}


@pytest.mark.parametrize(("pairs", "message"), [
    ([("RoleName", "bad name!"), ("AssumeRolePolicyDocument", "{}")],
     "1 validation error detected: Value 'bad name!' at 'roleName' failed to satisfy constraint: Member must "
     "satisfy regular expression pattern: [\\w+=,.@-]+"),
    ([("RoleName", "r"), ("AssumeRolePolicyDocument", "{}"), ("MaxSessionDuration", "x")],
     "1 validation error detected: Value 'x' at 'maxSessionDuration' failed to satisfy constraint: Member must be "
     "a number"),
])
def test_invalid_members_are_validation_errors(pairs, message):
    with pytest.raises(IamError) as caught:
        query.decode(query.operation("iam", "CreateRole"), pairs)
    assert (caught.value.code, caught.value.message) == ("ValidationError", message)


def test_answers_parse_as_boto3_expects_with_documents_url_encoded():
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "a:%b", "Resource": "<&>"}]}
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    role = {"Path": "/", "RoleName": "r", "RoleId": "AROA" + "A" * 17, "Arn": "arn:aws:iam::1:role/r",
            "CreateDate": when, "AssumeRolePolicyDocument": json.dumps(document), "MaxSessionDuration": 3600,
            "Tags": [{"Key": "k", "Value": "<v>"}]}
    raw = query.ok("iam", query.operation("iam", "GetRole"), {"Role": role}, "rid")
    assert raw.body.startswith(b'<GetRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetRoleResult>')
    assert b"%7B%22Version%22" in raw.body
    parsed = parse("iam", "GetRole", raw)
    assert parsed["Role"]["AssumeRolePolicyDocument"] == document
    assert parsed["Role"]["CreateDate"] == when and parsed["Role"]["Tags"] == [{"Key": "k", "Value": "<v>"}]
    assert parsed["ResponseMetadata"]["RequestId"] == "rid"
    listed = parse("iam", "ListRoles", query.ok("iam", query.operation("iam", "ListRoles"),
                                                {"Roles": [role, role], "IsTruncated": False}))
    assert len(listed["Roles"]) == 2 and listed["IsTruncated"] is False
    empty = query.ok("iam", query.operation("iam", "DeleteRole"), {})
    assert b"<DeleteRoleResponse" in empty.body and b"<DeleteRoleResult" not in empty.body


def test_errors_in_the_query_envelope():
    raw = query.error("sts", IamError("AccessDenied", "User: x is not authorized", 403))
    assert raw.status == 403
    assert raw.body.startswith(b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
                               b"<Type>Sender</Type><Code>AccessDenied</Code><Message>User: x is not authorized"
                               b"</Message></Error><RequestId>")
    auth = query.error("iam", AuthenticationError("InvalidSignatureException", "SignatureDoesNotMatch", "m"))
    assert b"<Code>SignatureDoesNotMatch</Code>" in auth.body and auth.status == 403
