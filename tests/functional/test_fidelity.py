"""Fidelity and robustness regressions of issue 21 (control plane and stores), through boto3 against a
real server: what AWS answers, where lamina answered differently or with a 500."""

from __future__ import annotations

import io
import json
import time
import urllib.request
import zipfile

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, ROLE, client_for, make_zip

ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"
INT64_MAX = 2**63 - 1


def code(n: int) -> bytes:
    return make_zip({"app.py": f"def handler(event, context):\n    return {n}\n"})


def fresh(lam, name: str, zip_bytes: bytes | None = None, **extra) -> dict:
    created = lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                  Code={"ZipFile": zip_bytes or code(1)}, **extra)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return created


def settled(lam, name: str) -> dict:
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    return lam.get_function_configuration(FunctionName=name)


def error(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response


@pytest.fixture(scope="module")
def logs(lamina):
    return client_for(lamina.url, "logs")


# -- 1. LastUpdateStatus after create and on published versions ---------------------------------------------

def test_a_created_function_reports_a_successful_last_update(lam):
    created = fresh(lam, "fid-created")
    assert "LastUpdateStatus" not in created  # the CreateFunction response itself has none (reference 1.3)
    config = lam.get_function_configuration(FunctionName="fid-created")
    assert config["State"] == "Active" and config["LastUpdateStatus"] == "Successful"
    assert lam.get_function(FunctionName="fid-created")["Configuration"]["LastUpdateStatus"] == "Successful"
    published = lam.publish_version(FunctionName="fid-created")
    assert published["LastUpdateStatus"] == "Successful"
    version = lam.get_function_configuration(FunctionName="fid-created", Qualifier=published["Version"])
    assert version["LastUpdateStatus"] == "Successful"


# -- 2. a finished update gives a new RevisionId ------------------------------------------------------------

def test_a_finished_update_changes_the_revision_again(lam):
    fresh(lam, "fid-revision")
    updated = lam.update_function_configuration(FunctionName="fid-revision", Timeout=9)
    done = settled(lam, "fid-revision")
    assert done["LastUpdateStatus"] == "Successful" and done["RevisionId"] != updated["RevisionId"]
    response = error(lam.update_function_configuration, FunctionName="fid-revision", Timeout=10,
                     RevisionId=updated["RevisionId"])
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 412
    lam.update_function_configuration(FunctionName="fid-revision", Timeout=10, RevisionId=done["RevisionId"])
    assert settled(lam, "fid-revision")["Timeout"] == 10


# -- 3. PublishVersion after any change ---------------------------------------------------------------------

def test_publish_makes_a_new_version_after_any_change(lam):
    fresh(lam, "fid-publish", zip_bytes=code(1))
    assert lam.publish_version(FunctionName="fid-publish")["Version"] == "1"
    assert lam.publish_version(FunctionName="fid-publish")["Version"] == "1"  # nothing happened
    lam.update_function_configuration(FunctionName="fid-publish", Description="only the description")
    settled(lam, "fid-publish")
    assert lam.publish_version(FunctionName="fid-publish")["Version"] == "2"
    lam.update_function_code(FunctionName="fid-publish", ZipFile=code(1))  # the very same bytes
    settled(lam, "fid-publish")
    assert lam.publish_version(FunctionName="fid-publish")["Version"] == "3"
    assert lam.publish_version(FunctionName="fid-publish")["Version"] == "3"
    lam.tag_resource(Resource=f"{ARN}:fid-publish", Tags={"team": "a"})  # tags are not the version's
    assert lam.publish_version(FunctionName="fid-publish")["Version"] == "3"


# -- 4. tags on versions and aliases ------------------------------------------------------------------------

def test_tags_on_a_version_or_alias_arn_are_refused_with_aws_text(lam):
    fresh(lam, "fid-tags")
    lam.publish_version(FunctionName="fid-tags")
    lam.create_alias(FunctionName="fid-tags", Name="live", FunctionVersion="1")
    message = "Tags on function aliases and versions are not supported. Please specify a function ARN."
    for resource in (f"{ARN}:fid-tags:1", f"{ARN}:fid-tags:live", f"{ARN}:fid-tags:$LATEST"):
        for call, kwargs in ((lam.tag_resource, {"Tags": {"a": "b"}}), (lam.untag_resource, {"TagKeys": ["a"]}),
                             (lam.list_tags, {})):
            response = error(call, Resource=resource, **kwargs)
            assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
            assert response["Error"]["Code"] == "InvalidParameterValueException"
            assert response["message"] == message
    lam.tag_resource(Resource=f"{ARN}:fid-tags", Tags={"a": "b"})
    assert lam.list_tags(Resource=f"{ARN}:fid-tags")["Tags"] == {"a": "b"}


# -- 5. UpdateAlias of a missing alias ----------------------------------------------------------------------

def test_update_of_a_missing_alias_says_alias_not_found(lam):
    fresh(lam, "fid-alias")
    response = error(lam.update_alias, FunctionName="fid-alias", Name="nope", FunctionVersion="$LATEST")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert response["Error"]["Code"] == "ResourceNotFoundException"
    assert response["Error"]["Message"] == f"Alias not found: {ARN}:fid-alias:nope"
    response = error(lam.get_alias, FunctionName="fid-alias", Name="nope")
    assert response["Error"]["Message"] == f"Cannot find alias arn: {ARN}:fid-alias:nope"


# -- 16. integers beyond 2^63 never reach the database ------------------------------------------------------

def test_huge_layer_versions_are_not_found(lam):
    layer = lam.publish_layer_version(LayerName="fid-huge", Content={"ZipFile": code(1)})
    huge = 2**63
    for call, kwargs in ((lam.get_layer_version, {"LayerName": "fid-huge", "VersionNumber": huge}),
                         (lam.get_layer_version_by_arn, {"Arn": f"{layer['LayerArn']}:{huge}"})):
        response = error(call, **kwargs)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 404, response
    assert lam.delete_layer_version(LayerName="fid-huge", VersionNumber=huge)[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    response = error(lam.create_function, FunctionName="fid-huge-layer", Runtime="python3.12", Role=ROLE,
                     Handler="app.handler", Code={"ZipFile": code(1)}, Layers=[f"{layer['LayerArn']}:{huge}"])
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400, response


def test_logs_bounds_beyond_2_63_answer_normally(logs):
    logs.create_log_group(logGroupName="/fid/bounds")
    logs.create_log_stream(logGroupName="/fid/bounds", logStreamName="s")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName="/fid/bounds", logStreamName="s",
                        logEvents=[{"timestamp": now, "message": "hello"}])
    found = logs.filter_log_events(logGroupName="/fid/bounds", endTime=INT64_MAX)["events"]
    assert [event["message"] for event in found] == ["hello"]
    got = logs.get_log_events(logGroupName="/fid/bounds", logStreamName="s", endTime=INT64_MAX,
                              startFromHead=True)["events"]
    assert [event["message"] for event in got] == ["hello"]
    beyond = "f/" + "9" * 56
    assert logs.filter_log_events(logGroupName="/fid/bounds", nextToken=beyond)["events"] == []
    assert logs.get_log_events(logGroupName="/fid/bounds", logStreamName="s", nextToken=beyond)["events"] == []
    before = "b/" + "9" * 56  # before everything: the whole stream, newest first
    got = logs.get_log_events(logGroupName="/fid/bounds", logStreamName="s", nextToken=before)["events"]
    assert [event["message"] for event in got] == ["hello"]


def test_a_catastrophic_regex_does_not_stall_the_server(lamina, logs):
    logs.create_log_group(logGroupName="/fid/regex")
    logs.create_log_stream(logGroupName="/fid/regex", logStreamName="s")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName="/fid/regex", logStreamName="s",
                        logEvents=[{"timestamp": now + i, "message": "a" * 40 + "b"} for i in range(50)]
                        + [{"timestamp": now + 50, "message": "a" * 40}])
    # On a backtracking engine this pattern doubles its work per character: 40 of them never finish.
    found = logs.filter_log_events(logGroupName="/fid/regex", filterPattern="%(a+)+$%")["events"]
    assert [event["message"] for event in found] == ["a" * 40]
    response = error(logs.filter_log_events, logGroupName="/fid/regex", filterPattern="%(?=a)%")
    assert response["Error"]["Code"] == "InvalidParameterException"
    with urllib.request.urlopen(lamina.url + "/health") as health:
        assert health.status == 200


