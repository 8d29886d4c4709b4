"""lamina.console.forms: form fields to API parameters (pure)."""

import pytest

from lamina.console.forms import (
    FormError,
    form_fields,
    format_pairs,
    parse_int,
    parse_json,
    parse_pairs,
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
