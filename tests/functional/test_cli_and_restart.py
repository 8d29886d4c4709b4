"""The real aws CLI against lamina, and a server restart that must keep every function."""

from __future__ import annotations

import json
import time

import pytest

from support import ACCOUNT, REGION, ROLE, LaminaProcess, client_for, make_zip


def test_aws_cli_lifecycle(aws_cli, tmp_path):
    package = tmp_path / "function.zip"
    package.write_bytes(make_zip({"app.py": "def handler(event, context):\n    return {'ok': True}\n"}))
    code, created, err = aws_cli("lambda", "create-function", "--function-name", "cli-fn", "--runtime",
                                 "python3.12", "--role", ROLE, "--handler", "app.handler",
                                 "--zip-file", f"fileb://{package}")
    assert code == 0, err
    assert created["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:cli-fn"
    assert created["State"] == "Pending"

    code, _, err = aws_cli("lambda", "wait", "function-active-v2", "--function-name", "cli-fn")
    assert code == 0, err
    code, listed, err = aws_cli("lambda", "list-functions")
    assert code == 0, err
    assert "cli-fn" in [f["FunctionName"] for f in listed["Functions"]]
    code, got, err = aws_cli("lambda", "get-function", "--function-name", "cli-fn")
    assert code == 0, err
    assert got["Configuration"]["State"] == "Active"
    assert got["Code"]["RepositoryType"] == "S3"

    code, updated, err = aws_cli("lambda", "update-function-configuration", "--function-name", "cli-fn",
                                 "--timeout", "20", "--environment", json.dumps({"Variables": {"MODE": "cli"}}))
    assert code == 0, err
    assert updated["Timeout"] == 20 and updated["LastUpdateStatus"] == "InProgress"
    code, _, err = aws_cli("lambda", "wait", "function-updated-v2", "--function-name", "cli-fn")
    assert code == 0, err

    code, _, err = aws_cli("lambda", "update-function-configuration", "--function-name", "cli-fn",
                           "--memory-size", "20000")
    assert code != 0
    assert "ValidationException" in err and "memorySize" in err

    code, _, err = aws_cli("lambda", "delete-function", "--function-name", "cli-fn")
    assert code == 0, err
    code, _, err = aws_cli("lambda", "get-function", "--function-name", "cli-fn")
    assert code != 0 and "ResourceNotFoundException" in err
    assert f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:cli-fn" in err


def test_health_reports_version_data_dir_sandbox_and_counts(lamina):
    health = lamina.health()
    assert health["status"] == "ok"
    assert health["version"]
    assert health["dataDir"] == str(lamina.data_dir)
    assert health["sandbox"]["backend"]
    assert "functions" in health["counts"]


def test_restart_keeps_every_function(tmp_path):
    data = tmp_path / "data"
    first = LaminaProcess(data).start()
    try:
        lam = client_for(first.url)
        for name in ("keep-a", "keep-b"):
            lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                Code={"ZipFile": make_zip({"app.py": f"NAME = {name!r}\n"})}, Tags={"n": name})
            lam.get_waiter("function_active_v2").wait(FunctionName=name)
        lam.update_function_configuration(FunctionName="keep-b", MemorySize=512)
        lam.get_waiter("function_updated_v2").wait(FunctionName="keep-b")
        before = {n: lam.get_function(FunctionName=n) for n in ("keep-a", "keep-b")}
    finally:
        assert first.stop() == 0  # SIGTERM stops it cleanly
    second = LaminaProcess(data).start()
    try:
        lam = client_for(second.url)
        for name, old in before.items():
            new = lam.get_function(FunctionName=name)
            for key in ("Configuration", "Tags"):
                assert {k: v for k, v in new[key].items()} == {k: v for k, v in old[key].items()}
        assert lam.get_function_configuration(FunctionName="keep-b")["MemorySize"] == 512
        assert second.health()["counts"]["functions"] == 2
    finally:
        second.stop()


