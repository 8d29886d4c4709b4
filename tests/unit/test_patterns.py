"""Table tests of lamina.patterns: the EventBridge / FilterCriteria grammar, from AWS's documented examples."""

from __future__ import annotations

import pytest

from lamina.patterns import PatternError, compile_pattern

EVENT = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "111122223333",
    "time": "2017-12-22T18:43:48Z",
    "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {
        "instance-id": "i-1234567890abcdef0",
        "state": "terminated",
        "c-count": 5,
        "d-count": 3,
        "x-limit": 301.8,
        "source-ip": "10.0.0.123",
        "filename": "dir/Photo.PNG",
        "nothing": None,
        "empty": "",
        "flag": True,
        "location": "us-east-1a",
        "tags": ["a", "b"],
        "items": [{"name": "x", "qty": 1}, {"name": "y", "qty": 7}],
    },
}

MATCHES = [
    # literals, OR inside arrays, AND across keys
    ({"source": ["aws.ec2"]}, True),
    ({"source": ["aws.ec2", "aws.s3"]}, True),
    ({"source": ["aws.s3"]}, False),
    ({"source": ["aws.ec2"], "detail-type": ["nope"]}, False),
    ({"detail": {"state": ["terminated"]}}, True),
    ({"detail": {"state": ["Terminated"]}}, False),  # case-sensitive
    ({"detail": {"c-count": [5]}}, True),
    ({"detail": {"c-count": [5.0]}}, True),  # numbers compare by value
    ({"detail": {"c-count": ["5"]}}, False),  # type-sensitive
    ({"detail": {"flag": [True]}}, True),
    ({"detail": {"flag": [1]}}, False),  # a bool is not a number
    ({"detail": {"nothing": [None]}}, True),
    ({"detail": {"missing": [None]}}, False),  # null matches a present null only
    ({"detail": {"empty": [""]}}, True),
    ({"detail": {"state": [""]}}, False),
    # arrays in the event: any element
    ({"resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"]}, True),
    ({"detail": {"tags": ["b"]}}, True),
    ({"detail": {"tags": ["c"]}}, False),
    ({"detail": {"items": {"name": ["y"]}}}, True),
    ({"detail": {"items": {"name": ["z"]}}}, False),
    # prefix / suffix / equals-ignore-case
    ({"region": [{"prefix": "us-"}]}, True),
    ({"region": [{"prefix": "eu-"}]}, False),
    ({"detail-type": [{"prefix": {"equals-ignore-case": "ec2 instance"}}]}, True),
    ({"detail": {"filename": [{"suffix": ".PNG"}]}}, True),
    ({"detail": {"filename": [{"suffix": ".png"}]}}, False),
    ({"detail": {"filename": [{"suffix": {"equals-ignore-case": ".png"}}]}}, True),
    ({"detail": {"state": [{"equals-ignore-case": "TERMINATED"}]}}, True),
    ({"detail": {"c-count": [{"prefix": "5"}]}}, False),  # prefix matches strings only
    # anything-but
    ({"detail": {"state": [{"anything-but": "initializing"}]}}, True),
    ({"detail": {"state": [{"anything-but": "terminated"}]}}, False),
    ({"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}, True),
    ({"detail": {"state": [{"anything-but": ["stopped", "terminated"]}]}}, False),
    ({"detail": {"c-count": [{"anything-but": [100, 200]}]}}, True),
    ({"detail": {"c-count": [{"anything-but": [5, 200]}]}}, False),
    ({"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}, True),
    ({"detail": {"state": [{"anything-but": {"prefix": "term"}}]}}, False),
    ({"detail": {"filename": [{"anything-but": {"suffix": ".txt"}}]}}, True),
    ({"detail": {"state": [{"anything-but": {"equals-ignore-case": ["TERMINATED", "x"]}}]}}, False),
    ({"detail": {"filename": [{"anything-but": {"wildcard": "dir/*.PNG"}}]}}, False),
    ({"detail": {"missing": [{"anything-but": "x"}]}}, False),  # anything-but needs the field
    # numeric
    ({"detail": {"c-count": [{"numeric": [">", 0]}]}}, True),
    ({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}]}}, True),
    ({"detail": {"x-limit": [{"numeric": ["=", 301.8]}]}}, True),
    ({"detail": {"x-limit": [{"numeric": [">=", 302]}]}}, False),
    ({"detail": {"c-count": [{"numeric": [">", 5]}]}}, False),
    ({"detail": {"state": [{"numeric": [">", 0]}]}}, False),  # never matches strings
    # exists
    ({"detail": {"state": [{"exists": True}]}}, True),
    ({"detail": {"missing": [{"exists": True}]}}, False),
    ({"detail": {"missing": [{"exists": False}]}}, True),
    ({"detail": {"state": [{"exists": False}]}}, False),
    ({"detail": {"tags": [{"exists": True}]}}, True),  # an array of leaves exists
    ({"nope": {"deeper": [{"exists": False}]}}, True),  # a missing parent: the leaf is absent
    ({"detail": [{"exists": True}]}, False),  # exists matches leaf values, not objects
    # cidr
    ({"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}, True),
    ({"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}}, False),
    ({"detail": {"state": [{"cidr": "10.0.0.0/24"}]}}, False),
    # wildcard
    ({"detail": {"filename": [{"wildcard": "dir/*.PNG"}]}}, True),
    ({"detail": {"filename": [{"wildcard": "*/Photo*"}]}}, True),
    ({"detail": {"filename": [{"wildcard": "dir/*.png"}]}}, False),
    ({"detail": {"location": [{"wildcard": "us-*-1a"}]}}, True),
    # $or
    ({"$or": [{"source": ["aws.s3"]}, {"detail": {"c-count": [5]}}]}, True),
    ({"$or": [{"source": ["aws.s3"]}, {"detail": {"c-count": [6]}}]}, False),
    ({"source": ["aws.ec2"], "$or": [{"detail": {"d-count": [3]}}, {"region": ["nope"]}]}, True),
    ({"detail": {"$or": [{"c-count": [{"numeric": [">", 10]}]}, {"d-count": [3]}]}}, True),
    # extra event keys are ignored; empty pattern matches everything
    ({}, True),
]


@pytest.mark.parametrize(("pattern", "expected"), MATCHES)
def test_matches(pattern, expected):
    assert compile_pattern(pattern).matches(EVENT) is expected


def test_text_form_and_duplicate_keys_keep_the_last():
    assert compile_pattern('{"source": ["aws.s3"], "source": ["aws.ec2"]}').matches(EVENT)


def test_non_object_events_never_match():
    pattern = compile_pattern({"source": [{"exists": False}]})
    assert pattern.matches({}) and not pattern.matches([]) and not pattern.matches("x")


MALFORMED = [
    ('{"source": ', "Malformed JSON"),
    ("[1, 2]", "Filter is not an object"),
    ('{"a": NaN}', "Malformed JSON"),
    ({"source": "aws.ec2"}, '"source" must be an object or an array'),
    ({"source": 5}, '"source" must be an object or an array'),
    ({"source": []}, "Empty arrays are not allowed"),
    ({"source": [{"EXISTS": True}]}, "Unrecognized match type EXISTS"),
    ({"source": [{"prefix": 5}]}, "prefix match pattern must be a string"),
    ({"source": [{"prefix": "a", "suffix": "b"}]}, "Match objects must have exactly one key"),
    ({"n": [{"numeric": [">", "x"]}]}, "Value of > must be numeric"),
    ({"n": [{"numeric": [">", 1, ">", 2]}]}, "Bad numeric range operator: >"),
    ({"n": [{"numeric": ["!=", 1]}]}, "Unrecognized numeric range operator: !="),
    ({"n": [{"numeric": [">"]}]}, "Value of numeric must be an array"),
    ({"n": [{"exists": "yes"}]}, "exists match pattern must be either true or false."),
    ({"ip": [{"cidr": "10.0.0.0"}]}, "Malformed CIDR, one '/' required"),
    ({"ip": [{"cidr": "10.0.0.300/24"}]}, "Nonstandard IP address"),
    ({"f": [{"wildcard": "a**b"}]}, "Consecutive wildcard characters at pos 2"),
    ({"f": [{"anything-but": [1, "a"]}]}, "Inside anything but list"),
    ({"f": [{"anything-but": {"numeric": [">", 1]}}]}, "Unsupported anything-but pattern: numeric"),
    ({"f": [[1]]}, "Match value must be"),
    ({"$or": {"a": [1]}}, "$or must be a non-empty array of objects"),
    ({"$or": []}, "$or must be a non-empty array of objects"),
]


@pytest.mark.parametrize(("pattern", "reason"), MALFORMED)
def test_malformed_patterns_say_why(pattern, reason):
    with pytest.raises(PatternError) as caught:
        compile_pattern(pattern)
    assert reason in caught.value.reason
