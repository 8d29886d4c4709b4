"""lamina.control.configuration: AWS's semantic checks and applying inputs to a version."""

import datetime as dt

import pytest

from lamina.control import configuration
from lamina.errors import InvalidParameterValueException
from lamina.model import FunctionVersion


@pytest.mark.parametrize("key", sorted(configuration.RESERVED_ENV_KEYS))
def test_every_reserved_key_is_refused(key):
    with pytest.raises(InvalidParameterValueException) as info:
        configuration.check_environment({key: "x"})
    assert info.value.message.endswith(f"Reserved keys used in this request: {key}")


@pytest.mark.parametrize(("variables", "ok"), [
    ({}, True),
    ({"A1": "x" * 4000}, True),
    ({"A1": "x" * 4090}, False),  # {"A1":"xxx..."} is 4090 + 9 bytes
    ({"KEY": "é" * 2050}, False),  # measured in bytes, not characters
    ({"LANG": "C", "PATH": "/x"}, True),  # preset but not reserved
])
def test_environment_size_is_measured_on_the_json_map(variables, ok):
    if ok:
        configuration.check_environment(variables)
    else:
        with pytest.raises(InvalidParameterValueException) as info:
            configuration.check_environment(variables)
        assert "exceeded the 4KB limit. String measured: {" in info.value.message


@pytest.mark.parametrize(("runtime", "updating", "day", "blocked"), [
    ("python3.9", False, "2026-08-30", False),  # AWS's 2026 extension (issue 21): create blocked 2026-08-31
    ("python3.9", False, "2026-08-31", True),
    ("python3.9", True, "2026-09-29", False),
    ("python3.9", True, "2026-09-30", True),
    ("python3.11", False, "2026-07-31", False),  # was blocked from 2026-07-31 before the extension
    ("python3.11", False, "2027-07-30", False),
    ("python3.11", False, "2027-07-31", True),
    ("python3.11", True, "2027-08-30", False),
    ("python3.11", True, "2027-08-31", True),
    ("python3.12", False, "2026-11-28", False),
    ("nodejs12.x", False, "2020-01-01", True),
    ("nodejs22.x", False, "2026-11-28", False),
])
def test_runtime_block_dates(runtime, updating, day, blocked):
    today = dt.date.fromisoformat(day)
    if blocked:
        with pytest.raises(InvalidParameterValueException) as info:
            configuration.check_runtime(runtime, updating=updating, allow_deprecated=False, today=today)
        assert info.value.message.startswith(f"The runtime parameter of {runtime} is no longer supported")
    else:
        configuration.check_runtime(runtime, updating=updating, allow_deprecated=False, today=today)
    configuration.check_runtime(runtime, updating=updating, allow_deprecated=True, today=today)


@pytest.mark.parametrize(("params", "fragment"), [
    ({"VpcConfig": {"SubnetIds": ["subnet-1"]}}, "VpcConfig"),
    ({"DeadLetterConfig": {"TargetArn": "arn:aws:sqs:us-east-1:1:q"}}, "DeadLetterConfig"),
    ({"KMSKeyArn": "arn:aws:kms:us-east-1:1:key/x"}, "KMSKeyArn"),
    ({"SnapStart": {"ApplyOn": "PublishedVersions"}}, "SnapStart"),
])
def test_features_lamina_would_ignore_are_refused(params, fragment):
    with pytest.raises(InvalidParameterValueException) as info:
        configuration.check_supported(params)
    assert fragment in info.value.message


