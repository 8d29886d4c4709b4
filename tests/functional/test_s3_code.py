"""Deployment packages read from an S3-compatible store (a real moto server): Code.S3Bucket/S3Key/
S3ObjectVersion on CreateFunction and UpdateFunctionCode, Content.S3Bucket/S3Key on
PublishLayerVersion, and AWS's errors for a missing bucket, key or version."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from botocore.exceptions import ClientError

from support import ROLE, LaminaProcess, client_for, make_zip


def handler_zip(value: str) -> bytes:
    return make_zip({"app.py": f"def handler(event, context):\n    return {value!r}\n"})


@pytest.fixture(scope="module")
def lam(tmp_path_factory, moto_server):
    # The SDK's own convention (AWS_ENDPOINT_URL_S3); LAMINA_S3_ENDPOINT_URL would override it.
    env = {"AWS_ENDPOINT_URL_S3": moto_server, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    server = LaminaProcess(tmp_path_factory.mktemp("lamina") / "data", env=env).start()
    yield client_for(server.url)
    server.stop()


@pytest.fixture(scope="module")
def s3(moto_server):
    client = client_for(moto_server, "s3")
    client.create_bucket(Bucket="code")
    return client


def error_of(call, **params):
    with pytest.raises(ClientError) as info:
        call(**params)
    response = info.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def invoke(lam, name: str) -> object:
    return json.loads(lam.invoke(FunctionName=name)["Payload"].read())


def test_create_and_update_from_s3(lam, s3):
    first, second = handler_zip("first"), handler_zip("second")
    s3.put_object(Bucket="code", Key="pkg/one.zip", Body=first)
    s3.put_object(Bucket="code", Key="pkg/two.zip", Body=second)
    created = lam.create_function(FunctionName="from-s3", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                  Code={"S3Bucket": "code", "S3Key": "pkg/one.zip"})
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(first).digest()).decode()
    assert created["CodeSize"] == len(first)
    lam.get_waiter("function_active_v2").wait(FunctionName="from-s3")
    assert invoke(lam, "from-s3") == "first"

    updated = lam.update_function_code(FunctionName="from-s3", S3Bucket="code", S3Key="pkg/two.zip")
    assert updated["CodeSha256"] == base64.b64encode(hashlib.sha256(second).digest()).decode()
    lam.get_waiter("function_updated_v2").wait(FunctionName="from-s3")
    assert invoke(lam, "from-s3") == "second"


def test_s3_object_version_picks_that_version(lam, s3):
    s3.create_bucket(Bucket="versioned")
    s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    old = s3.put_object(Bucket="versioned", Key="fn.zip", Body=handler_zip("old"))["VersionId"]
    s3.put_object(Bucket="versioned", Key="fn.zip", Body=handler_zip("new"))
    lam.create_function(FunctionName="by-version", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"S3Bucket": "versioned", "S3Key": "fn.zip", "S3ObjectVersion": old})
    lam.get_waiter("function_active_v2").wait(FunctionName="by-version")
    assert invoke(lam, "by-version") == "old"


def test_layer_content_from_s3(lam, s3):
    content = make_zip({"python/helper.py": "VALUE = 'from the layer'\n"})
    s3.put_object(Bucket="code", Key="layer.zip", Body=content)
    layer = lam.publish_layer_version(LayerName="s3layer", Content={"S3Bucket": "code", "S3Key": "layer.zip"})
    assert layer["Content"]["CodeSha256"] == base64.b64encode(hashlib.sha256(content).digest()).decode()
    assert layer["Content"]["CodeSize"] == len(content)
    lam.create_function(FunctionName="uses-s3layer", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Layers=[layer["LayerVersionArn"]],
                        Code={"ZipFile": make_zip({"app.py": "import helper\ndef handler(e, c):\n"
                                                              "    return helper.VALUE\n"})})
    lam.get_waiter("function_active_v2").wait(FunctionName="uses-s3layer")
    assert invoke(lam, "uses-s3layer") == "from the layer"


def test_missing_bucket_key_and_bad_package_get_aws_errors(lam, s3):
    create = lam.create_function
    base = dict(FunctionName="missing", Runtime="python3.12", Role=ROLE, Handler="app.handler")
    assert error_of(create, **base, Code={"S3Bucket": "no-such-bucket", "S3Key": "x.zip"}) == (
        400, "InvalidParameterValueException",
        "Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: The specified bucket "
        "does not exist")
    assert error_of(create, **base, Code={"S3Bucket": "code", "S3Key": "absent.zip"}) == (
        400, "InvalidParameterValueException",
        "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does "
        "not exist.")
    s3.put_object(Bucket="code", Key="not-a-zip", Body=b"plain text")
    status, code, message = error_of(create, **base, Code={"S3Bucket": "code", "S3Key": "not-a-zip"})
    assert (status, code) == (400, "InvalidParameterValueException") and "Could not unzip" in message
    assert error_of(lam.publish_layer_version, LayerName="nolayer",
                    Content={"S3Bucket": "code", "S3Key": "absent.zip"})[2].endswith("The specified key does not exist.")
    # UpdateFunctionCode of a function that does not exist: the 404 comes before any read from S3.
    status, code, _ = error_of(lam.update_function_code, FunctionName="nobody", S3Bucket="code", S3Key="absent.zip")
    assert (status, code) == (404, "ResourceNotFoundException")
    with pytest.raises(ClientError):
        lam.get_function(FunctionName="missing")