def test_provisioned_concurrency_is_capped_by_the_unreserved_pool(lam):
    fresh(lam, "fid-pc")
    lam.publish_version(FunctionName="fid-pc")
    message = ("Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
               "below its minimum value of [100].")
    for requested in (2**63, 100_000, 901):  # the account's 1,000, 100 of which stay unreserved
        response = error(lam.put_provisioned_concurrency_config, FunctionName="fid-pc", Qualifier="1",
                         ProvisionedConcurrentExecutions=requested)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert response["Error"]["Code"] == "InvalidParameterValueException"
        assert response["message"] == message
    assert lam.list_provisioned_concurrency_configs(FunctionName="fid-pc")["ProvisionedConcurrencyConfigs"] == []
    lam.put_function_concurrency(FunctionName="fid-pc", ReservedConcurrentExecutions=5)
    response = error(lam.put_provisioned_concurrency_config, FunctionName="fid-pc", Qualifier="1",
                     ProvisionedConcurrentExecutions=2**63)
    assert response["message"] == ("Requested Provisioned Concurrency should not be greater than the "
                                   "reservedConcurrentExecution for function: 5")


# -- 16. handler names that cannot be resolved --------------------------------------------------------------

@pytest.mark.parametrize(("name", "handler", "error_type"), [
    ("fid-handler-up", "../../x.y", "Runtime.ImportModuleError"),
    ("fid-handler-nul", "app.handler\0", "Runtime.HandlerNotFound"),  # no environment variable holds a NUL
    ("fid-module-nul", "a\0pp.handler", "Runtime.ImportModuleError"),
])
def test_unresolvable_handlers_fail_with_the_runtimes_error_types(lam, name, handler, error_type):
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler=handler,
                        Code={"ZipFile": code(1)})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    response = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == error_type, body


