"""Event source mapping rules: which kind of source an ARN names, the defaults AWS echoes per kind,
the checks of Create/UpdateEventSourceMapping with AWS's texts, and the mapping's states as data.

Pure (table-tested); imports lamina.errors only. Facts: triggers-and-permissions.md 1.7-1.9; where
AWS's exact text is not known ([U] there) the text says plainly what is wrong. Model-level ranges
(BatchSize 1-10,000, window 0-300, MaximumConcurrency 2-1000...) are lamina.api.validation's.
"""

from __future__ import annotations

import json
import re

from lamina.errors import InvalidParameterValueException

SQS, KINESIS, DYNAMODB, MQ = "sqs", "kinesis", "dynamodb", "mq"
STREAMS = (KINESIS, DYNAMODB)
MAX_FILTERS = 5

# What the user's own changes say in StateTransitionReason (reference 1.9).
USER_REASON = {SQS: "USER_INITIATED", MQ: "USER_INITIATED", KINESIS: "User action", DYNAMODB: "User action"}
# LastProcessingResult before the first batch (absent for SQS, reference 1.7).
FIRST_RESULT = {SQS: None, MQ: "No records processed", KINESIS: "No records processed",
                DYNAMODB: "No records processed"}

# The members each kind of source takes besides the common ones; anything else is refused.
COMMON = frozenset({"BatchSize", "MaximumBatchingWindowInSeconds", "FilterCriteria", "FunctionResponseTypes"})
STREAM_MEMBERS = frozenset({"StartingPosition", "StartingPositionTimestamp", "ParallelizationFactor",
                            "MaximumRecordAgeInSeconds", "BisectBatchOnFunctionError", "MaximumRetryAttempts",
                            "TumblingWindowInSeconds", "DestinationConfig"})
MEMBERS = {SQS: COMMON | {"ScalingConfig"}, KINESIS: COMMON | STREAM_MEMBERS, DYNAMODB: COMMON | STREAM_MEMBERS,
           MQ: (COMMON - {"FunctionResponseTypes"}) | {"Queues", "SourceAccessConfigurations"}}
# (partial batch responses of MQ batches are not applied by lamina's RabbitMQ poller: refused, not ignored)
# Members of the model lamina does not run: refused, never stored and ignored.
NOT_RUN = ("KMSKeyArn", "MetricsConfig", "LoggingConfig", "ProvisionedPollerConfig",
           "DocumentDBEventSourceConfig")
# Kafka-only members (a Kafka mapping is refused before these are looked at).
KAFKA_MEMBERS = ("Topics", "SelfManagedEventSource", "AmazonManagedKafkaEventSourceConfig",
                 "SelfManagedKafkaEventSourceConfig")

DEFAULTS = {
    SQS: {"BatchSize": 10, "MaximumBatchingWindowInSeconds": 0, "FunctionResponseTypes": []},
    KINESIS: {"BatchSize": 100, "MaximumBatchingWindowInSeconds": 0, "ParallelizationFactor": 1,
              "MaximumRetryAttempts": -1, "MaximumRecordAgeInSeconds": -1, "BisectBatchOnFunctionError": False,
              "TumblingWindowInSeconds": 0, "DestinationConfig": {"OnFailure": {}}, "FunctionResponseTypes": []},
    MQ: {"BatchSize": 100},
}
DEFAULTS[DYNAMODB] = DEFAULTS[KINESIS]
MQ_DEFAULT_WINDOW_S = 0.5  # AWS's batching window for MQ when none is set (it cannot be set to 0.5 s)

KAFKA_REFUSAL = ("lamina does not run Kafka event source mappings (Amazon MSK or self-managed Apache Kafka) yet; "
                 "SQS, Kinesis, DynamoDB Streams and Amazon MQ for RabbitMQ mappings are supported.")
_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):(?P<account>\d*):"
                  r"(?P<resource>.+)$")
_FUNCTION_DESTINATION = re.compile(r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:[a-zA-Z0-9-_]+"
                                   r"(:(\$LATEST|[a-zA-Z0-9-_]+))?$")
_SQS_DESTINATION = re.compile(r"^arn:aws[a-zA-Z-]*:sqs:[a-z0-9-]+:\d{12}:[a-zA-Z0-9_-]{1,80}(\.fifo)?$")


