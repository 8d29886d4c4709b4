"""Table tests of lamina.api.validation: AWS's ValidationException texts from botocore's model."""

from __future__ import annotations

import pytest

from lamina.api import validation
from lamina.errors import InvalidParameterValueException, ValidationException

ROLE = "arn:aws:iam::123456789012:role/lambda-role"
EFS_ARN = "arn:aws:elasticfilesystem:us-east-1:123456789012:access-point/fsap-0123456789abcdef0"
FN_ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
LAYER = "arn:aws:lambda:us-east-1:123456789012:layer:deps:3"
ARN_PREFIX = "(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?"
NAME_PATTERN = ARN_PREFIX + "(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
NAMESPACED_PATTERN = (ARN_PREFIX + "(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)"
                      "(:(\\$LATEST(\\.PUBLISHED)?|[a-zA-Z0-9-_]+))?")
LAYER_PATTERN = ("((arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-"
                 "\\d{1}:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|"
                 "(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+))")
TAG_PATTERN = "([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)"
ENV_KEYS = ("Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy "
            "constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]")


def create(**params) -> dict:
    return {"FunctionName": "f", "Role": ROLE, "Code": {"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="},
            **params}


def one(value: str | None, path: str, constraint: str) -> str:
    shown = "Value" if value is None else f"Value '{value}'"
    return f"1 validation error detected: {shown} at '{path}' failed to satisfy constraint: {constraint}"


LE = "Member must have value less than or equal to "
GE = "Member must have value greater than or equal to "
LEN_LE = "Member must have length less than or equal to "
LEN_GE = "Member must have length greater than or equal to "

