"""Settings: defaults come from the dataclass alone, LAMINA_* variables override them (empty means
unset), and explicit overrides (the CLI's flags) win over both."""

from pathlib import Path

import pytest

from lamina.config import Settings


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
