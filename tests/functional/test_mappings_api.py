"""The event source mapping API through boto3 against a real lamina whose SQS lives in a moto server:
defaults per source, states, AWS's validation texts, paging, qualified targets, restarts."""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, ROLE, LaminaProcess, client_for, keys_for, make_zip, source_env

CODE = make_zip({"app.py": "def handler(event, context):\n    return None\n"})
KINESIS_ARN = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/orders"
DDB_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/T/stream/2024-01-01T00:00:00.000"


@pytest.fixture(scope="module")
def server(tmp_path_factory, moto_server):
    process = LaminaProcess(tmp_path_factory.mktemp("esm-api") / "data", env=source_env(moto_server)).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def sqs(moto_server):
    return boto3.client("sqs", endpoint_url=moto_server, region_name=REGION, aws_access_key_id="test",
                        aws_secret_access_key="test")


@pytest.fixture(scope="module")
def lam(server):
    client = client_for(server.url)
    for name, timeout in (("fn", 3), ("slow", 60)):
        client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": CODE}, Timeout=timeout)
    client.get_waiter("function_active_v2").wait(FunctionName="fn")
    client.publish_version(FunctionName="fn")
    client.create_alias(FunctionName="fn", Name="live", FunctionVersion="1")
    return client


def queue_arn(sqs, name: str, **attributes: str) -> str:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def error_of(call, **kwargs) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    error = info.value.response
    return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"], error["Error"]["Message"]


def settled(lam, uuid: str, state: str) -> dict:
    deadline = time.monotonic() + 20
    while True:
        mapping = lam.get_event_source_mapping(UUID=uuid)
        if mapping["State"] == state or time.monotonic() > deadline:
            return mapping
        time.sleep(0.1)


