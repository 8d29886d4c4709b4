"""What an event source mapping's execution role must be allowed to do to read its source, and
AWS's text when it may not (reference 1.8; issue 14).

Lambda reads a source with the function's execution role: SQS needs sqs:ReceiveMessage,
sqs:DeleteMessage and sqs:GetQueueAttributes ("The provided execution role does not have
permissions to call ReceiveMessage on SQS", naming the first action missing); Kinesis needs
kinesis:GetRecords, GetShardIterator, DescribeStream and ListShards or ListStreams, DynamoDB Streams
dynamodb:GetRecords, GetShardIterator, DescribeStream and ListStreams (both: "Cannot access stream
<arn>. Please ensure the role can perform the GetRecords, GetShardIterator, DescribeStream, and
ListStreams Actions on your stream in IAM."); Amazon MQ needs mq:DescribeBroker, and
secretsmanager:GetSecretValue on the BASIC_AUTH secret when the mapping names one. The managed
policies AWSLambdaSQSQueueExecutionRole, AWSLambdaKinesisExecutionRole and
AWSLambdaDynamoDBExecutionRole grant exactly these. Pure: `problem` is handed the question "may
the role do this action on this resource". Imports lamina.control.mapping_rules (the kinds).
"""

from __future__ import annotations

from collections.abc import Callable

from lamina.control.mapping_rules import DYNAMODB, KINESIS, MQ, SQS

# Each requirement is a tuple of alternatives: any one of them suffices.
SQS_ACTIONS = (("sqs:ReceiveMessage",), ("sqs:DeleteMessage",), ("sqs:GetQueueAttributes",))
KINESIS_ACTIONS = (("kinesis:GetRecords",), ("kinesis:GetShardIterator",), ("kinesis:DescribeStream",),
                   ("kinesis:ListShards", "kinesis:ListStreams"))
DYNAMODB_ACTIONS = (("dynamodb:GetRecords",), ("dynamodb:GetShardIterator",), ("dynamodb:DescribeStream",),
                    ("dynamodb:ListStreams",))
MQ_ACTIONS = (("mq:DescribeBroker",),)
SERVICE_NAMES = {"sqs": "SQS", "mq": "MQ", "secretsmanager": "SecretsManager"}

Allowed = Callable[[str, str], bool]  # (action, resource ARN) -> may the role do it


def requirements(kind: str, source_arn: str, config: dict) -> list[tuple[tuple[str, ...], str]]:
    """(alternative actions, resource) the role must be allowed, in the order AWS checks them."""
    if kind == SQS:
        return [(actions, source_arn) for actions in SQS_ACTIONS]
    if kind == KINESIS:
        return [(actions, source_arn) for actions in KINESIS_ACTIONS]
    if kind == DYNAMODB:
        return [(actions, source_arn) for actions in DYNAMODB_ACTIONS]
    if kind == MQ:
        needed = [(actions, source_arn) for actions in MQ_ACTIONS]
        for access in config.get("SourceAccessConfigurations") or []:
            if access.get("Type") == "BASIC_AUTH" and access.get("URI"):
                needed.append((("secretsmanager:GetSecretValue",), access["URI"]))
        return needed
    return []


def stream_text(source_arn: str) -> str:
    return (f"Cannot access stream {source_arn}. Please ensure the role can perform the GetRecords, "
            "GetShardIterator, DescribeStream, and ListStreams Actions on your stream in IAM.")


def denied_text(kind: str, source_arn: str, action: str) -> str:
    """AWS's text for a role that may not do `action` on the source."""
    if kind in (KINESIS, DYNAMODB):
        return stream_text(source_arn)
    service, _, name = action.partition(":")
    return (f"The provided execution role does not have permissions to call {name} on "
            f"{SERVICE_NAMES.get(service, service)}")


def problem(kind: str, source_arn: str, config: dict, allowed: Allowed) -> str | None:
    """AWS's text for the first requirement the role does not meet, or None when it meets them all."""
    for alternatives, resource in requirements(kind, source_arn, config):
        if not any(allowed(action, resource) for action in alternatives):
            return denied_text(kind, source_arn, alternatives[0])
    return None
