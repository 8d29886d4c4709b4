"""What a function sees of its execution environment (issue 21, items 9-12), through a real server
and boto3: AWS's paths (/var/runtime, /var/lang, PATH), no host path of lamina's anywhere a
function can look (environment, sys.path, module files, tracebacks, mountinfo, listings),
AWS_LAMBDA_RUNTIME_API for managed Python too, a custom runtime's PATH and its `python3`, and log
events that keep their trailing newline.

Runs on the isolating backends; one that cannot start here is skipped with the server's reason
(except under CI)."""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from pathlib import Path

import pytest

from support import ROLE, LaminaProcess, client_for, make_zip, server_or_skip

REPO = str(Path(__file__).resolve().parents[2])
VERSION = "3.12"  # a runtime lamina supports; the host's interpreter for it is found as the server does
AWS_PATH = "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"
CUSTOM_PATH = "/usr/local/bin:/usr/bin/:/bin:/opt/bin"

INSPECT = r'''
import json, os, sys, traceback, urllib.request

def _listing(path):
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        return "error:%s" % exc.__class__.__name__

def handler(event, context):
    try:
        json.loads("{not json")
    except ValueError:
        trace = traceback.format_exc()
    import boto3, botocore
    boto3.client("s3", region_name="us-east-1")  # botocore reads its data files at its path inside
    api = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    answer = None
    if api:
        try:
            with urllib.request.urlopen("http://%s/2018-06-01/ping" % api, timeout=5) as response:
                answer = response.status
        except urllib.error.HTTPError as exc:
            answer = exc.code
        except OSError as exc:
            answer = "error:%s" % exc
    return {
        "env": dict(os.environ), "executable": sys.executable, "prefix": sys.prefix,
        "base_prefix": sys.base_prefix, "path": sys.path, "version": "%d.%d" % sys.version_info[:2],
        "files": [getattr(m, "__file__", None) or "" for m in list(sys.modules.values())],
        "boto3": boto3.__file__, "json": json.__file__, "trace": trace, "botocore_root": botocore.BOTOCORE_ROOT,
        "mountinfo": open("/proc/self/mountinfo").read(),
        "listings": {p: _listing(p) for p in ("/", "/var", "/var/lang", "/var/runtime", "/root", "/home")},
        "api": api, "api_answer": answer,
    }
'''

BOOTSTRAP = r'''#!/bin/sh
# a custom runtime whose client is whatever `python3` the OS provides
exec python3 - <<'EOF'
import json, os, sys, urllib.request
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
base = "http://%s/2018-06-01/runtime/invocation/" % api
while True:
    with urllib.request.urlopen(base + "next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        response.read()
    body = json.dumps({"PATH": os.environ.get("PATH"), "python3": sys.executable}).encode()
    urllib.request.urlopen(urllib.request.Request(base + request_id + "/response", data=body, method="POST")).read()
EOF
'''

PRINTER = '''
import logging
logging.getLogger().setLevel(logging.INFO)

def handler(event, context):
    print("first line")
    print("second line")
    logging.info("a record")
    return "ok"
'''


def _zip_with_executable(files: dict[str, str], executable: str) -> bytes:
    import io
    import zipfile
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name == executable else 0o644) << 16
            archive.writestr(info, content)
    return buffer.getvalue()


@pytest.fixture(scope="module", params=["namespaces", "bubblewrap"])
def env(request, tmp_path_factory):
    """(server, client) with `inspect` (managed Python), `custom` (provided.al2023) and `printer`."""
    backend = request.param
    server = server_or_skip(backend, tmp_path_factory.mktemp(f"layout-{backend}") / "data")
    lam = client_for(server.url)
    lam.create_function(FunctionName="inspect", Runtime=f"python{VERSION}", Role=ROLE,
                        Handler="app.handler", Code={"ZipFile": make_zip({"app.py": INSPECT})}, Timeout=30)
    lam.create_function(FunctionName="custom", Runtime="provided.al2023", Role=ROLE, Handler="x",
                        Code={"ZipFile": _zip_with_executable({"bootstrap": BOOTSTRAP}, "bootstrap")}, Timeout=30)
    lam.create_function(FunctionName="printer", Runtime=f"python{VERSION}", Role=ROLE,
                        Handler="app.handler", Code={"ZipFile": make_zip({"app.py": PRINTER})})
    for name in ("inspect", "custom", "printer"):
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
    yield server, lam, backend
    server.stop()


def _invoke(lam, name: str, **kwargs) -> dict:
    response = lam.invoke(FunctionName=name, Payload=b"{}", **kwargs)
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    response["parsed"] = payload
    return response