def source_kind(event_source_arn: str | None, self_managed: object = None) -> str:
    """SQS, KINESIS, DYNAMODB or MQ; Kafka and unknown sources are refused."""
    if not event_source_arn and not self_managed:
        raise InvalidParameterValueException("Unrecognized event source.")
    if self_managed:
        raise InvalidParameterValueException(KAFKA_REFUSAL)
    match = _ARN.match(event_source_arn or "")
    service, resource = (match["service"], match["resource"]) if match else ("", "")
    if service == "kafka":
        raise InvalidParameterValueException(KAFKA_REFUSAL)
    if service == "sqs" and ":" not in resource and "/" not in resource:
        return SQS
    if service == "kinesis" and resource.startswith("stream/"):
        return KINESIS
    if service == "dynamodb" and resource.startswith("table/") and "/stream/" in resource:
        return DYNAMODB
    if service == "mq" and resource.startswith("broker:"):
        return MQ
    if service in ("rds", "docdb"):
        raise InvalidParameterValueException("lamina does not run Amazon DocumentDB event source mappings.")
    raise InvalidParameterValueException("Unrecognized event source.")


def is_fifo(queue_arn: str) -> bool:
    return queue_arn.endswith(".fifo")


def _unsupported(member: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(f"Unsupported {member} parameter for given event source mapping type.")


def check_members(kind: str, params: dict) -> None:
    """Members lamina does not run, and members this kind of source does not take."""
    for member in NOT_RUN:
        if params.get(member) not in (None, {}, []):
            raise InvalidParameterValueException(
                f"lamina does not support {member} on event source mappings; leave it out.")
    for member in (*KAFKA_MEMBERS, *sorted(set().union(*MEMBERS.values()))):
        if member in params and params[member] is not None and member not in MEMBERS[kind]:
            raise _unsupported(member)


def check_create(kind: str, arn: str, params: dict) -> None:
    """Create's checks beyond the model's (the merged values are checked by check_values)."""
    check_members(kind, params)
    if kind in STREAMS:
        position = params.get("StartingPosition")
        if position is None:
            raise InvalidParameterValueException(
                "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: "
                "Member must not be null.")
        if position == "AT_TIMESTAMP" and kind == DYNAMODB:
            raise InvalidParameterValueException(f"Unsupported starting position for arn type: {arn}")
        if position == "AT_TIMESTAMP" and params.get("StartingPositionTimestamp") is None:
            raise InvalidParameterValueException(
                "StartingPositionTimestamp must be provided when StartingPosition is AT_TIMESTAMP.")
        if position != "AT_TIMESTAMP" and params.get("StartingPositionTimestamp") is not None:
            raise InvalidParameterValueException(
                "StartingPositionTimestamp can only be provided when StartingPosition is AT_TIMESTAMP.")
    if kind == MQ:
        if not params.get("Queues"):
            raise InvalidParameterValueException("Required 'queues' parameter is missing.")
        for access in params.get("SourceAccessConfigurations") or []:
            if access.get("Type") not in ("BASIC_AUTH", "VIRTUAL_HOST"):
                raise InvalidParameterValueException(
                    f"Unsupported SourceAccessConfiguration type {access.get('Type')} for Amazon MQ; "
                    "use BASIC_AUTH and VIRTUAL_HOST.")


def defaults(kind: str, params: dict) -> dict:
    """The configuration a new mapping is stored with: the kind's defaults, then what was given."""
    config = json.loads(json.dumps(DEFAULTS[kind]))
    for member in MEMBERS[kind]:
        if params.get(member) is not None:
            config[member] = params[member]
    if "StartingPositionTimestamp" in config:
        config["StartingPositionTimestamp"] = _epoch(config["StartingPositionTimestamp"])
    return config


def merged(config: dict, params: dict) -> dict:
    """An update's configuration: what is stored, with the given members replacing theirs
    (ScalingConfig {} removes it)."""
    out = dict(config)
    for member in ("BatchSize", "MaximumBatchingWindowInSeconds", "FilterCriteria", "FunctionResponseTypes",
                   "ScalingConfig", "ParallelizationFactor", "MaximumRecordAgeInSeconds",
                   "BisectBatchOnFunctionError", "MaximumRetryAttempts", "TumblingWindowInSeconds",
                   "DestinationConfig", "SourceAccessConfigurations"):
        if params.get(member) is not None:
            out[member] = params[member]
    if out.get("ScalingConfig") == {}:
        del out["ScalingConfig"]
    if out.get("FilterCriteria") == {} or (out.get("FilterCriteria") or {}).get("Filters") == []:
        out.pop("FilterCriteria", None)
    return out


def check_values(kind: str, arn: str, config: dict) -> None:
    """The checks on a whole configuration (after defaults or an update's merge)."""
    batch = config.get("BatchSize", 0)
    window = config.get("MaximumBatchingWindowInSeconds") or 0
    if kind == SQS:
        if is_fifo(arn):
            if window > 0:
                raise InvalidParameterValueException("Batching window is not supported for FIFO queues")
            if batch > 10:
                raise InvalidParameterValueException("Maximum batch size must be between 1 and 10 inclusive")
        elif batch > 10 and window == 0:
            raise InvalidParameterValueException(
                "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10")
    if kind in STREAMS:
        age = config.get("MaximumRecordAgeInSeconds", -1)
        if age != -1 and age < 60:
            raise InvalidParameterValueException(
                "MaximumRecordAgeInSeconds must be -1 (infinite) or between 60 and 604800.")
    check_destinations(kind, config.get("DestinationConfig"))
    check_filters(config.get("FilterCriteria"))


def check_destinations(kind: str, destination_config: dict | None) -> None:
    if not destination_config:
        return
    if (destination_config.get("OnSuccess") or {}).get("Destination") or kind not in STREAMS:
        if any((destination_config.get(k) or {}).get("Destination") for k in ("OnSuccess", "OnFailure")):
            raise InvalidParameterValueException(
                "Unsupported DestinationConfig parameter for given event source mapping type.")
    target = (destination_config.get("OnFailure") or {}).get("Destination")
    if target and not (_FUNCTION_DESTINATION.match(target) or _SQS_DESTINATION.match(target)):
        raise InvalidParameterValueException(
            f"lamina cannot deliver to {target}: only Lambda function and SQS queue on-failure destinations "
            "are supported.")


def check_filters(criteria: dict | None, compile_pattern=None) -> None:
    """FilterCriteria: at most 5 filters, each Pattern a JSON object of AWS's grammar
    (`compile_pattern`, when given, raises on a malformed one)."""
    filters = (criteria or {}).get("Filters") or []
    if len(filters) > MAX_FILTERS:
        raise InvalidParameterValueException(
            f"The FilterCriteria has {len(filters)} filters; an event source mapping takes at most {MAX_FILTERS}.")
    for item in filters:
        pattern = item.get("Pattern")
        try:
            parsed = json.loads(pattern) if isinstance(pattern, str) else None
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise InvalidParameterValueException("Invalid filter pattern definition.")
        if compile_pattern is not None:
            try:
                compile_pattern(parsed)
            except ValueError:
                raise InvalidParameterValueException("Invalid filter pattern definition.") from None


def _epoch(value: object) -> float:
    """StartingPositionTimestamp as epoch seconds (botocore sends a number or an ISO 8601 string)."""
    if isinstance(value, int | float):
        return float(value)
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise InvalidParameterValueException(f"Invalid StartingPositionTimestamp: {value}") from None


# -- states (reference 1.9) ------------------------------------------------------------------
CREATING, ENABLING, ENABLED, DISABLING, DISABLED, UPDATING, DELETING = (
    "Creating", "Enabling", "Enabled", "Disabling", "Disabled", "Updating", "Deleting")

# What a user's action turns a mapping into: (action, enabled before, enabled after) → state (a
# deleted mapping answers Deleting and is gone at once).
USER_TRANSITIONS: dict[tuple[str, bool, bool], str] = {
    ("create", False, True): CREATING,
    ("create", False, False): DISABLED,
    ("update", False, True): ENABLING,
    ("update", True, False): DISABLING,
    ("update", True, True): UPDATING,
    ("update", False, False): UPDATING,
}
# Where each passing state settles once the pollers have applied it: state → (if enabled, if disabled).
SETTLES: dict[str, tuple[str, str]] = {
    CREATING: (ENABLED, DISABLED), ENABLING: (ENABLED, DISABLED), UPDATING: (ENABLED, DISABLED),
    DISABLING: (ENABLED, DISABLED), ENABLED: (ENABLED, DISABLED), DISABLED: (ENABLED, DISABLED),
}


def after_user_action(action: str, enabled_before: bool, enabled_after: bool) -> str:
    return USER_TRANSITIONS[(action, enabled_before, enabled_after)]


def settled(state: str, enabled: bool) -> str:
    """The state a mapping rests in once applied (Deleting never settles: the mapping is gone)."""
    on, off = SETTLES[state]
    return on if enabled else off
