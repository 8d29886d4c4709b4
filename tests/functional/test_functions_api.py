"""The function control plane through boto3 against a real `lamina serve` process."""

from __future__ import annotations

import base64
import hashlib
import urllib.request

import pytest
from botocore.exceptions import ClientError, WaiterError

from support import ACCOUNT, REGION, ROLE, make_zip

HANDLER_ZIP = make_zip({"app.py": "def handler(event, context):\n    return event\n"})
RUNTIME = "python3.12"


def arn(name: str, qualifier: str | None = None) -> str:
    base = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


def create(lam, name: str, **extra):
    params = {"FunctionName": name, "Runtime": RUNTIME, "Role": ROLE, "Handler": "app.handler",
              "Code": {"ZipFile": HANDLER_ZIP}}
    params.update(extra)
    return lam.create_function(**params)


def error_of(call, *args, **kwargs) -> tuple[int, str, dict]:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    response = info.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response


def test_create_answers_pending_with_aws_defaults_then_goes_active(lam):
    created = create(lam, "defaults")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionName"] == "defaults"
    assert created["FunctionArn"] == arn("defaults")
    assert created["Version"] == "$LATEST"
    assert created["State"] == "Pending"
    assert created["StateReason"] == "The function is being created."
    assert created["StateReasonCode"] == "Creating"
    assert "LastUpdateStatus" not in created
    assert created["Timeout"] == 3 and created["MemorySize"] == 128
    assert created["Description"] == ""
    assert created["TracingConfig"] == {"Mode": "PassThrough"}
    assert created["PackageType"] == "Zip"
    assert created["Architectures"] == ["x86_64"]
    assert created["EphemeralStorage"] == {"Size": 512}
    assert created["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/defaults"}
    assert created["CodeSize"] == len(HANDLER_ZIP)
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(HANDLER_ZIP).digest()).decode()
    assert "Environment" not in created and "Layers" not in created
    assert created["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]

    lam.get_waiter("function_active_v2").wait(FunctionName="defaults")
    config = lam.get_function_configuration(FunctionName="defaults")
    assert config["State"] == "Active"
    assert "StateReason" not in config
    assert config["RuntimeVersionConfig"]["RuntimeVersionArn"].startswith(f"arn:aws:lambda:{REGION}::runtime:")


def test_duplicate_name_is_a_conflict(lam):
    create(lam, "dup")
    status, code, response = error_of(create, lam, "dup")
    assert (status, code) == (409, "ResourceConflictException")
    assert response["message"] == "Function already exist: dup"
    assert response["Type"] == "User"


def test_get_function_returns_a_downloadable_code_location_and_tags(lam):
    create(lam, "getme", Tags={"team": "core"})
    got = lam.get_function(FunctionName="getme")
    assert got["Code"]["RepositoryType"] == "S3"
    with urllib.request.urlopen(got["Code"]["Location"]) as response:
        assert response.read() == HANDLER_ZIP
    assert got["Tags"] == {"team": "core"}
    assert got["Configuration"]["FunctionArn"] == arn("getme")
    by_arn = lam.get_function(FunctionName=arn("getme"))
    assert by_arn["Configuration"]["FunctionName"] == "getme"
    qualified = lam.get_function_configuration(FunctionName="getme", Qualifier="$LATEST")
    assert qualified["FunctionArn"] == arn("getme", "$LATEST")
    create(lam, "untagged")
    assert "Tags" not in lam.get_function(FunctionName="untagged")


def test_missing_function_is_not_found_with_aws_text(lam):
    status, code, response = error_of(lam.get_function, FunctionName="nope")
    assert (status, code) == (404, "ResourceNotFoundException")
    assert response["Error"]["Message"] == f"Function not found: {arn('nope')}"
    assert response["Message"] == f"Function not found: {arn('nope')}"
    status, code, response = error_of(lam.get_function, FunctionName="nope:7", Qualifier="8")
    assert code == "InvalidParameterValueException"
    assert response["message"] == "The derived qualifier from the function name does not match the specified qualifier."
    status, code, response = error_of(lam.get_function, FunctionName="arn:aws:lambda:eu-west-1:000000000000:function:x")
    assert response["Error"]["Message"] == "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')"


def test_list_functions_pages_with_markers_and_omits_state(lam):
    for index in range(5):
        create(lam, f"page-{index}")
    names, marker, pages = [], None, 0
    while True:
        kwargs = {"MaxItems": 2}
        if marker:
            kwargs["Marker"] = marker
        page = lam.list_functions(**kwargs)
        pages += 1
        assert len(page["Functions"]) <= 2
        for item in page["Functions"]:
            assert "State" not in item and "LastUpdateStatus" not in item and "RuntimeVersionConfig" not in item
            assert item["FunctionArn"] == arn(item["FunctionName"])
        names += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert {f"page-{i}" for i in range(5)} <= set(names)
    assert len(names) == len(set(names))
    assert pages >= 3
    everything = lam.get_paginator("list_functions").paginate(FunctionVersion="ALL").build_full_result()
    latest = [f for f in everything["Functions"] if f["FunctionName"] == "page-0"]
    assert latest and latest[0]["FunctionArn"] == arn("page-0", "$LATEST")


def test_list_functions_master_region_lists_only_edge_replicas(lam):
    # MasterRegion filters to Lambda@Edge replicas (lamina holds none) and needs FunctionVersion=ALL;
    # without it AWS answers with this text (observed, aws/aws-cli#2911), MasterArn spelling and all.
    create(lam, "edge-master")
    assert lam.list_functions(MasterRegion="us-east-1", FunctionVersion="ALL")["Functions"] == []
    status, code, response = error_of(lam.list_functions, MasterRegion="eu-west-1")
    assert (status, code) == (400, "InvalidParameterValueException")
    assert response["message"] == (
        "The combination MasterArn=eu-west-1 and FunctionVersion=NULL is not supported. "
        "Please see our documentation for valid combinations of ListFunctions options.")
    assert "edge-master" in [f["FunctionName"] for f in lam.list_functions()["Functions"]]


def test_update_configuration_goes_in_progress_then_successful(lam):
    create(lam, "upd")
    lam.get_waiter("function_active_v2").wait(FunctionName="upd")
    before = lam.get_function_configuration(FunctionName="upd")
    updated = lam.update_function_configuration(
        FunctionName="upd", Timeout=30, MemorySize=256, Description="d", Handler="app.other",
        Environment={"Variables": {"GREETING": "hi"}}, EphemeralStorage={"Size": 1024},
        TracingConfig={"Mode": "Active"}, Role=ROLE,
        LoggingConfig={"LogFormat": "Text", "LogGroup": "/custom/upd"},
    )
    assert updated["LastUpdateStatus"] == "InProgress"
    assert updated["RevisionId"] != before["RevisionId"]
    lam.get_waiter("function_updated_v2").wait(FunctionName="upd")
    after = lam.get_function_configuration(FunctionName="upd")
    assert after["LastUpdateStatus"] == "Successful"
    assert (after["Timeout"], after["MemorySize"], after["Description"], after["Handler"]) == (30, 256, "d", "app.other")
    assert after["Environment"] == {"Variables": {"GREETING": "hi"}}
    assert after["EphemeralStorage"] == {"Size": 1024}
    assert after["TracingConfig"] == {"Mode": "Active"}
    assert after["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/custom/upd"}

    status, code, response = error_of(lam.update_function_configuration, FunctionName="upd", Timeout=5,
                                      RevisionId="00000000-0000-0000-0000-000000000000")
    assert (status, code) == (412, "PreconditionFailedException")
    assert response["message"].startswith("The Revision Id provided does not match the latest Revision Id.")


def test_update_while_in_progress_is_a_conflict(lam):
    create(lam, "busy")
    lam.get_waiter("function_active_v2").wait(FunctionName="busy")
    # Settle steps run one at a time: a package of 20,000 files, which takes seconds to unpack,
    # created first keeps busy's update InProgress long enough for the second update to meet it.
    create(lam, "slow-to-unpack", Code={"ZipFile": make_zip({f"pkg/m{i}.py": "" for i in range(20_000)})})
    lam.update_function_configuration(FunctionName="busy", Timeout=10)
    status, code, response = error_of(lam.update_function_configuration, FunctionName="busy", Timeout=11)
    assert (status, code) == (409, "ResourceConflictException")
    assert response["message"] == (
        "The operation cannot be performed at this time. An update is in progress for resource: " + arn("busy"))
    lam.get_waiter("function_updated_v2").wait(FunctionName="busy", WaiterConfig={"Delay": 0.1, "MaxAttempts": 1200})
    assert lam.get_function_configuration(FunctionName="busy")["Timeout"] == 10


@pytest.mark.parametrize(("params", "message"), [
    ({"Timeout": 1000000}, "1 validation error detected: Value '1000000' at 'timeout' failed to satisfy "
                           "constraint: Member must have value less than or equal to 900"),
    ({"MemorySize": 20000}, "1 validation error detected: Value '20000' at 'memorySize' failed to satisfy "
                            "constraint: Member must have value less than or equal to 10240"),
    ({"Role": "not-a-role"}, "1 validation error detected: Value 'not-a-role' at 'role' failed to satisfy "
                             "constraint: Member must satisfy regular expression pattern: "
                             "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"),
])
def test_model_constraints_answer_validation_exception(lam, params, message):
    status, code, response = error_of(create, lam, "invalid", **params)
    assert (status, code) == (400, "ValidationException")
    assert response["Error"]["Message"] == message


def test_semantic_errors_answer_invalid_parameter_value(lam):
    status, code, response = error_of(create, lam, "badrt", Runtime="python9.9")
    assert (status, code) == (400, "InvalidParameterValueException")
    assert response["message"].startswith("Value python9.9 at 'runtime' failed to satisfy constraint: "
                                          "Member must satisfy enum value set: [")
    assert response["message"].endswith("or be a valid ARN")

    status, code, response = error_of(create, lam, "old", Runtime="python3.9")
    assert response["message"] == (
        "The runtime parameter of python3.9 is no longer supported for creating or updating AWS Lambda "
        "functions. We recommend you use a supported runtime while creating or updating functions.")

    status, code, response = error_of(create, lam, "reserved",
                                      Environment={"Variables": {"AWS_REGION": "x", "OK_KEY": "y"}})
    assert response["message"] == (
        "Lambda was unable to configure your environment variables because the environment variables you "
        "have provided contains reserved keys that are currently not supported for modification. Reserved "
        "keys used in this request: AWS_REGION")

    status, code, response = error_of(create, lam, "big", Environment={"Variables": {"BIG": "x" * 4100}})
    assert code == "InvalidParameterValueException"
    assert response["message"].startswith(
        "Lambda was unable to configure your environment variables because the environment variables you "
        "have provided exceeded the 4KB limit. String measured: {\"BIG\":\"xxx")

    status, code, response = error_of(create, lam, "layered", Layers=[f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:x:1"])
    assert response["message"] == f"Layer version arn:aws:lambda:{REGION}:{ACCOUNT}:layer:x:1 does not exist."


@pytest.mark.parametrize(("code", "fragment"), [
    ({"ImageUri": "123.dkr.ecr.us-east-1.amazonaws.com/x:latest"}, "PackageType Image"),
])
def test_unsupported_code_sources_say_what_is_supported(lam, code, fragment):
    status, err, response = error_of(lam.create_function, FunctionName="s3code", Runtime=RUNTIME, Role=ROLE,
                                     Handler="app.handler", Code=code)
    assert (status, err) == (400, "InvalidParameterValueException")
    assert fragment in response["message"] and "ZipFile" in response["message"]


@pytest.mark.parametrize(("payload", "fragment"), [
    (b"definitely not a zip", "Could not unzip uploaded file. Please check your file, then try to upload again."),
    (make_zip({"../evil.py": "x"}), "Could not unzip uploaded file"),
    (make_zip({"/etc/evil.py": "x"}), "Could not unzip uploaded file"),
])
def test_bad_zips_are_refused(lam, payload, fragment):
    status, err, response = error_of(lam.create_function, FunctionName="badzip", Runtime=RUNTIME, Role=ROLE,
                                     Handler="app.handler", Code={"ZipFile": payload})
    assert (status, err) == (400, "InvalidParameterValueException")
    assert fragment in response["message"]


def test_update_code_with_dry_run_and_revision(lam):
    create(lam, "code")
    lam.get_waiter("function_active_v2").wait(FunctionName="code")
    new_zip = make_zip({"app.py": "def handler(e, c):\n    return 2\n"})
    digest = base64.b64encode(hashlib.sha256(new_zip).digest()).decode()
    dry = lam.update_function_code(FunctionName="code", ZipFile=new_zip, DryRun=True)
    assert dry["CodeSha256"] == digest
    assert lam.get_function_configuration(FunctionName="code")["CodeSha256"] != digest
    revision = lam.get_function_configuration(FunctionName="code")["RevisionId"]
    updated = lam.update_function_code(FunctionName="code", ZipFile=new_zip, RevisionId=revision,
                                       Architectures=["arm64"])
    assert updated["CodeSha256"] == digest and updated["CodeSize"] == len(new_zip)
    assert updated["Architectures"] == ["arm64"]
    lam.get_waiter("function_updated_v2").wait(FunctionName="code")
    location = lam.get_function(FunctionName="code")["Code"]["Location"]
    with urllib.request.urlopen(location) as response:
        assert response.read() == new_zip


def test_delete_function_and_qualifier_rules(lam):
    create(lam, "gone")
    status, code, response = error_of(lam.delete_function, FunctionName="gone", Qualifier="$LATEST")
    assert response["message"] == "$LATEST version cannot be deleted without deleting the function."
    deleted = lam.delete_function(FunctionName="gone")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    status, code, _ = error_of(lam.get_function, FunctionName="gone")
    assert (status, code) == (404, "ResourceNotFoundException")
    status, code, _ = error_of(lam.delete_function, FunctionName="gone")
    assert (status, code) == (404, "ResourceNotFoundException")


def test_account_settings_count_real_functions(lam):
    before = lam.get_account_settings()
    assert before["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert before["AccountLimit"]["CodeSizeZipped"] == 52428800
    assert before["AccountLimit"]["CodeSizeUnzipped"] == 262144000
    assert before["AccountLimit"]["TotalCodeSize"] == 80530636800
    create(lam, "counted")
    after = lam.get_account_settings()
    assert after["AccountUsage"]["FunctionCount"] == before["AccountUsage"]["FunctionCount"] + 1
    assert after["AccountUsage"]["TotalCodeSize"] == before["AccountUsage"]["TotalCodeSize"] + len(HANDLER_ZIP)


def test_tags_round_trip_and_bump_revision(lam):
    create(lam, "tagged", Tags={"a": "1"})
    resource = arn("tagged")
    revision = lam.get_function_configuration(FunctionName="tagged")["RevisionId"]
    assert lam.tag_resource(Resource=resource, Tags={"b": "2"})["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_tags(Resource=resource)["Tags"] == {"a": "1", "b": "2"}
    assert lam.untag_resource(Resource=resource, TagKeys=["a"])["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_tags(Resource=resource)["Tags"] == {"b": "2"}
    assert lam.get_function_configuration(FunctionName="tagged")["RevisionId"] != revision
    status, code, _ = error_of(lam.list_tags, Resource=arn("untagged-missing"))
    assert (status, code) == (404, "ResourceNotFoundException")


def test_create_with_more_than_50_tags_is_refused(lam):
    status, code, response = error_of(create, lam, "overtagged", Tags={f"k{i}": "v" for i in range(51)})
    assert (status, code, response["Error"]["Message"]) == (
        400, "InvalidParameterValueException", "Number of tags exceeds resource tag limit.")
    assert error_of(lam.get_function, FunctionName="overtagged")[0] == 404


def test_a_runtime_lamina_cannot_run_leaves_the_function_failed_with_a_reason(lam):
    create(lam, "javaruntime", Runtime="java21", Handler="example.Handler::handleRequest")
    with pytest.raises(WaiterError):
        lam.get_waiter("function_active_v2").wait(FunctionName="javaruntime")
    config = lam.get_function_configuration(FunctionName="javaruntime")
    assert config["State"] == "Failed"
    assert "java21" in config["StateReason"]


def test_unknown_routes_answer_like_aws_without_tracebacks(lamina):
    import urllib.error

    for method, path in (("GET", "/2015-03-31/nothing-here"), ("PATCH", "/2015-03-31/functions"),
                         ("GET", "/")):
        request = urllib.request.Request(lamina.url + path, method=method)
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request)
        assert info.value.code == 404
        assert info.value.headers["x-amzn-ErrorType"] == "UnknownOperationException"
        assert b"Traceback" not in info.value.read()


def test_minimums_botocore_would_catch_are_checked_by_the_server_too(lamina):
    import json
    import urllib.error

    body = {"FunctionName": "small", "Runtime": RUNTIME, "Role": ROLE, "Handler": "app.handler",
            "MemorySize": 64, "Timeout": 0, "Code": {"ZipFile": base64.b64encode(HANDLER_ZIP).decode()}}
    request = urllib.request.Request(lamina.url + "/2015-03-31/functions", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    assert info.value.code == 400
    assert info.value.headers["x-amzn-ErrorType"] == "ValidationException"
    message = json.loads(info.value.read())["message"]
    assert message.startswith("2 validation errors detected: ")
    assert "Value '64' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128" in message
    assert "Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1" in message


def test_malformed_json_body_is_a_client_error(lamina):
    import urllib.error

    request = urllib.request.Request(lamina.url + "/2015-03-31/functions", data=b"{not json", method="POST",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    assert info.value.code == 400
    assert info.value.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
