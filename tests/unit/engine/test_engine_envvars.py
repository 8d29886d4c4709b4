"""An environment's variables are built from scratch (lamina.engine.envvars)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lamina.engine import envvars, report
from lamina.engine.sandbox import Layout
from lamina.engine.spec import RunSpec

ISOLATED = Layout(task_root="/var/task", opt_dirs=("/opt",), runtime_dir="/var/runtime", site_dir="/var/runtime",
                  tmp_dir="/tmp")
HOSTED = Layout(task_root="/data/code/abc", opt_dirs=("/data/layers/2", "/data/layers/1"),
                runtime_dir="/lamina/runtimes/python", site_dir="/data/site", tmp_dir="/data/env/tmp",
                bin_dirs=("/py/bin",), lib_dirs=("/py/lib",))


def spec(**extra) -> RunSpec:
    return RunSpec(function_name="fn", version="3", function_arn="arn:aws:lambda:us-east-1:000000000000:function:fn",
                   revision_id="r", runtime="python3.12", handler="app.handler", code_dir=Path("/code"),
                   interpreter="/py/bin/python3.12", memory_mb=256, **extra)


def build(layout: Layout = ISOLATED, **extra) -> dict[str, str]:
    return envvars.build(spec(**extra), layout, region="eu-west-1", endpoint_url="http://127.0.0.1:9001",
                         log_group="/aws/lambda/fn", log_stream="2024/01/01/[3]abc",
                         credentials=("ASIAAAAAAAAAAAAAAAAA", "s" * 40, "token"))


def test_lambdas_variables_inside_an_isolated_layout():
    env = build()
    assert env == {
        "LANG": "en_US.UTF-8",
        "PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "LD_LIBRARY_PATH": "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9001",
        "PYTHONPATH": "/var/runtime",
        "_HANDLER": "app.handler",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "3",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[3]abc",
        "AWS_ACCESS_KEY_ID": "ASIAAAAAAAAAAAAAAAAA",
        "AWS_SECRET_ACCESS_KEY": "s" * 40,
        "AWS_SESSION_TOKEN": "token",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "TZ": ":UTC",
        "_LAMINA_OPT_DIRS": "/opt",
        "_LAMINA_ACCOUNT_ID": "000000000000",  # the ARN's account, for the Extensions API's accountId
        # INIT_START's runtime version and ARN, for the Telemetry API's initStart (rapid)
        "_LAMINA_RUNTIME_VERSION": f"python:3.12.v1\t{report.runtime_version_arn('eu-west-1', 'python3.12')}",
    }


def test_host_paths_of_the_process_backend():
    env = build(HOSTED)
    assert env["LAMBDA_TASK_ROOT"] == "/data/code/abc"
    assert env["PATH"] == "/py/bin:/usr/local/bin:/usr/bin/:/bin:/data/layers/2/bin:/data/layers/1/bin"
    assert env["LD_LIBRARY_PATH"].startswith("/py/lib:/lib64:")
    assert env["LD_LIBRARY_PATH"].endswith(":/data/layers/2/lib:/data/layers/1/lib")
    assert env["TMPDIR"] == "/data/env/tmp" and env["PYTHONPATH"] == "/data/site"
    assert env["_LAMINA_OPT_DIRS"] == "/data/layers/2:/data/layers/1"


def test_user_variables_override_presets_but_never_reserved_ones():
    env = build(environment={"LANG": "C.UTF-8", "AWS_ENDPOINT_URL": "http://elsewhere", "MINE": "1",
                             "AWS_REGION": "us-west-2", "_HANDLER": "x.y", "TZ": "Europe/Paris"})
    assert env["LANG"] == "C.UTF-8" and env["AWS_ENDPOINT_URL"] == "http://elsewhere" and env["MINE"] == "1"
    assert env["AWS_REGION"] == "eu-west-1" and env["_HANDLER"] == "app.handler" and env["TZ"] == ":UTC"


def test_execution_role_credentials_win_over_local_ones():
    env = build(credentials=("AKIDROLE", "secret", "session"))
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"]) == (
        "AKIDROLE", "secret", "session")


def test_local_credentials_are_well_formed_and_fresh():
    key_id, secret, token = envvars.local_credentials()
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", key_id)
    assert re.fullmatch(r"[A-Za-z0-9+/]{40}", secret)
    assert len(token) > 100
    assert envvars.local_credentials()[0] != key_id


def test_nothing_reserved_for_concurrency_is_set():
    env = build()
    assert "AWS_LAMBDA_MAX_CONCURRENCY" not in env and "AWS_LAMBDA_RUNTIME_API" not in env


def test_log_format_json_sets_the_runtimes_log_variables():
    assert "AWS_LAMBDA_LOG_FORMAT" not in build() and "AWS_LAMBDA_LOG_LEVEL" not in build()
    json_env = build(log_format="JSON")
    assert (json_env["AWS_LAMBDA_LOG_FORMAT"], json_env["AWS_LAMBDA_LOG_LEVEL"]) == ("JSON", "INFO")
    assert build(log_format="JSON", application_log_level="TRACE")["AWS_LAMBDA_LOG_LEVEL"] == "TRACE"


MANAGED = Layout(task_root="/var/task", opt_dirs=("/opt",), runtime_dir="/var/runtime", site_dir=None,
                 tmp_dir=None, bin_dirs=("/var/lang/bin",), lib_dirs=("/var/lang/lib",))


def test_a_managed_runtime_gets_awss_paths():
    env = build(MANAGED)
    assert env["PATH"] == "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"
    assert env["LD_LIBRARY_PATH"] == ("/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:"
                                      "/var/task:/var/task/lib:/opt/lib")
    assert env["LAMBDA_RUNTIME_DIR"] == env["PYTHONPATH"] == "/var/runtime"
    assert envvars.LIBRARY_PATH_VARIABLE not in env


def test_a_custom_runtime_gets_the_os_only_path_and_no_pythonpath():
    for runtime in ("provided", "provided.al2", "provided.al2023"):
        env = envvars.build(
            RunSpec(function_name="fn", version="1", function_arn="arn:aws:lambda:us-east-1:000000000000:function:fn",
                    revision_id="r", runtime=runtime, handler="x", code_dir=Path("/code"),
                    interpreter="/py/bin/python3.12"),
            MANAGED, region="eu-west-1", endpoint_url="http://127.0.0.1:9001", log_group="g", log_stream="s",
            credentials=("A", "B", "C"))
        assert env["PATH"] == "/usr/local/bin:/usr/bin/:/bin:/opt/bin", runtime
        assert "PYTHONPATH" not in env
        # rapid starts with the interpreter's libraries; what it starts gets AWS's list
        assert env["LD_LIBRARY_PATH"].startswith("/var/lang/lib:")
        assert env[envvars.LIBRARY_PATH_VARIABLE] == ("/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:"
                                                      "/var/task:/var/task/lib:/opt/lib")


@pytest.mark.parametrize(("runtime", "custom"), [
    ("provided", True), ("provided.al2", True), ("provided.al2023", True), ("python3.12", False),
    ("nodejs20.x", False), ("providedx", False)])
def test_is_custom(runtime, custom):
    assert envvars.is_custom(runtime) is custom