def test_a_new_data_dir_reads_the_runtime_byte_code_the_first_zygote_wrote(tmp_path):
    """The runtime image (/var/runtime, with boto3) lives in the cache dir, shared by every lamina of
    the user: the first zygote of an interpreter writes the byte-code of what it preloads there,
    and a lamina on another data dir (or a restart) reads it instead of compiling boto3 again."""
    cache = tmp_path / "cache"
    code = make_zip({"app.py": "import boto3, helper\n\ndef handler(event, context):\n"
                               "    return {'boto3': boto3.__version__, 'n': helper.N}\n",
                     "helper.py": "N = 7\n"})

    def invoke_on(data):
        server = LaminaProcess(data, env={"LAMINA_CACHE_DIR": str(cache)}).start()
        try:
            lam = client_for(server.url)
            lam.create_function(FunctionName="bc", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                Code={"ZipFile": code})
            lam.get_waiter("function_active_v2").wait(FunctionName="bc")
            answer = json.loads(lam.invoke(FunctionName="bc")["Payload"].read())
            assert answer["n"] == 7 and answer["boto3"]
        finally:
            assert server.stop() == 0
        assert not (data / "runtime").exists()  # the image is in the cache dir, not the data dir

    invoke_on(tmp_path / "first")
    [image] = (cache / "runtime").iterdir()
    written = sorted((image / "python" / "botocore" / "__pycache__").glob("*.cpython-312.pyc"))
    assert written, "the zygote wrote no byte-code for botocore"
    stamps = {path: path.stat().st_mtime_ns for path in written}
    invoke_on(tmp_path / "second")
    assert [image] == list((cache / "runtime").iterdir())
    assert {path: path.stat().st_mtime_ns for path in written} == stamps  # read, not compiled again
    # the environments write none: the function's own modules have no byte-code beside them
    assert not [p for p in (tmp_path / "first").rglob("helper.cpython-*.pyc")]
    assert not [p for p in (tmp_path / "second").rglob("helper.cpython-*.pyc")]


def _zygotes_once(server, predicate, seconds=30.0):
    """The interpreters /health lists a zygote for, once `predicate` holds for them (else the last seen)."""
    deadline = time.monotonic() + seconds
    while True:
        zygotes = server.health()["sandbox"]["zygotes"]
        if predicate(zygotes) or time.monotonic() > deadline:
            return zygotes
        time.sleep(0.1)


def test_the_zygote_of_a_deployed_runtime_starts_ahead_after_a_create_and_a_restart(tmp_path):
    """No invoke is needed for a runtime's zygote to start: a create starts it, and a restart starts
    those of the runtimes deployed functions use, and no other, in the background."""
    data = tmp_path / "data"
    first = LaminaProcess(data).start()
    try:
        if first.health()["sandbox"]["backend"] != "namespaces":
            pytest.skip("only the namespaces backend keeps zygotes")
        assert first.health()["sandbox"]["zygotes"] == []  # no function: none started
        lam = client_for(first.url)
        lam.create_function(FunctionName="ahead", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 'ahead'\n"})})
        lam.get_waiter("function_active_v2").wait(FunctionName="ahead")
        created = _zygotes_once(first, bool)
        assert len(created) == 1 and created[0].endswith("python3.12"), created
    finally:
        assert first.stop() == 0
    second = LaminaProcess(data).start()
    try:
        started = _zygotes_once(second, bool)
        assert started == created  # without any invoke
        time.sleep(1.0)  # and no other runtime's
        assert second.health()["sandbox"]["zygotes"] == created
        assert second.health()["counts"]["environments"] == 0
        answer = client_for(second.url).invoke(FunctionName="ahead")
        assert json.loads(answer["Payload"].read()) == "ahead"
        assert second.health()["sandbox"]["zygotes"] == created
    finally:
        assert second.stop() == 0
