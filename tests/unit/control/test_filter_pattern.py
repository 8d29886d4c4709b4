"""Table tests of lamina.control.filter_pattern: CloudWatch Logs filter patterns as predicates."""

from __future__ import annotations

import json

import pytest

from lamina.control.filter_pattern import FilterPatternError, compile_pattern

REPORT = "REPORT RequestId: 4439\tDuration: 170.19 ms\tBilled Duration: 171 ms"
ERROR = "[ERROR]\t2024-02-21T13:12:33.933Z\t4439\tboom: something failed"
INFO = "[INFO]\t2024-02-21T13:12:33.933Z\t4439\tall good"
DOC = json.dumps({"level": "ERROR", "message": "disk full", "latency": 120, "ratio": 0.5, "ok": False,
                  "user": {"id": 7, "name": "Ann Lee", "tags": ["a", "b"]}, "items": [{"id": 1}, {"id": 2}],
                  "gone": None, "code": "404", "host": "10.0.3.17"})
APACHE = '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 404 2326'

MATCHES = [
    # empty and blank patterns match everything
    ("", INFO, True),
    ("   ", "", True),
    # plain terms: all must appear, case-sensitive substrings
    ("ERROR", ERROR, True),
    ("ERROR", INFO, False),
    ("error", ERROR, False),
    ("ERROR failed", ERROR, True),
    ("ERROR succeeded", ERROR, False),
    ("Duration", REPORT, True),
    # quoted phrases, with escapes
    ('"something failed"', ERROR, True),
    ('"failed something"', ERROR, False),
    ('"Billed Duration: 171"', REPORT, True),
    ('"say \\"hi\\""', 'they say "hi" twice', True),
    ('ERROR "boom:"', ERROR, True),
    # ?alternatives: any of them
    ("?ERROR ?WARN", ERROR, True),
    ("?ERROR ?WARN", INFO, False),
    ("?WARN ?INFO", INFO, True),
    ('?"all good" ?nothing', INFO, True),
    # -exclusions
    ("-ERROR", INFO, True),
    ("-ERROR", ERROR, False),
    ("4439 -REPORT", ERROR, True),
    ("4439 -REPORT", REPORT, False),
    ('4439 -"all good"', INFO, False),
    ("?ERROR ?INFO -good", INFO, False),
    ("?ERROR ?INFO -good", ERROR, True),
    # %regex% terms
    ("%Duration: [0-9]+\\.[0-9]{2} ms%", REPORT, True),
    ("%^\\[INFO\\]%", ERROR, False),
    # JSON: strings quoted or not, = and !=, * wildcard
    ('{ $.level = "ERROR" }', DOC, True),
    ("{ $.level = ERROR }", DOC, True),
    ("{$.level=ERROR}", DOC, True),
    ('{ $.level = "error" }', DOC, False),
    ('{ $.level != "ERROR" }', DOC, False),
    ('{ $.level != "INFO" }', DOC, True),
    ('{ $.message = "disk*" }', DOC, True),
    ("{ $.message = *full }", DOC, True),
    ('{ $.message = "*" }', DOC, True),
    ("{ $.host = 10.0.* }", DOC, True),
    ("{ $.host != 10.0.* }", DOC, False),
    ('{ $.code = "404" }', DOC, True),
    ("{ $.code = 404 }", DOC, False),  # a number does not equal a string
    # JSON numbers
    ("{ $.latency > 100 }", DOC, True),
    ("{ $.latency > 120 }", DOC, False),
    ("{ $.latency >= 120 }", DOC, True),
    ("{ $.latency < 1e3 }", DOC, True),
    ("{ $.latency <= 119.5 }", DOC, False),
    ("{ $.latency = 120 }", DOC, True),
    ("{ $.latency = 120.0 }", DOC, True),
    ("{ $.latency != 120 }", DOC, False),
    ("{ $.ratio < 1 }", DOC, True),
    ("{ $.ratio > -1 }", DOC, True),
    ("{ $.level > 1 }", DOC, False),  # a string is no number
    ("{ $.ok < 1 }", DOC, False),  # nor is a boolean
    ("{ $.missing != 5 }", DOC, False),  # a missing field matches nothing
    ('{ $.missing != "x" }', DOC, False),
    # nested fields and indexing
    ("{ $.user.id = 7 }", DOC, True),
    ('{ $.user.name = "Ann Lee" }', DOC, True),
    ('{ $.user.tags[1] = "b" }', DOC, True),
    ('{ $.user.tags[2] = "b" }', DOC, False),
    ("{ $.items[1].id = 2 }", DOC, True),
    ("{ $.items[0].id = 2 }", DOC, False),
    ("{ $.user.id.deeper = 7 }", DOC, False),
    # && and || with && binding tighter, and parentheses
    ('{ $.level = "ERROR" && $.latency > 100 }', DOC, True),
    ('{ $.level = "ERROR" && $.latency > 500 }', DOC, False),
    ('{ $.level = "INFO" || $.latency > 100 }', DOC, True),
    ('{ $.level = "INFO" || $.latency > 500 }', DOC, False),
    ('{ $.level = "INFO" && $.latency > 500 || $.user.id = 7 }', DOC, True),
    ('{ $.level = "INFO" && ($.latency > 500 || $.user.id = 7) }', DOC, False),
    ('{ ($.level = "ERROR") && ($.user.id = 7 || $.user.id = 8) }', DOC, True),
    # IS NULL / IS TRUE / IS FALSE / NOT EXISTS / EXISTS
    ("{ $.gone IS NULL }", DOC, True),
    ("{ $.level IS NULL }", DOC, False),
    ("{ $.ok IS FALSE }", DOC, True),
    ("{ $.ok IS TRUE }", DOC, False),
    ("{ $.nothing NOT EXISTS }", DOC, True),
    ("{ $.level NOT EXISTS }", DOC, False),
    ("{ $.level EXISTS }", DOC, True),
    ("{ $.ok = false }", DOC, True),
    # a JSON pattern only matches JSON objects
    ('{ $.level = "ERROR" }', ERROR, False),
    ('{ $.level = "ERROR" }', '["ERROR"]', False),
    ('{ $.level = "ERROR" }', '{"level": "ERROR"', False),
    ('{ $.level = "ERROR" }', '  {"level": "ERROR"}  ', True),
    ("{ $.a = 1 }", '{"b": ' + "[" * 100_000, False),  # too deep for the JSON parser: no match, no error
    # space-delimited patterns
    ("[ip, user, username, timestamp, request, status, bytes]", APACHE, True),
    ("[ip, user, username, timestamp, request, status]", APACHE, False),
    ("[ip, user, username, timestamp, request, status = 404, bytes]", APACHE, True),
    ("[ip, user, username, timestamp, request, status = 4*, bytes > 1000]", APACHE, True),
    ("[ip, user, username, timestamp, request, status = 5*, bytes]", APACHE, False),
    ("[ip, user, username, timestamp, request, status = 500 || status = 404, bytes]", APACHE, True),
    ('[ip, user, username, timestamp, request = "GET *", ...]', APACHE, True),
    ("[..., status, bytes < 1000]", APACHE, False),
    ("[ip = 127.0.0.1, ..., bytes >= 2326]", APACHE, True),
    ("[ip, user != -, ...]", APACHE, False),
    ("[...]", APACHE, True),
]


@pytest.mark.parametrize(("pattern", "message", "expected"), MATCHES)
def test_pattern_matches(pattern, message, expected):
    assert compile_pattern(pattern)(message) is expected


INVALID = [
    '"unterminated',
    'foo"bar',
    '"a"b',
    "{ $.level = }",
    "{ $.level }",
    '{ $.latency > "high" }',
    "{ level = 1 }",
    "{ $.level = 1",
    "{ }",
    "{ $.a = 1 && }",
    "{ ($.a = 1 }",
    "{ $.a = 1 ) }",
    "{ $.a IS MAYBE }",
    "{ $.a NOT THERE }",
    "{ $.a[x] = 1 }",
    "{ $.a = 1 $.b = 2 }",
    "[a,,b]",
    "[a, b",
    "[a, b = ]",
    "[a, c = 1]x",
    "[a, b = 1 && c = 2]",
    "%[unclosed%",
    "{ " + "(" * 600 + "$.a = 1" + ")" * 600 + " }",
]


@pytest.mark.parametrize("pattern", INVALID)
def test_invalid_patterns_are_refused(pattern):
    with pytest.raises(FilterPatternError):
        compile_pattern(pattern)