def test_sqs_mapping_defaults_and_states(lam, sqs):
    arn = queue_arn(sqs, "defaults")
    created = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="fn")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    uuid = created["UUID"]
    assert len(uuid) == 36
    assert created["State"] == "Creating"
    assert created["StateTransitionReason"] == "USER_INITIATED"
    assert created["BatchSize"] == 10 and created["MaximumBatchingWindowInSeconds"] == 0
    assert created["FunctionResponseTypes"] == []
    assert created["EventSourceArn"] == arn
    assert created["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn"
    assert created["EventSourceMappingArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{uuid}"
    for absent in ("LastProcessingResult", "FilterCriteria", "StartingPosition", "ScalingConfig"):
        assert absent not in created
    assert settled(lam, uuid, "Enabled")["State"] == "Enabled"

    disabled = lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    assert disabled["ResponseMetadata"]["HTTPStatusCode"] == 202 and disabled["State"] == "Disabling"
    assert settled(lam, uuid, "Disabled")["State"] == "Disabled"
    enabling = lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    assert enabling["State"] == "Enabling"
    assert settled(lam, uuid, "Enabled")["State"] == "Enabled"
    updating = lam.update_event_source_mapping(UUID=uuid, BatchSize=5, ScalingConfig={"MaximumConcurrency": 3})
    assert updating["State"] == "Updating" and updating["BatchSize"] == 5
    assert updating["ScalingConfig"] == {"MaximumConcurrency": 3}
    assert "ScalingConfig" not in lam.update_event_source_mapping(UUID=uuid, ScalingConfig={})

    deleted = lam.delete_event_source_mapping(UUID=uuid)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202 and deleted["State"] == "Deleting"
    gone = (404, "ResourceNotFoundException", "The resource you requested does not exist.")
    assert error_of(lam.get_event_source_mapping, UUID=uuid) == gone
    assert error_of(lam.delete_event_source_mapping, UUID=uuid) == gone


def test_unknown_and_malformed_uuids(server, lam):
    """Get, Update and Delete of a UUID no mapping has: 404 with the generic text (triggers reference §1.8;
    only the Tag* calls name the mapping's ARN);
    a UUID that is not 36 characters long: the model's length constraint, before any lookup."""
    unknown = "00000000-0000-4000-8000-000000000000"
    gone = (404, "ResourceNotFoundException", "The resource you requested does not exist.")
    assert error_of(lam.get_event_source_mapping, UUID=unknown) == gone
    assert error_of(lam.update_event_source_mapping, UUID=unknown, BatchSize=5) == gone
    assert error_of(lam.delete_event_source_mapping, UUID=unknown) == gone
    key, secret = keys_for(server.url)
    raw = boto3.client("lambda", endpoint_url=server.url, region_name=REGION, aws_access_key_id=key,
                       aws_secret_access_key=secret, config=Config(parameter_validation=False,
                                                                   retries={"max_attempts": 0}))
    short = "Value 'nope' at 'uUID' failed to satisfy constraint: Member must have length greater than or equal to 36"
    for call, kwargs in ((raw.get_event_source_mapping, {}), (raw.update_event_source_mapping, {"BatchSize": 5}),
                         (raw.delete_event_source_mapping, {})):
        status, code, message = error_of(call, UUID="nope", **kwargs)
        assert (status, code) == (400, "ValidationException") and short in message, message


def test_created_disabled_and_qualified_targets(lam, sqs):
    arn = queue_arn(sqs, "qualified")
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="fn:live", Enabled=False)
    assert mapping["State"] == "Disabled"
    assert mapping["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn:live"
    other = lam.create_event_source_mapping(EventSourceArn=arn,
                                            FunctionName=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn:1")
    assert other["FunctionArn"].endswith("function:fn:1")
    listed = lam.list_event_source_mappings(FunctionName="fn:live")["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [mapping["UUID"]]
    for uuid in (mapping["UUID"], other["UUID"]):
        lam.delete_event_source_mapping(UUID=uuid)


def test_duplicate_queue_and_function_is_a_conflict(lam, sqs):
    arn = queue_arn(sqs, "dup")
    first = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="fn")
    assert error_of(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName="fn") == (
        409, "ResourceConflictException",
        f'An event source mapping with SQS arn (" {arn} ") and function (" fn ") already exists. '
        f"Please update or delete the existing mapping with UUID {first['UUID']}")
    lam.delete_event_source_mapping(UUID=first["UUID"])


@pytest.mark.parametrize("kwargs, expected", [
    ({"FunctionName": "nothere"}, (400, "InvalidParameterValueException", "Function does not exist")),
    ({"BatchSize": 11}, (400, "InvalidParameterValueException",
                         "Maximum batch window in seconds must be greater than 0 if maximum batch size is "
                         "greater than 10")),
    ({"StartingPosition": "LATEST"}, (400, "InvalidParameterValueException",
                                      "Unsupported StartingPosition parameter for given event source mapping type.")),
    ({"FilterCriteria": {"Filters": [{"Pattern": "not json"}]}},
     (400, "InvalidParameterValueException", "Invalid filter pattern definition.")),
    ({"FunctionName": "slow"}, (400, "InvalidParameterValueException",
                                "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds")),
    ({"DestinationConfig": {"OnFailure": {"Destination": f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"}}},
     (400, "InvalidParameterValueException",
      "Unsupported DestinationConfig parameter for given event source mapping type.")),
])
def test_sqs_validation_errors(lam, sqs, kwargs, expected):
    arn = queue_arn(sqs, "checks")
    assert error_of(lam.create_event_source_mapping, **{"EventSourceArn": arn, "FunctionName": "fn", **kwargs}) \
        == expected


def test_sqs_source_errors(lam, sqs):
    fifo = queue_arn(sqs, "order.fifo", FifoQueue="true")
    assert error_of(lam.create_event_source_mapping, EventSourceArn=fifo, FunctionName="fn",
                    MaximumBatchingWindowInSeconds=1)[2] == "Batching window is not supported for FIFO queues"
    assert error_of(lam.create_event_source_mapping, EventSourceArn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:missing",
                    FunctionName="fn")[2] == (
        "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
        "SQS Error Message: The specified queue does not exist.")
    assert error_of(lam.create_event_source_mapping, FunctionName="fn") == (
        400, "InvalidParameterValueException", "Unrecognized event source.")
    status, code, message = error_of(
        lam.create_event_source_mapping, FunctionName="fn", Topics=["orders"], StartingPosition="LATEST",
        SelfManagedEventSource={"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["127.0.0.1:9092"]}})
    assert (status, code) == (400, "InvalidParameterValueException") and "does not run Kafka" in message


def test_window_rule_applies_on_update(lam, sqs):
    arn = queue_arn(sqs, "window")
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="fn", BatchSize=100,
                                           MaximumBatchingWindowInSeconds=1)["UUID"]
    assert error_of(lam.update_event_source_mapping, UUID=uuid, MaximumBatchingWindowInSeconds=0)[2] == (
        "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10")
    lam.delete_event_source_mapping(UUID=uuid)


def test_stream_mappings_are_validated_and_stored(lam):
    assert error_of(lam.create_event_source_mapping, EventSourceArn=KINESIS_ARN, FunctionName="fn") == (
        400, "InvalidParameterValueException",
        "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: "
        "Member must not be null.")
    assert error_of(lam.create_event_source_mapping, EventSourceArn=KINESIS_ARN, FunctionName="fn",
                    StartingPosition="invalid") == (
        400, "ValidationException",
        "1 validation error detected: Value 'invalid' at 'startingPosition' failed to satisfy constraint: "
        "Member must satisfy enum value set: [LATEST, AT_TIMESTAMP, TRIM_HORIZON]")
    assert error_of(lam.create_event_source_mapping, EventSourceArn=DDB_ARN, FunctionName="fn",
                    StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=1700000000)[2] == (
        f"Unsupported starting position for arn type: {DDB_ARN}")
    assert error_of(lam.create_event_source_mapping, EventSourceArn=KINESIS_ARN, FunctionName="fn",
                    StartingPosition="LATEST", ScalingConfig={"MaximumConcurrency": 2})[2] == (
        "Unsupported ScalingConfig parameter for given event source mapping type.")
    assert error_of(lam.create_event_source_mapping, EventSourceArn=KINESIS_ARN, FunctionName="fn",
                    StartingPosition="LATEST",
                    DestinationConfig={"OnSuccess": {"Destination": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"}})[2] == (
        "Unsupported DestinationConfig parameter for given event source mapping type.")
    mapping = lam.create_event_source_mapping(EventSourceArn=KINESIS_ARN, FunctionName="fn",
                                              StartingPosition="TRIM_HORIZON", ParallelizationFactor=3,
                                              BisectBatchOnFunctionError=True, Enabled=False)
    assert mapping["StateTransitionReason"] == "User action"
    assert mapping["LastProcessingResult"] == "No records processed"
    assert (mapping["BatchSize"], mapping["ParallelizationFactor"], mapping["MaximumRetryAttempts"],
            mapping["MaximumRecordAgeInSeconds"], mapping["BisectBatchOnFunctionError"],
            mapping["TumblingWindowInSeconds"], mapping["StartingPosition"]) == (100, 3, -1, -1, True, 0,
                                                                                "TRIM_HORIZON")
    assert mapping["DestinationConfig"] == {"OnFailure": {}}
    assert error_of(lam.create_event_source_mapping, EventSourceArn=KINESIS_ARN, FunctionName="fn",
                    StartingPosition="LATEST")[0] == 409
    lam.delete_event_source_mapping(UUID=mapping["UUID"])


def test_tags_on_a_mapping_round_trip_and_go_with_it(lam, sqs):
    arn = queue_arn(sqs, "tagged")
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="fn", Tags={"team": "core"})
    resource = mapping["EventSourceMappingArn"]
    assert resource == f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{mapping['UUID']}"
    assert "Tags" not in mapping  # AWS's EventSourceMappingConfiguration has no Tags; ListTags has them
    assert lam.list_tags(Resource=resource)["Tags"] == {"team": "core"}
    assert lam.tag_resource(Resource=resource, Tags={"stage": "dev", "team": "edge"})[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_tags(Resource=resource)["Tags"] == {"stage": "dev", "team": "edge"}
    assert lam.untag_resource(Resource=resource, TagKeys=["team"])["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_tags(Resource=resource)["Tags"] == {"stage": "dev"}
    lam.update_event_source_mapping(UUID=mapping["UUID"], BatchSize=5)  # an update keeps the tags
    assert lam.list_tags(Resource=resource)["Tags"] == {"stage": "dev"}
    assert lam.list_tags(Resource=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn")["Tags"] == {}  # not the function's
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
    missing = (404, "ResourceNotFoundException", f"Event source mapping not found: {resource}")
    assert error_of(lam.list_tags, Resource=resource) == missing
    assert error_of(lam.tag_resource, Resource=resource, Tags={"a": "b"}) == missing
    assert error_of(lam.untag_resource, Resource=resource, TagKeys=["stage"]) == missing
    fresh = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="fn")  # same queue and function
    assert lam.list_tags(Resource=fresh["EventSourceMappingArn"])["Tags"] == {}
    lam.delete_event_source_mapping(UUID=fresh["UUID"])


def test_tag_limits_and_unknown_mapping_arns(lam, sqs):
    arn = queue_arn(sqs, "tag-limits")
    too_many = {f"k{i}": "v" for i in range(51)}
    assert error_of(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName="fn", Tags=too_many) == (
        400, "InvalidParameterValueException", "Number of tags exceeds resource tag limit.")
    assert lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"] == []  # none was made
    status, code, message = error_of(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName="fn",
                                     Tags={"bad#key": "v"})
    assert (status, code) == (400, "ValidationException") and "at 'tags' failed to satisfy constraint" in message
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="fn",
                                              Tags={f"k{i}": "v" for i in range(50)})
    resource = mapping["EventSourceMappingArn"]
    assert error_of(lam.tag_resource, Resource=resource, Tags={"one-more": "v"}) == (
        400, "InvalidParameterValueException", "Number of tags exceeds resource tag limit.")
    status, code, message = error_of(lam.tag_resource, Resource=resource, Tags={"k0": "x" * 257})
    assert (status, code) == (400, "ValidationException") and "at 'tags' failed to satisfy constraint" in message
    assert lam.list_tags(Resource=resource)["Tags"] == {f"k{i}": "v" for i in range(50)}
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
    unknown = f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:00000000-0000-4000-8000-000000000000"
    assert error_of(lam.list_tags, Resource=unknown) == (
        404, "ResourceNotFoundException", f"Event source mapping not found: {unknown}")
    status, code, _ = error_of(lam.list_tags, Resource=f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:nope")
    assert (status, code) == (400, "ValidationException")  # the model's pattern: no UUID


def test_list_filters_and_pages(lam, sqs):
    arns = [queue_arn(sqs, f"page-{i}") for i in range(3)]
    uuids = [lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="fn", Enabled=False)["UUID"]
             for arn in arns]
    assert [m["UUID"] for m in lam.list_event_source_mappings(EventSourceArn=arns[1])["EventSourceMappings"]] \
        == [uuids[1]]
    seen, marker = [], None
    while True:
        page = lam.list_event_source_mappings(FunctionName="fn", MaxItems=2, **({"Marker": marker} if marker else {}))
        assert len(page["EventSourceMappings"]) <= 2
        seen += [m["UUID"] for m in page["EventSourceMappings"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert set(uuids) <= set(seen) and len(seen) == len(set(seen))
    assert lam.list_event_source_mappings(FunctionName="nothere")["EventSourceMappings"] == []
    for uuid in uuids:
        lam.delete_event_source_mapping(UUID=uuid)


def test_mappings_survive_a_restart(tmp_path, moto_server, sqs):
    arn = queue_arn(sqs, "kept")
    env = source_env(moto_server)
    first = LaminaProcess(tmp_path / "data", env=env).start()
    try:
        lam = client_for(first.url)
        lam.create_function(FunctionName="fn", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": CODE})
        lam.get_waiter("function_active_v2").wait(FunctionName="fn")
        enabled = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="fn", BatchSize=7,
                                                  Tags={"kept": "yes"})["UUID"]
        disabled = lam.create_event_source_mapping(EventSourceArn=KINESIS_ARN, FunctionName="fn", Enabled=False,
                                                   StartingPosition="LATEST")["UUID"]
        settled(lam, enabled, "Enabled")
    finally:
        first.stop()
    second = LaminaProcess(tmp_path / "data", env=env).start()
    try:
        lam = client_for(second.url)
        again = settled(lam, enabled, "Enabled")
        assert (again["State"], again["BatchSize"], again["EventSourceArn"]) == ("Enabled", 7, arn)
        assert lam.list_tags(Resource=again["EventSourceMappingArn"])["Tags"] == {"kept": "yes"}
        assert lam.get_event_source_mapping(UUID=disabled)["State"] == "Disabled"
        assert second.health()["counts"]["eventSourceMappings"] == {"byState": {"Disabled": 1, "Enabled": 1},
                                                                     "polling": 1}
    finally:
        second.stop()
