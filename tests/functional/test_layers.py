"""Layers through boto3 against a real server: publishing, listing, referencing from functions."""

from __future__ import annotations

import urllib.request

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, ROLE, make_zip

LAYER = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer"


def publish(lam, name: str, files: dict, **extra):
    return lam.publish_layer_version(LayerName=name, Content={"ZipFile": make_zip(files)}, **extra)


def test_publish_get_list_delete(lam):
    content = {"python/helper.py": "VALUE = 1\n"}
    first = publish(lam, "deps", content, Description="d", CompatibleRuntimes=["python3.12"],
                    CompatibleArchitectures=["x86_64"], LicenseInfo="MIT")
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert first["Version"] == 1
    assert first["LayerArn"] == f"{LAYER}:deps" and first["LayerVersionArn"] == f"{LAYER}:deps:1"
    assert first["CompatibleRuntimes"] == ["python3.12"] and first["LicenseInfo"] == "MIT"
    with urllib.request.urlopen(first["Content"]["Location"]) as response:
        assert response.read() == make_zip(content)
    second = publish(lam, "deps", {"python/helper.py": "VALUE = 2\n"}, CompatibleRuntimes=["python3.13"])
    assert second["Version"] == 2
    assert lam.get_layer_version(LayerName="deps", VersionNumber=1)["Description"] == "d"
    assert lam.get_layer_version_by_arn(Arn=f"{LAYER}:deps:2")["Version"] == 2
    versions = lam.list_layer_versions(LayerName="deps")["LayerVersions"]
    assert [v["Version"] for v in versions] == [2, 1]
    layers = {layer["LayerName"]: layer for layer in lam.list_layers()["Layers"]}
    assert layers["deps"]["LatestMatchingVersion"]["Version"] == 2
    matching = {layer["LayerName"]: layer for layer in lam.list_layers(CompatibleRuntime="python3.12")["Layers"]}
    assert matching["deps"]["LatestMatchingVersion"]["Version"] == 1
    assert lam.delete_layer_version(LayerName="deps", VersionNumber=2)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.delete_layer_version(LayerName="deps", VersionNumber=2)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as info:
        lam.get_layer_version(LayerName="deps", VersionNumber=2)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert publish(lam, "deps", content)["Version"] == 3  # numbers are never reused


def test_functions_reference_layers_with_aws_errors(lam):
    one = publish(lam, "one", {"python/one.py": "X = 1\n"})["LayerVersionArn"]
    two = publish(lam, "one", {"python/one.py": "X = 2\n"})["LayerVersionArn"]
    created = lam.create_function(FunctionName="layered", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                  Code={"ZipFile": make_zip({"app.py": "def handler(e, c): return 1\n"})},
                                  Layers=[one])
    assert created["Layers"] == [{"Arn": one, "CodeSize": len(make_zip({"python/one.py": "X = 1\n"}))}]
    lam.get_waiter("function_active_v2").wait(FunctionName="layered")
    with pytest.raises(ClientError) as info:
        lam.update_function_configuration(FunctionName="layered", Layers=[one, two])
    assert info.value.response["message"] == (
        "Two different versions of the same layer are not allowed to be referenced in the same function. "
        f"{one} and {two} are versions of the same layer.")
    with pytest.raises(ClientError) as info:
        lam.update_function_configuration(FunctionName="layered", Layers=[f"{LAYER}:l{i}:1" for i in range(6)])
    assert info.value.response["message"] == "Cannot reference more than 5 layers."
    updated = lam.update_function_configuration(FunctionName="layered", Layers=[two])
    assert [layer["Arn"] for layer in updated["Layers"]] == [two]


def test_functions_import_from_layers_and_later_layers_shadow_earlier_ones(lam, tmp_path):
    import json
    import subprocess
    import sys

    base = publish(lam, "base", {"python/shared.py": "WHO = 'base'\n", "python/only_base.py": "X = 1\n"})
    override = publish(lam, "override", {"python/shared.py": "WHO = 'override'\n"})
    # a real dependency installed with pip into python/ ships only in a layer
    target = tmp_path / "python"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    "six==1.17.0"], check=True, capture_output=True, timeout=300)
    deps = publish(lam, "deps", {f"python/{p.relative_to(target)}": p.read_bytes()
                                 for p in target.rglob("*") if p.is_file()})
    app = ("import shared, only_base, six\n"
           "def handler(event, context):\n"
           "    return {'who': shared.WHO, 'base': only_base.X, 'six': six.__name__}\n")
    lam.create_function(FunctionName="uses-layers", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": app})},
                        Layers=[base["LayerVersionArn"], override["LayerVersionArn"], deps["LayerVersionArn"]])
    lam.get_waiter("function_active_v2").wait(FunctionName="uses-layers")
    response = lam.invoke(FunctionName="uses-layers", Payload=b"{}")
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {"who": "override", "base": 1, "six": "six"}
    # deleting a layer version keeps the functions that use it running
    lam.delete_layer_version(LayerName="base", VersionNumber=base["Version"])
    lam.update_function_configuration(FunctionName="uses-layers", Description="again")
    lam.get_waiter("function_updated_v2").wait(FunctionName="uses-layers")
    response = lam.invoke(FunctionName="uses-layers", Payload=b"{}")
    assert json.loads(response["Payload"].read())["base"] == 1
