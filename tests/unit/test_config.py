"""Settings: defaults come from the dataclass alone, LAMINA_* variables override them (empty means
unset), and explicit overrides (the CLI's flags) win over both."""

from pathlib import Path

import pytest

from lamina.config import FileSystem, Settings, file_system_entry


def test_no_variables_gives_the_dataclass_defaults():
    assert Settings.from_env({}, data_dir="/d") == Settings(data_dir=Path("/d"))


@pytest.mark.parametrize(("env", "field", "value"), [
    ({"LAMINA_HOST": "0.0.0.0"}, "host", "0.0.0.0"),
    ({"LAMINA_PORT": "9100"}, "port", 9100),
    ({"LAMINA_PORT": ""}, "port", Settings.port),
    ({"LAMINA_DATA_DIR": "/srv/lamina"}, "data_dir", Path("/srv/lamina")),
    ({"LAMINA_CONCURRENCY_LIMIT": "50"}, "concurrency_limit", 50),
    ({"LAMINA_IDLE_TIMEOUT": "1.5"}, "idle_timeout", 1.5),
    ({"LAMINA_STOP_GRACE": "4.5"}, "stop_grace", 4.5),
    ({"LAMINA_RUNTIME_PATHS": "python3.12=/a/python, python3.13 = /b/python"}, "runtime_paths",
     {"python3.12": "/a/python", "python3.13": "/b/python"}),
    ({"LAMINA_ASYNC_BACKOFF_SCALE": "0.01"}, "async_backoff_scale", 0.01),
    ({"LAMINA_ALLOW_DEPRECATED_RUNTIMES": "true"}, "allow_deprecated_runtimes", True),
    ({"LAMINA_ALLOW_DEPRECATED_RUNTIMES": "no"}, "allow_deprecated_runtimes", False),
    ({"LAMINA_PUBLIC_URL": "https://lambda.example/"}, "public_url", "https://lambda.example/"),
    ({"LAMINA_PUBLIC_URL": ""}, "public_url", None),
    ({"LAMINA_SQS_ENDPOINT_URL": "http://127.0.0.1:5000"}, "sqs_endpoint_url", "http://127.0.0.1:5000"),
    ({"LAMINA_MQ_BROKERS": "arn:aws:mq:us-east-1:000000000000:broker:b:b-1=amqp://u:p@h:5672/v?heartbeat=5"},
     "mq_brokers", {"arn:aws:mq:us-east-1:000000000000:broker:b:b-1": "amqp://u:p@h:5672/v?heartbeat=5"}),
    ({"LAMINA_SQS_WAIT_SECONDS": "99"}, "sqs_wait_seconds", 20),
    ({"LAMINA_MAPPING_BACKOFF_MAX": "2"}, "mapping_backoff_max", 2.0),
])
def test_variables(env, field, value):
    assert getattr(Settings.from_env(env), field) == value


def test_overrides_win_and_none_means_not_given():
    settings = Settings.from_env({"LAMINA_PORT": "9100", "LAMINA_HOST": "::"}, port=9200, host=None,
                                 data_dir="~/x")
    assert (settings.port, settings.host, settings.data_dir) == (9200, "::", Path("~/x").expanduser())


def test_the_default_stop_grace_is_at_most_ten_seconds():
    assert 0 < Settings().stop_grace <= 10


@pytest.mark.parametrize(("text", "expected"), [
    ("arn:aws:elasticfilesystem:us-east-1:1:access-point/fsap-1=/srv/efs",
     {"arn:aws:elasticfilesystem:us-east-1:1:access-point/fsap-1": FileSystem(Path("/srv/efs"))}),
    ("arn:a:b=/srv/a:1000:1001, arn:c:d=/srv/c",
     {"arn:a:b": FileSystem(Path("/srv/a"), 1000, 1001), "arn:c:d": FileSystem(Path("/srv/c"))}),
    ("arn:a:b=/srv/odd:name", {"arn:a:b": FileSystem(Path("/srv/odd:name"))}),  # not UID:GID: part of the path
    ("", {}),
])
def test_file_systems_from_the_environment(text, expected):
    assert Settings.from_env({"LAMINA_FILE_SYSTEMS": text}).file_systems == (expected if text else {})


@pytest.mark.parametrize("text", ["no-equals", "=/path", "arn:a:b="])
def test_malformed_file_system_entries(text):
    with pytest.raises(ValueError, match="ARN=PATH"):
        file_system_entry(text)


def test_registry_settings_from_the_environment():
    settings = Settings.from_env({"LAMINA_REGISTRY_CREDENTIALS": "reg.example:5000=alice:s3:cret other.example=bob:x",
                                  "LAMINA_INSECURE_REGISTRIES": "10.0.0.5:5000, registry.lan"})
    assert settings.registry_credentials == {"reg.example:5000": ("alice", "s3:cret"), "other.example": ("bob", "x")}
    assert settings.insecure_registries == ("10.0.0.5:5000", "registry.lan")


def test_auth_and_loopback():
    from lamina.config import Settings

    assert Settings.from_env({"LAMINA_AUTH": "sigv4"}).auth == "sigv4"
    assert Settings.from_env({}).auth == ""
    assert Settings.from_env({"LAMINA_EXECUTION_CREDENTIALS_TTL": "60"}).execution_credentials_ttl == 60.0
    assert all(Settings(host=host).loopback for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"))
    assert not any(Settings(host=host).loopback for host in ("0.0.0.0", "::", "10.0.0.1"))