def _host_paths(server: LaminaProcess) -> list[str]:
    """Paths of lamina's host that must not show inside: the repository, the interpreter's
    installation (pyenv or other), the data dir, the home directory that holds them."""
    paths = {REPO, str(server.data_dir.resolve()), os.path.realpath(sys.prefix), str(Path.home() / ".pyenv"),
             str(Path.home() / ".local")}
    prefix = os.path.realpath(sys.base_prefix)
    if not prefix.startswith("/usr"):  # the system interpreter is the OS's own /usr
        paths.add(os.path.dirname(prefix))
    return sorted(paths)


def test_the_runtime_and_interpreter_are_at_aws_paths(env):
    _, lam, _ = env
    seen = _invoke(lam, "inspect")["parsed"]
    variables = seen["env"]
    assert variables["LAMBDA_RUNTIME_DIR"] == "/var/runtime"
    assert variables["LAMBDA_TASK_ROOT"] == "/var/task"
    assert variables["PATH"] == AWS_PATH
    assert seen["executable"] == f"/var/lang/bin/python{seen['version']}"
    assert seen["prefix"] == seen["base_prefix"] == "/var/lang"
    assert seen["boto3"].startswith("/var/runtime/boto3/")
    assert seen["json"] == f"/var/lang/lib/python{seen['version']}/json/__init__.py"
    assert seen["path"][0] == "/var/task" and "/var/runtime" in seen["path"]
    assert f"/var/lang/lib/python{seen['version']}" in seen["path"]
    assert f'File "/var/lang/lib/python{seen["version"]}/json/decoder.py"' in seen["trace"]
    assert "lang" in seen["listings"]["/var"] and "runtime" in seen["listings"]["/var"]
    assert "bin" in seen["listings"]["/var/lang"] and "boto3" in seen["listings"]["/var/runtime"]


def test_no_host_path_of_lamina_is_visible_inside(env):
    server, lam, backend = env
    seen = _invoke(lam, "inspect")["parsed"]
    places = {
        "environment": json.dumps(seen["env"]),
        "sys.path": json.dumps(seen["path"]),
        "sys.executable/prefix": json.dumps([seen["executable"], seen["prefix"], seen["base_prefix"]]),
        "module files": json.dumps(seen["files"] + [seen["botocore_root"]]),
        "a traceback": seen["trace"],
        "mountinfo": seen["mountinfo"],
        "listings": json.dumps(seen["listings"]),
    }
    if backend == "bubblewrap":  # bwrap's binds show their source's path: documented in its module
        del places["mountinfo"]
    for host_path in _host_paths(server):
        for place, text in places.items():
            assert host_path not in text, f"{host_path} shows in {place}"
    for home in ("/root", "/home"):  # the host's home directories are not there at all
        assert home[1:] not in seen["listings"]["/"]


def test_managed_python_has_a_runtime_api_that_answers(env):
    _, lam, _ = env
    seen = _invoke(lam, "inspect")["parsed"]
    assert seen["api"] and seen["api"].startswith("127.0.0.1:")
    assert isinstance(seen["api_answer"], int), seen["api_answer"]  # an HTTP answer, whatever it is


def test_a_custom_runtime_gets_awss_path_and_the_oss_python(env):
    _, lam, _ = env
    seen = _invoke(lam, "custom")["parsed"]
    assert seen["PATH"] == CUSTOM_PATH
    assert seen["python3"].startswith("/usr/bin/python3")


def _events(lam_logs, group: str, want: int) -> list[str]:
    deadline = time.monotonic() + 60  # the log flush is asynchronous; under load it can lag
    while time.monotonic() < deadline:
        try:
            streams = lam_logs.describe_log_streams(logGroupName=group)["logStreams"]
        except lam_logs.exceptions.ResourceNotFoundException:  # the group appears with the first flush
            streams = []
        messages = [e["message"] for s in streams
                    for e in lam_logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"])["events"]]
        if len([m for m in messages if m.startswith("REPORT")]) >= want:
            return messages
        time.sleep(0.05)
    raise AssertionError(f"no REPORT in {group}")


def test_each_printed_line_is_an_event_that_keeps_its_newline(env):
    server, lam, backend = env
    tail = base64.b64decode(_invoke(lam, "printer", LogType="Tail")["LogResult"]).decode()
    assert "\nfirst line\nsecond line\n[INFO]\t" in tail and "\ta record\n" in tail
    logs = client_for(server.url, "logs")
    messages = _events(logs, "/aws/lambda/printer", 1)
    assert "first line\n" in messages and "second line\n" in messages
    assert [m for m in messages if m.startswith("[INFO]")][0].endswith("\ta record\n")
    filtered = logs.filter_log_events(logGroupName="/aws/lambda/printer", filterPattern="second")["events"]
    assert [e["message"] for e in filtered] == ["second line\n"]