INVALID = [
    # numeric ranges, with lamina's overrides of the model's maxima
    ("CreateFunction", create(Timeout=1000000), {}, one("1000000", "timeout", LE + "900")),
    ("CreateFunction", create(Timeout=0), {}, one("0", "timeout", GE + "1")),
    ("CreateFunction", create(Timeout=901), {}, one("901", "timeout", LE + "900")),
    ("CreateFunction", create(Timeout=1801), {"max_timeout": 1800}, one("1801", "timeout", LE + "1800")),
    ("UpdateFunctionConfiguration", {"FunctionName": "f", "Timeout": 5400}, {},
     one("5400", "timeout", LE + "900")),
    ("CreateFunction", create(MemorySize=20000), {}, one("20000", "memorySize", LE + "10240")),
    ("CreateFunction", create(MemorySize=64), {}, one("64", "memorySize", GE + "128")),
    ("CreateFunction", create(EphemeralStorage={"Size": 20000}), {},
     one("20000", "ephemeralStorage.size", LE + "10240")),
    ("CreateFunction", create(EphemeralStorage={"Size": 256}), {},
     one("256", "ephemeralStorage.size", GE + "512")),
    ("PutFunctionEventInvokeConfig", {"FunctionName": "f", "MaximumRetryAttempts": 3}, {},
     one("3", "maximumRetryAttempts", LE + "2")),
    ("CreateAlias", {"FunctionName": "f", "Name": "live", "FunctionVersion": "1",
                     "RoutingConfig": {"AdditionalVersionWeights": {"2": 1.5}}}, {},
     one("{2=1.5}", "routingConfig.additionalVersionWeights",
         "Map value must satisfy constraint: [" + LE + "1.0]")),
    # string length, pattern, enum
    ("CreateFunction", create(Description="d" * 257), {}, one("d" * 257, "description", LEN_LE + "256")),
    ("CreateFunction", create(Handler="app handler"), {},
     one("app handler", "handler", "Member must satisfy regular expression pattern: [^\\s]+")),
    ("CreateFunction", create(Role="not-a-role"), {},
     one("not-a-role", "role", "Member must satisfy regular expression pattern: "
                               "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+")),
    ("CreateFunction", create(TracingConfig={"Mode": "Loud"}), {},
     one("Loud", "tracingConfig.mode", "Member must satisfy enum value set: [Active, PassThrough]")),
    ("Invoke", {"FunctionName": "f", "InvocationType": "Later"}, {},
     one("Later", "invocationType", "Member must satisfy enum value set: [Event, RequestResponse, DryRun]")),
    ("CreateFunctionUrlConfig", {"FunctionName": "f", "AuthType": "NONE", "InvokeMode": "SOMETIMES"}, {},
     one("SOMETIMES", "invokeMode", "Member must satisfy enum value set: [RESPONSE_STREAM, BUFFERED]")),  # AWS's order
    ("CreateAlias", {"FunctionName": "f", "Name": "123", "FunctionVersion": "1"}, {},
     one("123", "name", "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)")),
    ("CreateAlias", {"FunctionName": "f", "Name": "a" * 129, "FunctionVersion": "1"}, {},
     one("a" * 129, "name", LEN_LE + "128")),
    ("GetFunction", {"FunctionName": "f", "Qualifier": "a.b"}, {},
     one("a.b", "qualifier", "Member must satisfy regular expression pattern: "
                             "\\$(LATEST(\\.PUBLISHED)?)|[a-zA-Z0-9-_$]+")),
    ("AddPermission", {"FunctionName": "f", "StatementId": "s" * 101, "Action": "lambda:InvokeFunction",
                       "Principal": "s3.amazonaws.com"}, {}, one("s" * 101, "statementId", LEN_LE + "100")),
    # function names: FunctionName (140) and NamespacedFunctionName (256, allows '.')
    ("GetFunction", {"FunctionName": FN_ARN + "a" * 210}, {},
     one(FN_ARN + "a" * 210, "functionName", LEN_LE + "256")),
    ("UpdateFunctionConfiguration", {"FunctionName": FN_ARN + "a" * 100}, {},
     one(FN_ARN + "a" * 100, "functionName", LEN_LE + "140")),
    ("UpdateFunctionConfiguration", {"FunctionName": "my.func"}, {},
     one("my.func", "functionName", "Member must satisfy regular expression pattern: " + NAME_PATTERN)),
    ("GetFunction", {"FunctionName": "my func"}, {},
     one("my func", "functionName", "Member must satisfy regular expression pattern: " + NAMESPACED_PATTERN)),
    # lists and maps: sizes, scalar members, structure members, required members
    ("CreateFunction", create(Architectures=["x86_64", "arm64"]), {},
     one("[x86_64, arm64]", "architectures", LEN_LE + "1")),
    ("CreateFunction", create(Architectures=["sparc"]), {},
     one("[sparc]", "architectures", "Member must satisfy constraint: "
                                     "[Member must satisfy enum value set: [x86_64, arm64]]")),
    ("CreateFunction", create(Layers=[LAYER, "deps"]), {},
     one(f"[{LAYER}, deps]", "layers",
         "Member must satisfy constraint: [Member must satisfy regular expression pattern: "
         + LAYER_PATTERN + "]")),
    ("CreateFunction", create(FileSystemConfigs=[{"Arn": EFS_ARN, "LocalMountPath": "/data"}]), {},
     one("/data", "fileSystemConfigs.1.member.localMountPath",
         "Member must satisfy regular expression pattern: /mnt/[a-zA-Z0-9-_.]+")),
    ("CreateFunction", create(FileSystemConfigs=[{"LocalMountPath": "/mnt/data"}]), {},
     "1 validation error detected: Value null at 'fileSystemConfigs.1.member.arn' failed to satisfy "
     "constraint: Member must not be null"),
    ("CreateFunction", {"FunctionName": "f", "Code": {}}, {},
     "1 validation error detected: Value null at 'role' failed to satisfy constraint: "
     "Member must not be null"),
    ("CreateFunction", create(EphemeralStorage={}), {},
     "1 validation error detected: Value null at 'ephemeralStorage.size' failed to satisfy constraint: "
     "Member must not be null"),
    ("TagResource", {"Resource": FN_ARN + "f", "Tags": {"k" * 129: "v"}}, {},
     one("{" + "k" * 129 + "=v}", "tags", "Map keys must satisfy constraint: [" + LEN_LE + "128]")),
    ("TagResource", {"Resource": FN_ARN + "f", "Tags": {"team": "v" * 257}}, {},
     one("{team=" + "v" * 257 + "}", "tags", "Map value must satisfy constraint: [" + LEN_LE + "256]")),
    ("TagResource", {"Resource": FN_ARN + "f", "Tags": {"a#b": "v"}}, {},
     one("{a#b=v}", "tags", f"Map keys must satisfy constraint: [Member must satisfy regular expression "
                            f"pattern: {TAG_PATTERN}]")),
    ("TagResource", {"Resource": FN_ARN + "f", "Tags": {"": "v"}}, {},
     one("{=v}", "tags", "Map keys must satisfy constraint: [" + LEN_GE + "1]")),
    # environment variables are sensitive: never echoed
    ("CreateFunction", create(Environment={"Variables": {"1ST": "secret"}}), {},
     "1 validation error detected: " + ENV_KEYS),
    ("CreateFunction", create(Environment={"Variables": {"A": "secret"}}), {},
     "1 validation error detected: " + ENV_KEYS),
    ("CreateFunction", create(Environment={"Variables": {"KEY": 5}}), {},
     one(None, "environment.variables", "Map value must satisfy constraint: [Member must be a string]")),
    # JSON values of the wrong type
    ("CreateFunction", create(Timeout="abc"), {}, one("abc", "timeout", "Member must be a number")),
    ("CreateFunction", create(Timeout=True), {}, one("true", "timeout", "Member must be a number")),
    ("CreateFunction", create(Timeout=2.5), {}, one("2.5", "timeout", "Member must be a number")),
    ("CreateFunction", create(Publish="yes"), {}, one("yes", "publish", "Member must be a boolean")),
    ("CreateFunction", create(Layers=LAYER), {}, one(LAYER, "layers", "Member must be a list")),
    ("CreateFunction", create(Environment=["A=b"]), {},
     one("[A=b]", "environment", "Member must be an object")),
    ("CreateFunction", create(Handler=7), {}, one("7", "handler", "Member must be a string")),
    # a runtime outside the enum where it is not the special case
    ("ListLayers", {"CompatibleRuntime": "python9.9"}, {},
     one("python9.9", "compatibleRuntime", "Member must satisfy enum value set: ["
         + ", ".join(validation.runtimes()) + "]")),
]


