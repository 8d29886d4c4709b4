"""Versions and aliases through boto3 against a real server (control plane)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, ROLE, make_zip

ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"


def code(n: int) -> bytes:
    return make_zip({"app.py": f"def handler(event, context):\n    return {n}\n"})


def fresh(lam, name: str) -> None:
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": code(1)})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


def error(call, **kwargs):
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response


def test_publish_is_idempotent_and_numbers_grow(lam):
    fresh(lam, "ver")
    v1 = lam.publish_version(FunctionName="ver", Description="first")
    assert v1["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert v1["Version"] == "1" and v1["FunctionArn"] == f"{ARN}:ver:1" and v1["Description"] == "first"
    assert lam.publish_version(FunctionName="ver")["Version"] == "1"  # nothing changed
    lam.update_function_code(FunctionName="ver", ZipFile=code(2))
    lam.get_waiter("function_updated_v2").wait(FunctionName="ver")
    v2 = lam.publish_version(FunctionName="ver")
    assert v2["Version"] == "2"
    versions = lam.list_versions_by_function(FunctionName="ver")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    assert versions[0]["FunctionArn"] == f"{ARN}:ver:$LATEST"
    got = lam.get_function_configuration(FunctionName="ver", Qualifier="1")
    assert got["Version"] == "1" and got["CodeSha256"] == v1["CodeSha256"] != v2["CodeSha256"]


def test_publish_preconditions(lam):
    fresh(lam, "pre")
    response = error(lam.publish_version, FunctionName="pre", CodeSha256="abc")
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert response["message"].startswith("CodeSHA256 (abc) is different from current CodeSHA256 in $LATEST (")
    response = error(lam.publish_version, FunctionName="pre", RevisionId="nope")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 412


def test_update_code_with_publish_and_version_delete(lam):
    fresh(lam, "pub")
    lam.update_function_code(FunctionName="pub", ZipFile=code(5), Publish=True)
    lam.get_waiter("function_updated_v2").wait(FunctionName="pub")
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName="pub")["Versions"]] == ["$LATEST", "1"]
    assert lam.delete_function(FunctionName="pub", Qualifier="1")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert error(lam.get_function, FunctionName="pub", Qualifier="1")["Error"]["Code"] == "ResourceNotFoundException"
    lam.update_function_code(FunctionName="pub", ZipFile=code(6), Publish=True)
    lam.get_waiter("function_updated_v2").wait(FunctionName="pub")
    assert lam.list_versions_by_function(FunctionName="pub")["Versions"][-1]["Version"] == "2"  # never reused


def test_alias_lifecycle(lam):
    fresh(lam, "ali")
    lam.publish_version(FunctionName="ali")
    lam.update_function_code(FunctionName="ali", ZipFile=code(2), Publish=True)
    lam.get_waiter("function_updated_v2").wait(FunctionName="ali")
    created = lam.create_alias(FunctionName="ali", Name="live", FunctionVersion="1")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["AliasArn"] == f"{ARN}:ali:live" and created["Description"] == ""
    assert "RoutingConfig" not in created
    response = error(lam.create_alias, FunctionName="ali", Name="live", FunctionVersion="1")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert response["message"] == f"Alias already exists: {ARN}:ali:live"
    updated = lam.update_alias(FunctionName="ali", Name="live", FunctionVersion="2",
                               RoutingConfig={"AdditionalVersionWeights": {"1": 0.25}})
    assert updated["FunctionVersion"] == "2"
    assert updated["RoutingConfig"] == {"AdditionalVersionWeights": {"1": 0.25}}
    assert updated["RevisionId"] != created["RevisionId"]
    assert lam.get_alias(FunctionName="ali", Name="live")["FunctionVersion"] == "2"
    by_alias = lam.get_function_configuration(FunctionName="ali", Qualifier="live")
    assert by_alias["Version"] == "2" and by_alias["FunctionArn"] == f"{ARN}:ali:live"
    lam.create_alias(FunctionName="ali", Name="old", FunctionVersion="1")
    assert [a["Name"] for a in lam.list_aliases(FunctionName="ali")["Aliases"]] == ["live", "old"]
    assert [a["Name"] for a in lam.list_aliases(FunctionName="ali", FunctionVersion="1")["Aliases"]] == ["old"]
    response = error(lam.delete_function, FunctionName="ali", Qualifier="1")
    assert response["Error"]["Code"] == "ResourceConflictException"
    response = error(lam.delete_function, FunctionName="ali", Qualifier="live")
    assert response["message"] == "Deletion of aliases is not currently supported."
    assert lam.delete_alias(FunctionName="ali", Name="old")["ResponseMetadata"]["HTTPStatusCode"] == 204
    response = error(lam.get_alias, FunctionName="ali", Name="old")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert response["Message"] == f"Cannot find alias arn: {ARN}:ali:old"
    response = error(lam.update_alias, FunctionName="ali", Name="live", RevisionId="stale")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 412


@pytest.mark.parametrize(("version", "weights", "message"), [
    ("$LATEST", {"1": 0.5}, "$LATEST is not supported for an alias pointing to more than 1 version"),
    ("1", {"1": 0.5}, "Invalid function version 1. Function version 1 is already included in routing configuration."),
    ("1", {"2": 0.1, "3": 0.1}, "Number of items in AdditionalVersionWeights cannot be greater than 1"),
])
def test_routing_rules(lam, version, weights, message):
    name = "route"
    try:
        fresh(lam, name)
        for n in (2, 3, 4):
            lam.update_function_code(FunctionName=name, ZipFile=code(n), Publish=True)
            lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    except ClientError:
        pass  # created by an earlier parameter
    response = error(lam.create_alias, FunctionName=name, Name="x", FunctionVersion=version,
                     RoutingConfig={"AdditionalVersionWeights": weights})
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert response["message"] == message


def test_alias_names_cannot_be_all_digits(lam):
    fresh(lam, "digits")
    response = error(lam.create_alias, FunctionName="digits", Name="123", FunctionVersion="$LATEST")
    assert response["Error"]["Code"] == "ValidationException"


def test_weighted_alias_splits_traffic_and_reports_the_executed_version(lam):
    import json
    import math

    fresh(lam, "canary")
    reporter = "def handler(event, context):\n    return {'arn': context.invoked_function_arn, 'v': %d}\n"
    for n in (1, 2):
        lam.update_function_code(FunctionName="canary", ZipFile=make_zip({"app.py": reporter % n}), Publish=True)
        lam.get_waiter("function_updated_v2").wait(FunctionName="canary")
    lam.create_alias(FunctionName="canary", Name="live", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    executed = {"1": 0, "2": 0}
    for _ in range(400):
        response = lam.invoke(FunctionName="canary:live", Payload=b"{}")
        body = json.loads(response["Payload"].read())
        assert body["arn"] == f"{ARN}:canary:live"
        assert body["v"] == int(response["ExecutedVersion"])
        executed[response["ExecutedVersion"]] += 1
    # binomial(400, 0.5): mean 200, sd 10; 5 sd either side
    assert abs(executed["2"] - 200) < 5 * math.sqrt(400 * 0.25), executed
    by_arn = lam.invoke(FunctionName=f"{ARN}:canary:live", Payload=b"{}")
    assert by_arn["ExecutedVersion"] in ("1", "2")
    version = lam.invoke(FunctionName="canary", Qualifier="1", Payload=b"{}")
    assert version["ExecutedVersion"] == "1"
    assert json.loads(version["Payload"].read()) == {"arn": f"{ARN}:canary:1", "v": 1}
    latest = lam.invoke(FunctionName="canary", Payload=b"{}")
    assert latest["ExecutedVersion"] == "$LATEST"
