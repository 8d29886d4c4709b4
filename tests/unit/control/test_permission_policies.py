"""The statements AddPermission and AddLayerVersionPermission build, as AWS builds them."""

import pytest

from lamina.control.permissions import function_statement, layer_statement, principal_element
from lamina.errors import InvalidParameterValueException

FN = "arn:aws:lambda:us-east-1:123456789012:function:f"

PRINCIPALS = [
    ("*", "*"),
    ("123456789012", {"AWS": "arn:aws:iam::123456789012:root"}),
    ("arn:aws:iam::123456789012:root", {"AWS": "arn:aws:iam::123456789012:root"}),
    ("arn:aws:iam::123456789012:user/bob", {"AWS": "arn:aws:iam::123456789012:user/bob"}),
    ("arn:aws:iam::123456789012:role/path/r", {"AWS": "arn:aws:iam::123456789012:role/path/r"}),
    ("arn:aws:sts::123456789012:assumed-role/r/s", {"AWS": "arn:aws:sts::123456789012:assumed-role/r/s"}),
    ("s3.amazonaws.com", {"Service": "s3.amazonaws.com"}),
    ("events.amazonaws.com", {"Service": "events.amazonaws.com"}),
    ("alexa-appkit.amazon.com", {"Service": "alexa-appkit.amazon.com"}),
]


@pytest.mark.parametrize("given,element", PRINCIPALS)
def test_principal_forms(given, element):
    assert principal_element(given) == element


@pytest.mark.parametrize("given", ["bob", "12345", "arn:aws:s3:::bucket", "arn:aws:iam::123:user/x", "s3"])
def test_invalid_principals(given):
    with pytest.raises(InvalidParameterValueException) as caught:
        principal_element(given)
    assert caught.value.message == "The provided principal was invalid. Please check the principal and try again."


STATEMENTS = [
    ({"StatementId": "s", "Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com"},
     {"Sid": "s", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction",
      "Resource": FN}),
    ({"StatementId": "s", "Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com",
      "SourceArn": "arn:aws:s3:::b", "SourceAccount": "123456789012"},
     {"Sid": "s", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction",
      "Resource": FN, "Condition": {"StringEquals": {"AWS:SourceAccount": "123456789012"},
                                    "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::b"}}}),
    ({"StatementId": "u", "Action": "lambda:InvokeFunctionUrl", "Principal": "*", "FunctionUrlAuthType": "NONE"},
     {"Sid": "u", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl", "Resource": FN,
      "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}}),
    ({"StatementId": "a", "Action": "lambda:InvokeFunction", "Principal": "alexa-appkit.amazon.com",
      "EventSourceToken": "amzn1.ask.skill.x"},
     {"Sid": "a", "Effect": "Allow", "Principal": {"Service": "alexa-appkit.amazon.com"},
      "Action": "lambda:InvokeFunction", "Resource": FN,
      "Condition": {"StringEquals": {"lambda:EventSourceToken": "amzn1.ask.skill.x"}}}),
    ({"StatementId": "o", "Action": "lambda:*", "Principal": "*", "PrincipalOrgID": "o-abcdefghij"},
     {"Sid": "o", "Effect": "Allow", "Principal": "*", "Action": "lambda:*", "Resource": FN,
      "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}}),
]


@pytest.mark.parametrize("params,statement", STATEMENTS)
def test_function_statements(params, statement):
    built = function_statement(params, FN)
    assert built == statement
    assert list(built) == list(statement)  # AWS's key order


def test_layer_statement():
    layer = "arn:aws:lambda:us-east-1:123456789012:layer:l:1"
    assert layer_statement({"StatementId": "x", "Action": "lambda:GetLayerVersion", "Principal": "*",
                            "OrganizationId": "o-abcdefghij"}, layer) == {
        "Sid": "x", "Effect": "Allow", "Principal": "*", "Action": "lambda:GetLayerVersion", "Resource": layer,
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}}
