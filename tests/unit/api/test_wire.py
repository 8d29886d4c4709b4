"""lamina.api.wire against botocore's service model: every member we write exists, with its type."""

import botocore.session
import pytest

from lamina.api import wire
from lamina.model import AccountUsage, EventInvokeConfig, FunctionVersion, ProvisionedConfig

MODEL = botocore.session.get_session().get_service_model("lambda")
PY_TYPES = {"string": str, "integer": int, "long": int, "boolean": bool, "structure": dict, "list": list,
            "map": dict, "timestamp": str, "double": float, "float": float}


def check(shape, value, path):
    expected = PY_TYPES[shape.type_name]
    assert isinstance(value, expected), f"{path}: {type(value).__name__} is not {shape.type_name}"
    if shape.type_name == "structure":
        for key, item in value.items():
            assert key in shape.members, f"{path}.{key} is not in the model"
            check(shape.members[key], item, f"{path}.{key}")
    elif shape.type_name == "list":
        for index, item in enumerate(value):
            check(shape.member, item, f"{path}[{index}]")
    elif shape.type_name == "map":
        for key, item in value.items():
            check(shape.value, item, f"{path}[{key}]")
    enum = shape.metadata.get("enum")
    if enum:
        assert value in enum, f"{path}: {value!r} not in {enum}"


@pytest.mark.parametrize("list_item", [False, True])
def test_function_configuration_matches_the_model(list_item):
    version = FunctionVersion(
        name="f", runtime="python3.12", handler="a.b", role="arn:aws:iam::000000000000:role/r",
        environment={"K1": "v"}, layers=[{"Arn": "arn:aws:lambda:us-east-1:000000000000:layer:l:1", "CodeSize": 3}],
        code_sha256="x", revision_id="r", last_update_status="Failed",
        last_update_status_reason="no python", last_update_status_reason_code="InvalidRuntime",
    )
    body = wire.function_configuration(version, "arn:aws:lambda:us-east-1:000000000000:function:f", "us-east-1",
                                       list_item=list_item)
    check(MODEL.shape_for("FunctionConfiguration"), body, "FunctionConfiguration")
    assert ("State" in body) is not list_item and ("RuntimeVersionConfig" in body) is not list_item


def test_optional_members_are_left_out_when_unset():
    body = wire.function_configuration(FunctionVersion(name="f", runtime="python3.12"), "arn", "us-east-1")
    for member in ("Environment", "Layers", "LastUpdateStatus", "LastUpdateStatusReason"):
        assert member not in body
    assert body["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/f"}


def test_event_invoke_config_matches_the_model():
    record = EventInvokeConfig("arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST",
                               {"MaximumRetryAttempts": 1, "DestinationConfig": {
                                   "OnFailure": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:g"}}},
                               1_700_000_000.5)
    body = wire.event_invoke_config(record)
    assert body.pop("LastModified") == 1_700_000_000.5  # epoch seconds, as botocore's rest-json reads them
    check(MODEL.shape_for("FunctionEventInvokeConfig"), body, "FunctionEventInvokeConfig")
    assert "MaximumEventAgeInSeconds" not in body
    assert body["DestinationConfig"] == {
        "OnSuccess": {}, "OnFailure": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:g"}}


@pytest.mark.parametrize(("ready", "status"), [(0, "IN_PROGRESS"), (2, "IN_PROGRESS"), (3, "READY")])
def test_provisioned_concurrency_config_matches_the_model(ready, status):
    record = ProvisionedConfig("arn:aws:lambda:us-east-1:000000000000:function:f:live", 3, ready,
                               "2024-01-01T00:00:00.000+0000")
    single = wire.provisioned_concurrency_config(record)
    check(MODEL.shape_for("GetProvisionedConcurrencyConfigResponse"), single, "Get")
    assert "FunctionArn" not in single and single["Status"] == status
    assert single["AvailableProvisionedConcurrentExecutions"] == single["AllocatedProvisionedConcurrentExecutions"] == ready
    item = wire.provisioned_concurrency_config(record, list_item=True)
    check(MODEL.shape_for("ProvisionedConcurrencyConfigListItem"), item, "ListItem")
    assert list(item)[0] == "FunctionArn" and item["FunctionArn"] == record.function_arn


def test_account_settings_matches_the_model():
    usage = AccountUsage(total_code_size_limit=80, code_size_unzipped_limit=26, code_size_zipped_limit=5,
                         concurrent_executions=10, unreserved_concurrent_executions=7, total_code_size=3,
                         function_count=2)
    body = wire.account_settings(usage)
    check(MODEL.shape_for("GetAccountSettingsResponse"), body, "GetAccountSettings")
    assert body == {"AccountLimit": {"TotalCodeSize": 80, "CodeSizeUnzipped": 26, "CodeSizeZipped": 5,
                                     "ConcurrentExecutions": 10, "UnreservedConcurrentExecutions": 7},
                    "AccountUsage": {"TotalCodeSize": 3, "FunctionCount": 2}}
