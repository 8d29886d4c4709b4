"""Code signing end to end: signing profiles through boto3's own `signer` client, zips signed by
`lamina sign`, code signing configs through the Lambda API, and deployments (aws CLI and boto3)
checked for signed / unsigned / tampered / expired / revoked / not-allowed code under Enforce
and Warn, for function code and layers."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import urllib.request
import zipfile

import pytest
from botocore.exceptions import ClientError

from support import ROLE, client_for, make_zip

APP = "def handler(event, context):\n    return {'signed': True}\n"
COMMON = {"Runtime": "python3.12", "Role": ROLE, "Handler": "app.handler"}
VERIFICATION = "Lambda cannot deploy the function. The function or layer might be signed using a signature"
INTEGRITY = "The code signature failed the integrity check."


@pytest.fixture(scope="module")
def signer(lamina):
    return client_for(lamina.url, "signer")


@pytest.fixture(scope="module")
def profiles(signer):
    """{name: profile version ARN} of two signing profiles."""
    out = {}
    for name in ("trusted", "other"):
        made = signer.put_signing_profile(profileName=name, platformId="AWSLambda-SHA384-ECDSA",
                                          signatureValidityPeriod={"value": 1, "type": "DAYS"})
        assert made["profileVersionArn"] == f"{made['arn']}/{made['profileVersion']}"
        assert made["arn"] == f"arn:aws:signer:us-east-1:000000000000:/signing-profiles/{name}"
        out[name] = made["profileVersionArn"]
    return out


def signed(lamina, tmp_path, profile: str, files: dict | None = None, validity: int | None = None) -> bytes:
    path = tmp_path / f"{profile}-{time.monotonic_ns()}.zip"
    path.write_bytes(make_zip(files or {"app.py": APP}))
    extra = ["--validity", str(validity)] if validity else []
    out = subprocess.run([sys.executable, "-m", "lamina.cli", "sign", "--profile", profile, "--endpoint", lamina.url,
                          *extra, str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return path.read_bytes()


def tampered(data: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            target.writestr(info, content + b"\n# changed" if info.filename == "app.py" else content)
    return buffer.getvalue()


def config(lam, profiles, policy: str) -> str:
    made = lam.create_code_signing_config(
        AllowedPublishers={"SigningProfileVersionArns": [profiles["trusted"]]},
        CodeSigningPolicies={"UntrustedArtifactOnDeployment": policy})
    return made["CodeSigningConfig"]["CodeSigningConfigArn"]


def error_of(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]


def test_signing_profile_api(signer, profiles):
    got = signer.get_signing_profile(profileName="trusted")
    assert got["profileVersionArn"] == profiles["trusted"] and got["status"] == "Active"
    assert got["platformId"] == "AWSLambda-SHA384-ECDSA"
    assert got["signatureValidityPeriod"] == {"value": 1, "type": "DAYS"}
    names = {p["profileName"] for p in signer.list_signing_profiles()["profiles"]}
    assert {"trusted", "other"} <= names
    assert error_of(signer.get_signing_profile, profileName="missing")["Code"] == "ResourceNotFoundException"


def test_code_signing_config_api(lam, profiles):
    made = lam.create_code_signing_config(Description="mine",
                                          AllowedPublishers={"SigningProfileVersionArns": [profiles["trusted"]]})
    csc = made["CodeSigningConfig"]
    assert made["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert csc["CodeSigningConfigId"].startswith("csc-") and len(csc["CodeSigningConfigId"]) == 21
    assert csc["CodeSigningConfigArn"] == f"arn:aws:lambda:us-east-1:000000000000:code-signing-config:" \
                                          f"{csc['CodeSigningConfigId']}"
    assert csc["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Warn"}  # AWS's default
    assert csc["Description"] == "mine"
    arn = csc["CodeSigningConfigArn"]
    assert lam.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"] == csc
    updated = lam.update_code_signing_config(CodeSigningConfigArn=arn,
                                             CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Enforce"})
    assert updated["CodeSigningConfig"]["CodeSigningPolicies"]["UntrustedArtifactOnDeployment"] == "Enforce"
    assert arn in [c["CodeSigningConfigArn"] for c in lam.list_code_signing_configs()["CodeSigningConfigs"]]
    lam.create_function(FunctionName="bound", Code={"ZipFile": make_zip({"app.py": APP})}, **COMMON)
    missing = arn[:-3] + "zzz"
    error = error_of(lam.put_function_code_signing_config, FunctionName="nope", CodeSigningConfigArn=missing)
    assert error["Code"] == "CodeSigningConfigNotFoundException"  # the config is checked before the function
    assert error["Message"] == ("The code signing configuration cannot be found. Check that the provided "
                                f"configuration is not deleted: {missing}.")
    error = error_of(lam.put_function_code_signing_config, FunctionName="nope", CodeSigningConfigArn=arn)
    assert (error["Code"], error["Message"]) == (
        "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope")
    put = lam.put_function_code_signing_config(FunctionName="bound", CodeSigningConfigArn=arn)
    assert (put["CodeSigningConfigArn"], put["FunctionName"]) == (arn, "bound")
    assert lam.get_function_code_signing_config(FunctionName="bound")["CodeSigningConfigArn"] == arn
    assert lam.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"] == [
        "arn:aws:lambda:us-east-1:000000000000:function:bound"]
    assert error_of(lam.delete_code_signing_config, CodeSigningConfigArn=arn)["Code"] == "ResourceConflictException"
    lam.delete_function_code_signing_config(FunctionName="bound")
    lam.delete_function_code_signing_config(FunctionName="bound")  # none attached: 204 all the same
    assert lam.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"] == []
    lam.delete_code_signing_config(CodeSigningConfigArn=arn)
    error = error_of(lam.get_code_signing_config, CodeSigningConfigArn=arn)
    assert (error["Code"], error["Message"]) == (
        "ResourceNotFoundException", f"The Lambda code signing configuration {arn} can not be found.")


def test_tags_on_a_code_signing_config_round_trip_and_go_with_it(lam, profiles):
    publishers = {"SigningProfileVersionArns": [profiles["trusted"]]}
    made = lam.create_code_signing_config(AllowedPublishers=publishers, Tags={"team": "core"})
    arn = made["CodeSigningConfig"]["CodeSigningConfigArn"]
    assert "Tags" not in made["CodeSigningConfig"]  # the model's CodeSigningConfig has no Tags; ListTags has them
    got = lam.get_code_signing_config(CodeSigningConfigArn=arn)
    assert "Tags" not in got and "Tags" not in got["CodeSigningConfig"]
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "core"}
    assert lam.tag_resource(Resource=arn, Tags={"stage": "dev", "team": "edge"})[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_tags(Resource=arn)["Tags"] == {"stage": "dev", "team": "edge"}
    assert lam.untag_resource(Resource=arn, TagKeys=["team"])["ResponseMetadata"]["HTTPStatusCode"] == 204
    lam.update_code_signing_config(CodeSigningConfigArn=arn, Description="kept")  # an update keeps the tags
    assert lam.list_tags(Resource=arn)["Tags"] == {"stage": "dev"}
    lam.delete_code_signing_config(CodeSigningConfigArn=arn)
    missing = {"Code": "CodeSigningConfigNotFoundException", "Message": (
        f"The code signing configuration cannot be found. Check that the provided configuration is not deleted: {arn}.")}
    for call, kwargs in ((lam.list_tags, {}), (lam.tag_resource, {"Tags": {"a": "b"}}),
                         (lam.untag_resource, {"TagKeys": ["stage"]})):
        with pytest.raises(ClientError) as info:
            call(Resource=arn, **kwargs)
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert {k: info.value.response["Error"][k] for k in missing} == missing
    fresh = lam.create_code_signing_config(AllowedPublishers=publishers)["CodeSigningConfig"]["CodeSigningConfigArn"]
    assert lam.list_tags(Resource=fresh)["Tags"] == {}
    lam.delete_code_signing_config(CodeSigningConfigArn=fresh)


def test_tag_limits_on_code_signing_configs(lam, profiles):
    publishers = {"SigningProfileVersionArns": [profiles["trusted"]]}
    before = len(lam.list_code_signing_configs()["CodeSigningConfigs"])
    error = error_of(lam.create_code_signing_config, AllowedPublishers=publishers,
                     Tags={f"k{i}": "v" for i in range(51)})
    assert (error["Code"], error["Message"]) == ("InvalidParameterValueException",
                                                 "Number of tags exceeds resource tag limit.")
    assert len(lam.list_code_signing_configs()["CodeSigningConfigs"]) == before  # none was made
    error = error_of(lam.create_code_signing_config, AllowedPublishers=publishers, Tags={"bad#key": "v"})
    assert error["Code"] == "ValidationException" and "at 'tags' failed to satisfy constraint" in error["Message"]
    arn = lam.create_code_signing_config(AllowedPublishers=publishers, Tags={f"k{i}": "v" for i in range(50)})[
        "CodeSigningConfig"]["CodeSigningConfigArn"]
    error = error_of(lam.tag_resource, Resource=arn, Tags={"one-more": "v"})
    assert (error["Code"], error["Message"]) == ("InvalidParameterValueException",
                                                 "Number of tags exceeds resource tag limit.")
    assert lam.list_tags(Resource=arn)["Tags"] == {f"k{i}": "v" for i in range(50)}
    lam.delete_code_signing_config(CodeSigningConfigArn=arn)
    error = error_of(lam.list_tags, Resource="arn:aws:lambda:us-east-1:000000000000:code-signing-config:csc-nope")
    assert error["Code"] == "ValidationException"  # the model's pattern: csc- and 17 characters


def test_enforce(lamina, lam, signer, profiles, tmp_path):
    csc = config(lam, profiles, "Enforce")
    good = signed(lamina, tmp_path, "trusted")
    created = lam.create_function(FunctionName="enforced", Code={"ZipFile": good}, CodeSigningConfigArn=csc, **COMMON)
    assert created["SigningProfileVersionArn"] == profiles["trusted"]
    assert created["SigningJobArn"].startswith("arn:aws:signer:us-east-1:000000000000:/signing-jobs/")
    lam.get_waiter("function_active_v2").wait(FunctionName="enforced", WaiterConfig={"Delay": 0.2})
    assert json.loads(lam.invoke(FunctionName="enforced")["Payload"].read()) == {"signed": True}

    def deploy(data: bytes) -> dict:
        return error_of(lam.update_function_code, FunctionName="enforced", ZipFile=data)

    unsigned = deploy(make_zip({"app.py": APP}))
    assert unsigned["Code"] == "CodeVerificationFailedException" and unsigned["Message"].startswith(VERIFICATION)
    broken = deploy(tampered(signed(lamina, tmp_path, "trusted")))
    assert broken["Code"] == "InvalidCodeSignatureException" and broken["Message"].startswith(INTEGRITY)
    assert deploy(signed(lamina, tmp_path, "other"))["Code"] == "CodeVerificationFailedException"  # not allowed
    short = signed(lamina, tmp_path, "trusted", validity=1)
    time.sleep(1.1)
    assert deploy(short)["Code"] == "CodeVerificationFailedException"  # expired
    error = error_of(lam.create_function, FunctionName="refused", Code={"ZipFile": make_zip({"app.py": APP})},
                     CodeSigningConfigArn=csc, **COMMON)
    assert error["Code"] == "CodeVerificationFailedException"
    assert error_of(lam.get_function, FunctionName="refused")["Code"] == "ResourceNotFoundException"


def test_revoked_profile_version(lamina, lam, signer, profiles, tmp_path):
    made = signer.put_signing_profile(profileName="revoked", platformId="AWSLambda-SHA384-ECDSA")
    csc = lam.create_code_signing_config(
        AllowedPublishers={"SigningProfileVersionArns": [made["profileVersionArn"]]},
        CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Enforce"})["CodeSigningConfig"]["CodeSigningConfigArn"]
    before = signed(lamina, tmp_path, "revoked")
    lam.create_function(FunctionName="revocable", Code={"ZipFile": before}, CodeSigningConfigArn=csc, **COMMON)
    lam.get_waiter("function_active_v2").wait(FunctionName="revocable", WaiterConfig={"Delay": 0.2})
    signer.revoke_signing_profile(profileName="revoked", profileVersion=made["profileVersion"],
                                  reason="key leaked", effectiveTime=time.time() - 3600)
    assert signer.get_signing_profile(profileName="revoked")["status"] == "Revoked"
    error = error_of(lam.update_function_code, FunctionName="revocable", ZipFile=before)
    assert error["Code"] == "CodeVerificationFailedException"


def test_warn(lamina, lam, profiles, tmp_path, aws_cli):
    csc = config(lam, profiles, "Warn")
    lam.create_function(FunctionName="warned", Code={"ZipFile": make_zip({"app.py": APP})},
                        CodeSigningConfigArn=csc, **COMMON)  # unsigned: deployed, with a warning
    lam.get_waiter("function_active_v2").wait(FunctionName="warned", WaiterConfig={"Delay": 0.2})
    assert "SigningProfileVersionArn" not in lam.get_function_configuration(FunctionName="warned")
    path = tmp_path / "signed.zip"
    path.write_bytes(signed(lamina, tmp_path, "trusted"))
    code, out, err = aws_cli("lambda", "update-function-code", "--function-name", "warned",
                             "--zip-file", f"fileb://{path}")
    assert code == 0, err
    assert out["SigningProfileVersionArn"] == profiles["trusted"]
    lam.get_waiter("function_updated_v2").wait(FunctionName="warned", WaiterConfig={"Delay": 0.2})
    path.write_bytes(tampered(signed(lamina, tmp_path, "trusted")))
    code, _, err = aws_cli("lambda", "update-function-code", "--function-name", "warned",
                           "--zip-file", f"fileb://{path}")
    assert code != 0 and "InvalidCodeSignatureException" in err  # integrity blocks even under Warn
    short = signed(lamina, tmp_path, "trusted", validity=1)
    time.sleep(1.1)
    lam.update_function_code(FunctionName="warned", ZipFile=short)  # expired: deployed, with a warning
    lam.get_waiter("function_updated_v2").wait(FunctionName="warned", WaiterConfig={"Delay": 0.2})
    with urllib.request.urlopen(lamina.url + "/metrics", timeout=10) as response:
        metrics = response.read().decode()
    line = next(line for line in metrics.splitlines()
                if line.startswith('lamina_signature_validation_errors_total{function="warned"}'))
    assert float(line.split()[-1]) >= 2
    assert "code signing: warned deployed with a signature validation error" in lamina.output.read_text()


def test_layers_are_checked_too(lamina, lam, profiles, tmp_path):
    csc = config(lam, profiles, "Enforce")
    layer_files = {"python/helper.py": "X = 1\n"}
    good = lam.publish_layer_version(LayerName="signed-layer",
                                     Content={"ZipFile": signed(lamina, tmp_path, "trusted", layer_files)})
    bad = lam.publish_layer_version(LayerName="unsigned-layer", Content={"ZipFile": make_zip(layer_files)})
    created = lam.create_function(FunctionName="layered", Code={"ZipFile": signed(lamina, tmp_path, "trusted")},
                                  Layers=[good["LayerVersionArn"]], CodeSigningConfigArn=csc, **COMMON)
    assert created["Layers"][0]["SigningProfileVersionArn"] == profiles["trusted"]
    lam.get_waiter("function_active_v2").wait(FunctionName="layered", WaiterConfig={"Delay": 0.2})
    error = error_of(lam.update_function_configuration, FunctionName="layered", Layers=[bad["LayerVersionArn"]])
    assert error["Code"] == "CodeVerificationFailedException"
    assert bad["LayerVersionArn"] in error["Message"]
