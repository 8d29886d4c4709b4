"""lamina.control.source_access: what an event source mapping's role must be allowed, and AWS's texts."""

from __future__ import annotations

import pytest

from lamina.control import source_access as access

QUEUE = "arn:aws:sqs:us-east-1:000000000000:q"
STREAM = "arn:aws:kinesis:us-east-1:000000000000:stream/s"
TABLE_STREAM = "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2024-01-01T00:00:00.000"
BROKER = "arn:aws:mq:us-east-1:000000000000:broker:b:b-1"
SECRET = "arn:aws:secretsmanager:us-east-1:000000000000:secret:mq-abc"
SQS_ROLE = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
KINESIS_ROLE = {"kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
                "kinesis:GetShardIterator", "kinesis:ListShards", "kinesis:ListStreams", "kinesis:SubscribeToShard"}
DYNAMODB_ROLE = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"}
STREAM_TEXT = ("Cannot access stream {}. Please ensure the role can perform the GetRecords, GetShardIterator, "
               "DescribeStream, and ListStreams Actions on your stream in IAM.")


def allowing(actions, resource=None):
    return lambda action, on: action in actions and (resource is None or on == resource)


@pytest.mark.parametrize(("kind", "arn", "config", "allowed", "expected"), [
    ("sqs", QUEUE, {}, SQS_ROLE, None),
    ("sqs", QUEUE, {}, set(), "The provided execution role does not have permissions to call ReceiveMessage on SQS"),
    ("sqs", QUEUE, {}, {"sqs:ReceiveMessage"},
     "The provided execution role does not have permissions to call DeleteMessage on SQS"),
    ("sqs", QUEUE, {}, {"sqs:ReceiveMessage", "sqs:DeleteMessage"},
     "The provided execution role does not have permissions to call GetQueueAttributes on SQS"),
    ("sqs", QUEUE, {}, KINESIS_ROLE | DYNAMODB_ROLE,
     "The provided execution role does not have permissions to call ReceiveMessage on SQS"),
    ("kinesis", STREAM, {}, KINESIS_ROLE, None),
    ("kinesis", STREAM, {}, KINESIS_ROLE - {"kinesis:ListShards"}, None),  # ListStreams suffices
    ("kinesis", STREAM, {}, KINESIS_ROLE - {"kinesis:ListShards", "kinesis:ListStreams"}, STREAM_TEXT.format(STREAM)),
    ("kinesis", STREAM, {}, KINESIS_ROLE - {"kinesis:GetRecords"}, STREAM_TEXT.format(STREAM)),
    ("kinesis", STREAM, {}, DYNAMODB_ROLE, STREAM_TEXT.format(STREAM)),
    ("dynamodb", TABLE_STREAM, {}, DYNAMODB_ROLE, None),
    ("dynamodb", TABLE_STREAM, {}, DYNAMODB_ROLE - {"dynamodb:ListStreams"}, STREAM_TEXT.format(TABLE_STREAM)),
    ("dynamodb", TABLE_STREAM, {}, KINESIS_ROLE, STREAM_TEXT.format(TABLE_STREAM)),
    ("mq", BROKER, {}, {"mq:DescribeBroker"}, None),
    ("mq", BROKER, {}, set(), "The provided execution role does not have permissions to call DescribeBroker on MQ"),
    ("mq", BROKER, {"SourceAccessConfigurations": [{"Type": "BASIC_AUTH", "URI": SECRET}]}, {"mq:DescribeBroker"},
     "The provided execution role does not have permissions to call GetSecretValue on SecretsManager"),
    ("mq", BROKER, {"SourceAccessConfigurations": [{"Type": "BASIC_AUTH", "URI": SECRET},
                                                   {"Type": "VIRTUAL_HOST", "URI": "/"}]},
     {"mq:DescribeBroker", "secretsmanager:GetSecretValue"}, None),
    ("kafka", "", {}, set(), None),
])
def test_problem(kind, arn, config, allowed, expected):
    assert access.problem(kind, arn, config, allowing(allowed)) == expected


def test_the_source_itself_is_the_resource_checked():
    assert access.problem("sqs", QUEUE, {}, allowing(SQS_ROLE, resource=QUEUE)) is None
    other = "arn:aws:sqs:us-east-1:000000000000:other"
    assert access.problem("sqs", other, {}, allowing(SQS_ROLE, resource=QUEUE)) is not None
    secret_only = {"SourceAccessConfigurations": [{"Type": "BASIC_AUTH", "URI": SECRET}]}
    seen = []
    access.problem("mq", BROKER, secret_only, lambda action, on: seen.append((action, on)) or True)
    assert seen == [("mq:DescribeBroker", BROKER), ("secretsmanager:GetSecretValue", SECRET)]
