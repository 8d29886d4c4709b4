"""Table tests of the event source mapping rules: source kinds, defaults, checks and states."""

from __future__ import annotations

import pytest

from lamina.control import mapping_rules as rules
from lamina.errors import InvalidParameterValueException

SQS = "arn:aws:sqs:us-east-1:000000000000:q"
FIFO = "arn:aws:sqs:us-east-1:000000000000:q.fifo"
KINESIS = "arn:aws:kinesis:us-east-1:000000000000:stream/s"
DDB = "arn:aws:dynamodb:us-east-1:000000000000:table/T/stream/2024-01-01T00:00:00.000"
MQ = "arn:aws:mq:us-east-1:000000000000:broker:b:b-1234"


@pytest.mark.parametrize("arn, kind", [(SQS, "sqs"), (FIFO, "sqs"), (KINESIS, "kinesis"), (DDB, "dynamodb"),
                                       (MQ, "mq")])
def test_source_kinds(arn, kind):
    assert rules.source_kind(arn) == kind


@pytest.mark.parametrize("arn, self_managed, text", [
    (None, None, "Unrecognized event source."),
    ("arn:aws:sns:us-east-1:000000000000:topic", None, "Unrecognized event source."),
    ("arn:aws:dynamodb:us-east-1:000000000000:table/T", None, "Unrecognized event source."),
    ("arn:aws:kafka:us-east-1:000000000000:cluster/c/1", None, rules.KAFKA_REFUSAL),
    (None, {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["h:9092"]}}, rules.KAFKA_REFUSAL),
])
def test_refused_sources(arn, self_managed, text):
    with pytest.raises(InvalidParameterValueException) as info:
        rules.source_kind(arn, self_managed)
    assert info.value.message == text


@pytest.mark.parametrize("kind, arn, params, expected", [
    ("sqs", SQS, {}, {"BatchSize": 10, "MaximumBatchingWindowInSeconds": 0, "FunctionResponseTypes": []}),
    ("sqs", SQS, {"BatchSize": 50, "MaximumBatchingWindowInSeconds": 2, "ScalingConfig": {"MaximumConcurrency": 5}},
     {"BatchSize": 50, "MaximumBatchingWindowInSeconds": 2, "FunctionResponseTypes": [],
      "ScalingConfig": {"MaximumConcurrency": 5}}),
    ("kinesis", KINESIS, {"StartingPosition": "LATEST"},
     {"BatchSize": 100, "MaximumBatchingWindowInSeconds": 0, "ParallelizationFactor": 1, "MaximumRetryAttempts": -1,
      "MaximumRecordAgeInSeconds": -1, "BisectBatchOnFunctionError": False, "TumblingWindowInSeconds": 0,
      "DestinationConfig": {"OnFailure": {}}, "FunctionResponseTypes": [], "StartingPosition": "LATEST"}),
    ("mq", MQ, {"Queues": ["q"]}, {"BatchSize": 100, "Queues": ["q"]}),
])
def test_defaults(kind, arn, params, expected):
    rules.check_create(kind, arn, params)
    config = rules.defaults(kind, params)
    rules.check_values(kind, arn, config)
    assert config == expected


