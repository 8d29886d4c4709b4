"""lamina.arn: the accepted forms of FunctionName, qualifier merging, ARN building."""

import pytest

from lamina import arn
from lamina.errors import (
    CodeSigningConfigNotFoundException,
    InvalidParameterValueException,
    ResourceNotFoundException,
)

R, A = "us-east-1", "123456789012"


@pytest.mark.parametrize(("value", "name", "qualifier"), [
    ("fn", "fn", None),
    ("fn:3", "fn", "3"),
    ("fn:$LATEST", "fn", "$LATEST"),
    ("fn:live", "fn", "live"),
    (f"{A}:function:fn", "fn", None),
    (f"{A}:function:fn:prod", "fn", "prod"),
    (f"arn:aws:lambda:{R}:{A}:function:fn", "fn", None),
    (f"arn:aws:lambda:{R}:{A}:function:fn:7", "fn", "7"),
    (f"arn:aws:lambda:{R}:{A}:function:fn:$LATEST", "fn", "$LATEST"),
])
def test_function_name_forms(value, name, qualifier):
    assert arn.parse_function_name(value, R, A) == arn.FunctionRef(name, qualifier)


@pytest.mark.parametrize(("value", "message"), [
    (f"arn:aws:lambda:eu-west-1:{A}:function:fn", "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')"),
    (f"arn:aws:lambda:{R}:999999999999:function:fn", f"Function not found: arn:aws:lambda:{R}:999999999999:function:fn"),
    ("999999999999:function:fn", "Function not found: 999999999999:function:fn"),
])
def test_other_regions_and_accounts_are_not_found(value, message):
    with pytest.raises(ResourceNotFoundException) as info:
        arn.parse_function_name(value, R, A)
    assert info.value.message == message


@pytest.mark.parametrize(("derived", "given", "merged"), [
    (None, None, None), ("1", None, "1"), (None, "2", "2"), ("x", "x", "x"),
])
def test_merge_qualifier(derived, given, merged):
    assert arn.merge_qualifier(derived, given) == merged


def test_merge_qualifier_mismatch_is_aws_error():
    with pytest.raises(InvalidParameterValueException) as info:
        arn.merge_qualifier("1", "2")
    assert info.value.message == "The derived qualifier from the function name does not match the specified qualifier."


def test_builders():
    assert arn.function_arn(R, A, "f") == f"arn:aws:lambda:{R}:{A}:function:f"
    assert arn.function_arn(R, A, "f", "$LATEST") == f"arn:aws:lambda:{R}:{A}:function:f:$LATEST"
    assert arn.layer_arn(R, A, "l", 3) == f"arn:aws:lambda:{R}:{A}:layer:l:3"
    assert arn.tagged_function_name(f"arn:aws:lambda:{R}:{A}:function:f", R, A) == "f"
    with pytest.raises(InvalidParameterValueException):
        arn.tagged_function_name(f"arn:aws:lambda:{R}:{A}:function:f:1", R, A)


def test_tagged_mapping_uuid():
    uuid = "0f0e0d0c-1b2a-4c3d-8e9f-a0b1c2d3e4f5"
    assert arn.mapping_arn(R, A, uuid) == f"arn:aws:lambda:{R}:{A}:event-source-mapping:{uuid}"
    assert arn.tagged_mapping_uuid(arn.mapping_arn(R, A, uuid), R, A) == uuid
    assert arn.tagged_mapping_uuid(f"arn:aws:lambda:{R}:{A}:function:f", R, A) is None
    assert arn.tagged_mapping_uuid(f"arn:aws:lambda:{R}:{A}:event-source-mapping:not-a-uuid", R, A) is None
    for other in (arn.mapping_arn("eu-west-1", A, uuid), arn.mapping_arn(R, "111111111111", uuid)):
        with pytest.raises(ResourceNotFoundException) as info:
            arn.tagged_mapping_uuid(other, R, A)
        assert info.value.message == f"Event source mapping not found: {other}"


def test_tagged_code_signing_config_id():
    csc = f"arn:aws:lambda:{R}:{A}:code-signing-config:csc-0123456789abcdefg"
    assert arn.tagged_code_signing_config_id(csc, R, A) == "csc-0123456789abcdefg"
    for other in (f"arn:aws:lambda:{R}:{A}:function:f", f"arn:aws:lambda:{R}:{A}:code-signing-config:csc-short",
                  f"arn:aws:lambda:{R}:{A}:code-signing-config:csc-0123456789ABCDEFG", "*"):
        assert arn.tagged_code_signing_config_id(other, R, A) is None
    for elsewhere in (csc.replace(R, "eu-west-1"), csc.replace(A, "111111111111")):
        with pytest.raises(CodeSigningConfigNotFoundException) as info:
            arn.tagged_code_signing_config_id(elsewhere, R, A)
        assert info.value.message == ("The code signing configuration cannot be found. Check that the provided "
                                      f"configuration is not deleted: {elsewhere}.")
