"""The real aws CLI against lamina, and a server restart that must keep every function."""

from __future__ import annotations

import json

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