@pytest.mark.parametrize("kind, arn, params, text", [
    ("sqs", SQS, {"BatchSize": 11},
     "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"),
    ("sqs", FIFO, {"MaximumBatchingWindowInSeconds": 1}, "Batching window is not supported for FIFO queues"),
    ("sqs", FIFO, {"BatchSize": 11}, "Maximum batch size must be between 1 and 10 inclusive"),
    ("sqs", SQS, {"StartingPosition": "LATEST"},
     "Unsupported StartingPosition parameter for given event source mapping type."),
    ("sqs", SQS, {"Queues": ["q"]}, "Unsupported Queues parameter for given event source mapping type."),
    ("sqs", SQS, {"FilterCriteria": {"Filters": [{"Pattern": "[1]"}]}}, "Invalid filter pattern definition."),
    ("kinesis", KINESIS, {}, "1 validation error detected: Value null at 'startingPosition' failed to satisfy "
                             "constraint: Member must not be null."),
    ("dynamodb", DDB, {"StartingPosition": "AT_TIMESTAMP", "StartingPositionTimestamp": 1},
     f"Unsupported starting position for arn type: {DDB}"),
    ("kinesis", KINESIS, {"StartingPosition": "LATEST", "MaximumRecordAgeInSeconds": 30},
     "MaximumRecordAgeInSeconds must be -1 (infinite) or between 60 and 604800."),
    ("kinesis", KINESIS, {"StartingPosition": "LATEST",
                          "DestinationConfig": {"OnSuccess": {"Destination": "arn:aws:sqs:us-east-1:000000000000:d"}}},
     "Unsupported DestinationConfig parameter for given event source mapping type."),
    ("kinesis", KINESIS, {"StartingPosition": "LATEST", "ScalingConfig": {"MaximumConcurrency": 2}},
     "Unsupported ScalingConfig parameter for given event source mapping type."),
    ("mq", MQ, {}, "Required 'queues' parameter is missing."),
    ("mq", MQ, {"Queues": ["q"], "FunctionResponseTypes": ["ReportBatchItemFailures"]},
     "Unsupported FunctionResponseTypes parameter for given event source mapping type."),
    ("sqs", SQS, {"KMSKeyArn": "arn:aws:kms:us-east-1:000000000000:key/k"},
     "lamina does not support KMSKeyArn on event source mappings; leave it out."),
])
def test_refused_configurations(kind, arn, params, text):
    with pytest.raises(InvalidParameterValueException) as info:
        rules.check_create(kind, arn, params)
        rules.check_values(kind, arn, rules.defaults(kind, params))
    assert info.value.message == text


def test_tags_are_taken_on_create_of_every_kind():
    for kind, arn, extra in (("sqs", SQS, {}), ("kinesis", KINESIS, {"StartingPosition": "LATEST"}),
                             ("dynamodb", DDB, {"StartingPosition": "LATEST"}), ("mq", MQ, {"Queues": ["q"]})):
        rules.check_create(kind, arn, {"Tags": {"team": "a"}, **extra})
        assert "Tags" not in rules.defaults(kind, {"Tags": {"team": "a"}, **extra})  # kept apart from the config


def test_filter_count_and_compiler():
    five = {"Filters": [{"Pattern": '{"a": [1]}'}] * 5}
    rules.check_filters(five)
    with pytest.raises(InvalidParameterValueException):
        rules.check_filters({"Filters": five["Filters"] * 2})

    def refuse(_pattern):
        raise ValueError("bad")

    with pytest.raises(InvalidParameterValueException) as info:
        rules.check_filters(five, refuse)
    assert info.value.message == "Invalid filter pattern definition."


def test_merge_removes_scaling_and_filters():
    config = {"BatchSize": 10, "ScalingConfig": {"MaximumConcurrency": 3},
              "FilterCriteria": {"Filters": [{"Pattern": "{}"}]}}
    assert rules.merged(config, {"ScalingConfig": {}, "FilterCriteria": {"Filters": []}, "BatchSize": 5}) == {
        "BatchSize": 5}


@pytest.mark.parametrize("action, before, after, state", [
    ("create", False, True, "Creating"), ("create", False, False, "Disabled"),
    ("update", False, True, "Enabling"), ("update", True, False, "Disabling"),
    ("update", True, True, "Updating"), ("update", False, False, "Updating"),
])
def test_user_transitions(action, before, after, state):
    assert rules.after_user_action(action, before, after) == state


@pytest.mark.parametrize("state, enabled, rest", [
    ("Creating", True, "Enabled"), ("Enabling", True, "Enabled"), ("Updating", True, "Enabled"),
    ("Updating", False, "Disabled"), ("Disabling", False, "Disabled"), ("Enabled", True, "Enabled"),
    ("Disabled", False, "Disabled"),
])
def test_settling(state, enabled, rest):
    assert rules.settled(state, enabled) == rest