@pytest.mark.parametrize(("operation", "params", "kwargs", "message"), INVALID)
def test_model_constraints_answer_validation_exception(operation, params, kwargs, message):
    with pytest.raises(ValidationException) as info:
        validation.validate(operation, params, **kwargs)
    assert type(info.value) is ValidationException
    assert info.value.message == message
    assert (info.value.status, info.value.code) == (400, "ValidationException")


VALID = [
    ("CreateFunction", create(
        Runtime="python3.12", Handler="app.handler", Description="", Timeout=900, MemorySize=10240,
        Publish=True, Environment={"Variables": {"DB_HOST": "x", "ab": ""}}, TracingConfig={"Mode": "Active"},
        Tags={"team": "core", "ключ é 1": "значение", "cost:center/x=+-@": ""}, Layers=[LAYER],
        Architectures=["arm64"], EphemeralStorage={"Size": 10240}, Unknown={"Ignored": True},
        LoggingConfig={"LogFormat": "Text", "Extra": 1}), {}),
    ("CreateFunction", create(Timeout=1, MemorySize=128, EphemeralStorage={"Size": 512}), {}),
    ("CreateFunction", create(FunctionName="a" * 64), {}),
    ("CreateFunction", create(FunctionName="123456789012:function:" + "a" * 100), {}),
    ("CreateFunction", create(Timeout=1800), {"max_timeout": 1800}),
    ("CreateFunction", create(Code={"ZipFile": None}, Environment=None), {}),
    ("UpdateFunctionConfiguration", {"FunctionName": FN_ARN + "f:live", "Runtime": "provided.al2023"}, {}),
    ("GetFunction", {"FunctionName": FN_ARN + "my.func:$LATEST.PUBLISHED"}, {}),
    ("GetFunction", {"FunctionName": FN_ARN + "a" * 200}, {}),
    ("GetFunction", {"FunctionName": "f", "Qualifier": "$LATEST"}, {}),
    ("Invoke", {"FunctionName": "f", "InvocationType": "Event", "LogType": "Tail", "Payload": b"{}"}, {}),
    ("CreateAlias", {"FunctionName": "f", "Name": "v1", "FunctionVersion": "1",
                     "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.5, "3": 1}}}, {}),
    ("TagResource", {"Resource": FN_ARN + "f", "Tags": {"k" * 128: "v" * 256}}, {}),
    ("ListFunctions", {}, {}),
]


@pytest.mark.parametrize(("operation", "params", "kwargs"), VALID)
def test_valid_inputs_pass(operation, params, kwargs):
    validation.validate(operation, params, **kwargs)


def test_several_failures_are_counted_and_joined_in_model_order():
    with pytest.raises(ValidationException) as info:
        validation.validate("CreateFunction", create(MemorySize=64, Timeout=0, Role="r"))
    assert info.value.message == (
        "3 validation errors detected: "
        "Value 'r' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: "
        "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+; "
        "Value '0' at 'timeout' failed to satisfy constraint: " + GE + "1; "
        "Value '64' at 'memorySize' failed to satisfy constraint: " + GE + "128")


def test_one_value_failing_two_constraints_is_two_errors():
    with pytest.raises(ValidationException) as info:
        validation.validate("GetFunction", {"FunctionName": "bad name!" * 30})
    assert info.value.message.startswith("2 validation errors detected: Value 'bad name!")
    assert info.value.message.count("at 'functionName'") == 2
    assert LEN_LE + "256; " in info.value.message


RUNTIME_MESSAGE = ("Value python9.9 at 'runtime' failed to satisfy constraint: "
                   "Member must satisfy enum value set: [{}] or be a valid ARN")


@pytest.mark.parametrize("operation", ["CreateFunction", "UpdateFunctionConfiguration"])
def test_unknown_runtime_is_invalid_parameter_value(operation):
    with pytest.raises(InvalidParameterValueException) as info:
        validation.validate(operation, create(Runtime="python9.9"))
    enum = validation.runtimes()
    assert info.value.message == RUNTIME_MESSAGE.format(", ".join(enum))
    assert enum[:3] == ("nodejs", "nodejs4.3", "nodejs6.10") and "python3.14" in enum and enum[-1] == "custom"
    assert (info.value.status, info.value.code) == (400, "InvalidParameterValueException")


def test_model_failures_come_before_the_runtime_check():
    with pytest.raises(ValidationException) as info:
        validation.validate("CreateFunction", create(Runtime="python9.9", Timeout=0))
    assert type(info.value) is ValidationException
    assert info.value.message == one("0", "timeout", GE + "1")


def test_runtime_of_the_wrong_type_is_a_validation_error():
    with pytest.raises(ValidationException) as info:
        validation.validate("CreateFunction", create(Runtime=3))
    assert info.value.message == one("3", "runtime", "Member must be a string")


@pytest.mark.parametrize(("name", "constraints"), [
    ("a" * 65, [LEN_LE + "64"]),
    ("my.func", ["Member must satisfy regular expression pattern: " + NAME_PATTERN]),
    ("b@d" * 22, [LEN_LE + "64", "Member must satisfy regular expression pattern: " + NAME_PATTERN]),
])
def test_bad_bare_name_on_create_is_invalid_parameter_value(name, constraints):
    with pytest.raises(InvalidParameterValueException) as info:
        validation.validate("CreateFunction", create(FunctionName=name))
    failures = [f"Value '{name}' at 'functionName' failed to satisfy constraint: {c}" for c in constraints]
    count = f"{len(failures)} validation error{'s' if len(failures) > 1 else ''} detected: "
    assert info.value.message == count + "; ".join(failures)


def test_arn_name_on_create_is_checked_by_the_model():
    name = FN_ARN + "a" * 100
    with pytest.raises(ValidationException) as info:
        validation.validate("CreateFunction", create(FunctionName=name))
    assert type(info.value) is ValidationException
    assert info.value.message == one(name, "functionName", LEN_LE + "140")


def test_every_model_pattern_compiles():
    model = validation.service_model()
    patterns = {model.shape_for(name).metadata.get("pattern") for name in model.shape_names}
    for pattern in patterns - {None}:
        validation.compiled(pattern)


@pytest.mark.parametrize(("value", "text"), [
    (None, "null"), (True, "true"), (1000000, "1000000"), (1.5, "1.5"), (1e20, "1.0E20"),
    ("x y", "x y"), (["a", 1], "[a, 1]"), ({"k": "v", "n": [1]}, "{k=v, n=[1]}"),
])
def test_values_render_as_java_would(value, text):
    assert validation.java_string(value) == text