@pytest.mark.parametrize("params", [
    {}, {"VpcConfig": {"SubnetIds": [], "SecurityGroupIds": []}}, {"DeadLetterConfig": {}}, {"KMSKeyArn": ""},
    {"SnapStart": {"ApplyOn": "None"}}, {"LoggingConfig": {"LogFormat": "Text", "LogGroup": "/x"}},
    {"LoggingConfig": {"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "DEBUG"}},
])
def test_empty_forms_of_those_features_are_fine(params):
    configuration.check_supported(params)


def test_layers_limits():
    found = lambda arn: {"Arn": arn, "CodeSize": 10}  # noqa: E731
    with pytest.raises(InvalidParameterValueException) as info:
        configuration.check_layers([f"l:{i}" for i in range(6)], found)
    assert info.value.message == "Cannot reference more than 5 layers."
    with pytest.raises(InvalidParameterValueException) as info:
        configuration.check_layers(["arn:x:1"], lambda arn: None)
    assert info.value.message == "Layer version arn:x:1 does not exist."
    with pytest.raises(InvalidParameterValueException) as info:
        configuration.check_layers(["arn:l:1", "arn:l:2"], found)
    assert info.value.message == ("Two different versions of the same layer are not allowed to be referenced in "
                                  "the same function. arn:l:1 and arn:l:2 are versions of the same layer.")
    assert configuration.check_layers(["a:1", "b:2"], found) == [{"Arn": "a:1", "CodeSize": 10},
                                                               {"Arn": "b:2", "CodeSize": 10}]


def test_apply_maps_members_and_keeps_the_rest():
    base = FunctionVersion(name="f", runtime="python3.12", handler="a.b", memory_size=256)
    out = configuration.apply(base, {
        "Timeout": 9, "Environment": {"Variables": {"K1": "v"}}, "TracingConfig": {"Mode": "Active"},
        "EphemeralStorage": {"Size": 1024}, "LoggingConfig": {"LogFormat": "Text", "LogGroup": "/g"},
        "Architectures": ["arm64"],
    }, lambda arn: None)
    assert (out.timeout, out.memory_size, out.handler) == (9, 256, "a.b")
    assert out.environment == {"K1": "v"} and out.tracing_mode == "Active"
    assert out.ephemeral_storage == 1024 and out.log_group == "/g" and out.architectures == ["arm64"]
    assert base.timeout == 3  # the original is untouched
    cleared = configuration.apply(out, {"Environment": {}}, lambda arn: None)
    assert cleared.environment == {}


def test_logging_config_json_levels_are_stored_kept_and_cleared():
    base = FunctionVersion(name="f", runtime="python3.12", handler="a.b")
    none = lambda arn: None  # noqa: E731
    json_fn = configuration.apply(base, {"LoggingConfig": {"LogFormat": "JSON", "ApplicationLogLevel": "WARN"}},
                                  none)
    assert (json_fn.log_format, json_fn.application_log_level, json_fn.system_log_level) == ("JSON", "WARN", None)
    leveled = configuration.apply(json_fn, {"LoggingConfig": {"SystemLogLevel": "DEBUG"}}, none)
    assert (leveled.log_format, leveled.application_log_level, leveled.system_log_level) == ("JSON", "WARN", "DEBUG")
    text = configuration.apply(leveled, {"LoggingConfig": {"LogFormat": "Text"}}, none)
    assert (text.log_format, text.application_log_level, text.system_log_level) == ("Text", None, None)
    again = configuration.apply(text, {"LoggingConfig": {"LogFormat": "JSON"}}, none)
    assert (again.application_log_level, again.system_log_level) == (None, None)


@pytest.mark.parametrize("logging", [
    {"LogFormat": "Text", "ApplicationLogLevel": "DEBUG"}, {"SystemLogLevel": "WARN"},
])
def test_log_levels_need_json(logging):
    with pytest.raises(InvalidParameterValueException) as info:
        configuration.apply(FunctionVersion(name="f"), {"LoggingConfig": logging}, lambda arn: None)
    assert info.value.message == "ApplicationLogLevel and SystemLogLevel can only be set when LogFormat is JSON."


@pytest.mark.parametrize(("configs", "problem", "error"), [
    ([{"Arn": "arn:ap", "LocalMountPath": "/mnt/x"}], None, None),
    ([], "never asked", None),
    ([{"Arn": "arn:ap", "LocalMountPath": "/mnt/x"}], "not mapped here", "not mapped here"),
    ([{"Arn": "arn:ap", "LocalMountPath": "/mnt/x"}, {"Arn": "arn:ap2", "LocalMountPath": "/mnt/x"}], None,
     "Duplicate LocalMountPath /mnt/x"),
])
def test_file_system_configs(configs, problem, error):
    version = FunctionVersion(name="f")
    params = {"FileSystemConfigs": configs}
    if error is None:
        applied = configuration.apply(version, params, lambda arn: None, lambda arn: problem)
        assert applied.file_system_configs == configs
    else:
        with pytest.raises(InvalidParameterValueException, match=error):
            configuration.apply(version, params, lambda arn: None, lambda arn: problem)
