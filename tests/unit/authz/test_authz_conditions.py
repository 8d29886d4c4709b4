"""Condition operators, table-tested from the IAM user guide's condition-operator examples."""

import pytest

from lamina.authz import conditions, matching

CASES = [
    # (block, context, expected)
    # String
    ({"StringEquals": {"aws:username": "johndoe"}}, {"aws:username": "johndoe"}, True),
    ({"StringEquals": {"aws:username": "johndoe"}}, {"aws:username": "JohnDoe"}, False),
    ({"StringEquals": {"aws:username": ["a", "johndoe"]}}, {"aws:username": "johndoe"}, True),
    ({"StringEquals": {"aws:username": "johndoe"}}, {}, False),
    ({"StringEquals": {"AWS:UserName": "johndoe"}}, {"aws:username": "johndoe"}, True),  # keys ignore case
    ({"StringNotEquals": {"aws:username": "johndoe"}}, {"aws:username": "other"}, True),
    ({"StringNotEquals": {"aws:username": ["a", "b"]}}, {"aws:username": "b"}, False),
    ({"StringNotEquals": {"aws:username": "johndoe"}}, {}, True),  # negated: absent key is true
    ({"StringEqualsIgnoreCase": {"aws:username": "JOHNDOE"}}, {"aws:username": "johndoe"}, True),
    ({"StringNotEqualsIgnoreCase": {"aws:username": "JOHNDOE"}}, {"aws:username": "johndoe"}, False),
    ({"StringLike": {"aws:username": "john*"}}, {"aws:username": "johndoe"}, True),
    ({"StringLike": {"aws:username": "jo?n"}}, {"aws:username": "john"}, True),
    ({"StringLike": {"aws:username": "jo?n"}}, {"aws:username": "joohn"}, False),
    ({"StringNotLike": {"aws:username": "john*"}}, {"aws:username": "mary"}, True),
    ({"StringNotLike": {"aws:username": "john*"}}, {"aws:username": "johnny"}, False),
    ({"StringLike": {"s3:prefix": "home/${aws:username}/*"}},
     {"s3:prefix": "home/mary/notes", "aws:username": "mary"}, True),
    ({"StringLike": {"s3:prefix": "home/${aws:username}/*"}}, {"s3:prefix": "home/bob/x", "aws:username": "mary"},
     False),
    # IfExists
    ({"StringEqualsIfExists": {"ec2:InstanceType": ["t1.*"]}}, {}, True),
    ({"StringEqualsIfExists": {"ec2:InstanceType": "t2.micro"}}, {"ec2:instancetype": "m5.large"}, False),
    ({"StringLikeIfExists": {"ec2:InstanceType": "t2.*"}}, {"ec2:instancetype": "t2.micro"}, True),
    # Numeric
    ({"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, True),
    ({"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "11"}, False),
    ({"NumericLessThan": {"s3:max-keys": 10}}, {"s3:max-keys": "9.5"}, True),
    ({"NumericGreaterThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "11"}, True),
    ({"NumericGreaterThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "9"}, False),
    ({"NumericEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10.0"}, True),
    ({"NumericNotEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, False),
    ({"NumericEquals": {"s3:max-keys": "ten"}}, {"s3:max-keys": "10"}, False),
    ({"NumericEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "abc"}, False),
    # Date
    ({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, {"aws:currenttime": "2026-12-04T23:00:00Z"},
     True),
    ({"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, {"aws:currenttime": "2026-12-04T23:00:00Z"},
     False),
    ({"DateLessThan": {"aws:CurrentTime": "2027-01-01"}}, {"aws:currenttime": "2026-12-04T23:00:00Z"}, True),
    ({"DateGreaterThanEquals": {"aws:EpochTime": "1577836800"}}, {"aws:epochtime": "1577836800"}, True),
    ({"DateLessThan": {"aws:CurrentTime": 1577836800}}, {"aws:currenttime": "2019-12-31T23:59:59Z"}, True),
    ({"DateEquals": {"aws:CurrentTime": "2020-01-01T00:00:00+00:00"}}, {"aws:currenttime": "2020-01-01T00:00:00Z"},
     True),
    ({"DateNotEquals": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, {"aws:currenttime": "2020-01-01T00:00:01Z"},
     True),
    ({"DateLessThan": {"aws:CurrentTime": "not a date"}}, {"aws:currenttime": "2020-01-01T00:00:01Z"}, False),
    # Bool
    ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:securetransport": "false"}, True),
    ({"Bool": {"aws:SecureTransport": False}}, {"aws:securetransport": "false"}, True),
    ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:securetransport": "false"}, False),
    ({"Bool": {"aws:SecureTransport": "true"}}, {}, False),
    ({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}, {}, True),
    # Binary
    ({"BinaryEquals": {"key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}, {"key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}, True),
    ({"BinaryEquals": {"key": "QmluYXJ5"}}, {"key": "QmluYXJZ"}, False),
    # IP
    ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:sourceip": "203.0.113.7"}, True),
    ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:sourceip": "203.0.114.7"}, False),
    ({"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}}, {"aws:sourceip": "192.0.2.1"}, True),
    ({"IpAddress": {"aws:SourceIp": "127.0.0.1"}}, {"aws:sourceip": "127.0.0.1"}, True),
    ({"IpAddress": {"aws:SourceIp": "2001:DB8:1234:5678::/64"}}, {"aws:sourceip": "2001:db8:1234:5678::1"}, True),
    ({"IpAddress": {"aws:SourceIp": "2001:DB8::/32"}}, {"aws:sourceip": "10.0.0.1"}, False),
    ({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:sourceip": "198.51.100.1"}, True),
    ({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:sourceip": "203.0.113.1"}, False),
    ({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {}, True),
    ({"IpAddress": {"aws:SourceIp": "bogus"}}, {"aws:sourceip": "1.2.3.4"}, False),
    # ARN
    ({"ArnLike": {"aws:SourceArn": "arn:aws:s3:::my-bucket"}}, {"aws:sourcearn": "arn:aws:s3:::my-bucket"}, True),
    ({"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:*"}},
     {"aws:sourcearn": "arn:aws:sns:us-east-1:123456789012:topic"}, True),
    ({"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:*"}},
     {"aws:sourcearn": "arn:aws:sns:us-east-1:999999999999:topic"}, False),
    ({"ArnEquals": {"aws:SourceArn": "arn:aws:events:us-east-1:123456789012:rule/r"}},
     {"aws:sourcearn": "arn:aws:events:us-east-1:123456789012:rule/r"}, True),
    ({"ArnEquals": {"aws:SourceArn": "arn:aws:events:us-east-1:123456789012:rule/r"}},
     {"aws:sourcearn": "arn:aws:events:us-east-1:123456789012:rule/other"}, False),
    ({"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::bucket-*"}}, {"aws:sourcearn": "arn:aws:s3:::other"}, True),
    ({"ArnNotEquals": {"aws:SourceArn": "arn:aws:s3:::b"}}, {"aws:sourcearn": "arn:aws:s3:::b"}, False),
    ({"ArnLike": {"aws:SourceArn": "arn:aws:s3:::b"}}, {"aws:sourcearn": "not-an-arn"}, False),
    # Null
    ({"Null": {"aws:TokenIssueTime": "true"}}, {}, True),
    ({"Null": {"aws:TokenIssueTime": "true"}}, {"aws:tokenissuetime": "x"}, False),
    ({"Null": {"aws:TokenIssueTime": "false"}}, {"aws:tokenissuetime": "x"}, True),
    ({"Null": {"aws:TokenIssueTime": False}}, {}, False),
    # Multivalued: ForAnyValue / ForAllValues
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:tagkeys": ["x", "b"]}, True),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:tagkeys": ["x", "y"]}, False),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}, {}, False),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}, {"aws:tagkeys": []}, False),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:tagkeys": ["a", "b"]}, True),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:tagkeys": ["a", "c"]}, False),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, {}, True),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, {"aws:tagkeys": []}, True),
    ({"ForAllValues:StringLike": {"lambda:Layer": ["arn:aws:lambda:*:123456789012:layer:*:*"]}},
     {"lambda:layer": ["arn:aws:lambda:us-east-1:123456789012:layer:l:1"]}, True),
    ({"ForAllValues:StringLike": {"lambda:Layer": ["arn:aws:lambda:*:123456789012:layer:*:*"]}},
     {"lambda:layer": ["arn:aws:lambda:us-east-1:123456789012:layer:l:1",
                       "arn:aws:lambda:us-east-1:999999999999:layer:x:1"]}, False),
    ({"ForAnyValue:StringNotLike": {"aws:TagKeys": ["a*"]}}, {"aws:tagkeys": ["abc", "zzz"]}, True),
    ({"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}, {"aws:tagkeys": ["a", "secret"]}, False),
    # Plain operators on a multivalued key: any value satisfies (negated: none matches)
    ({"StringEquals": {"lambda:Layer": "l1"}}, {"lambda:layer": ["l0", "l1"]}, True),
    ({"StringNotEquals": {"lambda:Layer": "l1"}}, {"lambda:layer": ["l0", "l1"]}, False),
    # Several operators and keys AND
    ({"StringEquals": {"aws:username": "mary"}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
     {"aws:username": "mary", "aws:sourceip": "10.1.2.3"}, True),
    ({"StringEquals": {"aws:username": "mary"}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
     {"aws:username": "mary", "aws:sourceip": "11.1.2.3"}, False),
    ({"StringEquals": {"aws:username": "mary", "aws:SourceAccount": "123456789012"}},
     {"aws:username": "mary"}, False),
    # Lambda's keys
    ({"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}, {"lambda:functionurlauthtype": "NONE"}, True),
    ({"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}, {"lambda:functionurlauthtype": "NONE"}, False),
    ({"StringEquals": {"lambda:Principal": "events.amazonaws.com"}}, {"lambda:principal": "events.amazonaws.com"},
     True),
    ({"ArnLike": {"lambda:FunctionArn": "arn:aws:lambda:*:*:function:app-*"}},
     {"lambda:functionarn": "arn:aws:lambda:us-east-1:123456789012:function:app-x"}, True),
    ({"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}, {}, False),
    ({"StringEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}}, {"aws:requestedregion": "eu-west-1"},
     True),
]


@pytest.mark.parametrize("block,context,expected", CASES)
def test_condition_block(block, context, expected):
    assert conditions.test_all(conditions.parse_block(block), context) is expected


def test_unknown_operator_refused():
    with pytest.raises(ValueError):
        conditions.parse_block({"StringEqualz": {"a": "b"}})


GLOBS = [
    ("*", "", True), ("a*", "a", True), ("a*c", "abbc", True), ("a?c", "abc", True), ("a?c", "ac", False),
    ("lambda:Get*", "lambda:GetFunction", True), ("lambda:Get*", "lambda:ListFunctions", False),
    ("a.b", "axb", False), ("a+", "aa", False), ("[x]", "[x]", True),
]


@pytest.mark.parametrize("pattern,value,expected", GLOBS)
def test_glob(pattern, value, expected):
    assert matching.glob(pattern, value) is expected


ARNS = [
    ("arn:aws:lambda:us-east-1:123456789012:function:myFn*", "arn:aws:lambda:us-east-1:123456789012:function:myFn",
     True),
    ("arn:aws:lambda:us-east-1:123456789012:function:myFn*", "arn:aws:lambda:us-east-1:123456789012:function:myFn:1",
     True),
    ("arn:aws:lambda:us-east-1:123456789012:function:myFn:*", "arn:aws:lambda:us-east-1:123456789012:function:myFn",
     False),
    ("arn:aws:lambda:us-east-1:123456789012:function:myFn:*",
     "arn:aws:lambda:us-east-1:123456789012:function:myFn:prod", True),
    ("arn:aws:lambda:*:*:function:*", "arn:aws:lambda:eu-west-1:111122223333:function:x", True),
    ("arn:aws:lambda:*:123456789012:*", "arn:aws:lambda:eu-west-1:111122223333:function:x", False),
    ("arn:aws:logs:*:*:log-group:/aws/lambda/*",
     "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:log-stream:", True),
    ("arn:aws:logs:*:*:*", "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:log-stream:s", True),
    ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b", True),
    ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket", False),
    ("arn:aws:iam::*:user/${aws:username}", "arn:aws:iam::123456789012:user/x", False),  # not substituted here
]


@pytest.mark.parametrize("pattern,value,expected", ARNS)
def test_resource_matches(pattern, value, expected):
    assert matching.resource_matches(pattern, value) is expected


SUBSTITUTIONS = [
    ("home/${aws:username}/*", {"aws:username": "mary"}, "home/mary/*"),
    ("${aws:username}", {}, None),
    ("${aws:username, 'nobody'}", {}, "nobody"),
    ("${AWS:UserName}", {"aws:username": "mary"}, "mary"),
    ("a${*}b${?}${$}", {}, "a*b?$"),
    ("${aws:TagKeys}", {"aws:tagkeys": ["a", "b"]}, None),
    ("plain", {}, "plain"),
]


@pytest.mark.parametrize("text,context,expected", SUBSTITUTIONS)
def test_substitute(text, context, expected):
    assert matching.substitute(text, context) == expected
