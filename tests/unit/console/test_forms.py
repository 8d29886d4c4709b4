"""lamina.console.forms: form fields to API parameters (pure)."""

import pytest

from lamina import managed_policies
from lamina.console.app import BASIC_EXECUTION_POLICY, LAMBDA_TRUST
from lamina.console.forms import (
    ROLE_SUFFIX,
    FormError,
    form_fields,
    format_pairs,
    lambda_can_assume,
    new_role_name,
    parse_int,
    parse_json,
    parse_pairs,
    role_suffix,
    routing_weights,
    rule_sid,
    schedule_expression,
    url_sid,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("", {}),
    ("A=1\nB = two words \n\n# comment\nC=", {"A": "1", "B": "two words", "C": ""}),
    ("URL=http://x/?a=b", {"URL": "http://x/?a=b"}),
])
def test_parse_pairs(text, expected):
    assert parse_pairs(text, "Variables") == expected
    assert parse_pairs(format_pairs(expected), "Variables") == expected


@pytest.mark.parametrize(("text", "message"), [
    ("A", "Variables: line 1 is not KEY=VALUE."),
    ("=1", "Variables: line 1 is not KEY=VALUE."),
    ("A=1\nA=2", "Variables: A is given twice."),
])
def test_parse_pairs_refuses(text, message):
    with pytest.raises(FormError, match=message):
        parse_pairs(text, "Variables")


@pytest.mark.parametrize(("version", "second", "percent", "expected"), [
    ("1", "", "30", None),
    ("1", "2", "0", None),
    ("1", "2", "30", {"2": 0.3}),
    ("$LATEST", "3", "99", {"3": 0.99}),
    ("1", "2", "12.5", {"2": 0.125}),
])
def test_routing_weights(version, second, percent, expected):
    assert routing_weights(version, second, percent) == expected


@pytest.mark.parametrize(("version", "second", "percent"), [("1", "1", "10"), ("1", "2", "100"), ("1", "2", "-1"),
                                                            ("1", "2", "x")])
def test_routing_weights_refuses(version, second, percent):
    with pytest.raises(FormError):
        routing_weights(version, second, percent)


def test_parse_int_and_json():
    assert parse_int(" 42 ", "Memory") == 42
    assert parse_int("", "Reserved", optional=True) is None
    with pytest.raises(FormError, match="Memory must be a whole number."):
        parse_int("lots", "Memory")
    assert parse_json('{"a": 1}', "The event") == '{"a": 1}'
    with pytest.raises(FormError, match="The event is not valid JSON"):
        parse_json("{", "The event")


def test_form_fields():
    assert form_fields(b"name=a&name=b&delete_logs=on&empty=") == {"name": ["a", "b"], "delete_logs": ["on"],
                                                                     "empty": [""]}


@pytest.mark.parametrize(("method", "headers", "forged"), [
    ("GET", {"origin": "http://evil.example", "sec-fetch-site": "cross-site"}, False),
    ("POST", {}, False),
    ("POST", {"origin": "http://127.0.0.1:9001"}, False),
    ("POST", {"origin": "http://127.0.0.1:9001", "sec-fetch-site": "same-origin"}, False),
    ("POST", {"origin": "http://evil.example"}, True),
    ("POST", {"sec-fetch-site": "cross-site"}, True),
    ("POST", {"origin": "null"}, False),
])
def test_cross_site(method, headers, forged):
    from lamina.console.app import cross_site
    assert cross_site(method, headers, "127.0.0.1:9001") is forged


@pytest.mark.parametrize(("minutes", "expected"), [
    (1, "rate(1 minute)"), (2, "rate(2 minutes)"), (60, "rate(60 minutes)"),
])
def test_schedule_expression_uses_eventbridge_units(minutes, expected):
    assert schedule_expression(minutes) == expected


@pytest.mark.parametrize("minutes", [0, -5])
def test_schedule_expression_needs_a_positive_rate(minutes):
    with pytest.raises(FormError):
        schedule_expression(minutes)


@pytest.mark.parametrize(("make", "text", "expected"), [
    (url_sid, "", "FunctionURLAllowPublicAccess"),
    (url_sid, "live", "FunctionURLAllowPublicAccess-live"),
    (rule_sid, "every-5", "lamina-console-rule-every-5"),
    (rule_sid, "a.b/c", "lamina-console-rule-a-b-c"),  # only what a statement id may hold
    (rule_sid, "x" * 200, ("lamina-console-rule-" + "x" * 200)[:100]),
])
def test_statement_ids_for_triggers(make, text, expected):
    assert make(text) == expected


def test_new_role_name_is_the_aws_consoles():
    suffixes = {role_suffix() for _ in range(50)}
    assert len(suffixes) > 1 and all(ROLE_SUFFIX.fullmatch(s) for s in suffixes)
    assert new_role_name("my-function", "ab12cd34") == "my-function-role-ab12cd34"
    long = new_role_name("f" * 64, "ab12cd34")  # IAM's 64: the function's part is cut, the suffix kept
    assert len(long) == 64 and long.endswith("-role-ab12cd34")


def test_the_console_attaches_a_policy_lamina_serves():
    assert BASIC_EXECUTION_POLICY == managed_policies.arn("AWSLambdaBasicExecutionRole")
    assert lambda_can_assume(LAMBDA_TRUST)


@pytest.mark.parametrize(("document", "expected"), [
    ("%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A"
     "%7B%22Service%22%3A%22lambda.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D", True),
    ({"Statement": [{"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com", "lambda.amazonaws.com"]},
                     "Action": ["sts:AssumeRole"]}]}, True),
    ({"Statement": {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:*"}}, True),
    ({"Statement": [{"Effect": "Deny", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
     False),
    ({"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
     False),
    ({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}, False),
    ("not json", False),
    (None, False),
])
def test_lambda_can_assume(document, expected):
    assert lambda_can_assume(document) is expected