# -- 16. a layer of 100,000 entries publishes as fast as a function of it is created ------------------------

def many_entries(count: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(count):
            archive.writestr(f"python/pkg{i % 100}/m{i}.py", b"")
    return buffer.getvalue()


def test_publishing_a_layer_leaves_unpacking_to_its_first_function(lam, lamina):
    """PublishLayerVersion answered only after writing out every entry (17 s for 100,000); it now
    answers once the archive is checked, like CreateFunction, and the first function using it unpacks it."""
    zip_bytes = many_entries(20_000)
    unpacked = lamina.data_dir / "blobs" / "unpacked"
    before = set(unpacked.iterdir())
    layer = lam.publish_layer_version(LayerName="fid-wide", Content={"ZipFile": zip_bytes})
    assert layer["Version"] == 1
    assert set(unpacked.iterdir()) == before  # nothing written out while the client waited
    lam.create_function(FunctionName="fid-wide", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": (
                            "import os\n"
                            "def handler(event, context):\n"
                            "    return len(os.listdir('/opt/python/pkg7'))\n")})},
                        Layers=[layer["LayerVersionArn"]])
    lam.get_waiter("function_active_v2").wait(FunctionName="fid-wide",
                                              WaiterConfig={"Delay": 0.1, "MaxAttempts": 3000})
    assert json.loads(lam.invoke(FunctionName="fid-wide")["Payload"].read()) == 200


def test_a_layer_the_unpacker_refuses_fails_the_function_that_uses_it(lam):
    """Publishing checks the archive's directory; a member whose bytes break their CRC is found only by
    unpacking, which now happens when the first function using the layer settles: that function fails."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("python/lie.py", b"x = 1\n")
    data = bytearray(buffer.getvalue())
    data[data.index(b"x = 1")] = ord("y")
    layer = lam.publish_layer_version(LayerName="fid-corrupt", Content={"ZipFile": bytes(data)})
    lam.create_function(FunctionName="fid-corrupt", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": code(1)}, Layers=[layer["LayerVersionArn"]])
    config = lam.get_function_configuration(FunctionName="fid-corrupt")
    while config["State"] == "Pending":
        time.sleep(0.2)
        config = lam.get_function_configuration(FunctionName="fid-corrupt")
    assert config["State"] == "Failed" and config["StateReasonCode"] == "InvalidZipFileException"
    assert config["LastUpdateStatus"] == "Failed"
