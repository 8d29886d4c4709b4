"""lamina.api.wire against botocore's service model: every member we write exists, with its type."""

import botocore.session
import pytest

from lamina.api import wire
from lamina.model import FunctionVersion

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
