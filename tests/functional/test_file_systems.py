"""FileSystemConfigs: an EFS access point served from a host directory, mounted read-write at
LocalMountPath in every environment, shared between functions (one writes, another reads), on the
namespaces and bubblewrap backends; refused with AWS's error when the access point is not mapped,
and by the process backend with a reason."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from support import ROLE, LaminaProcess, client_for, make_zip

CI = os.environ.get("CI") == "true"
AP = "arn:aws:elasticfilesystem:us-east-1:000000000000:access-point/fsap-0123456789abcdef0"
UNMAPPED = "arn:aws:elasticfilesystem:us-east-1:000000000000:access-point/fsap-00000000000000000"
APP = '''
import os
def handler(event, context):
    path = os.path.join(event["dir"], "shared.txt")
    if event["op"] == "write":
        with open(path, "w") as f:
            f.write(event["text"])
    st = os.stat(event["dir"])
    with open(path) as f:
        return {"text": f.read(), "uid": os.getuid(), "dir_uid": st.st_uid,
                "writable": os.access(event["dir"], os.W_OK)}
'''
COMMON = {"Runtime": "python3.12", "Role": ROLE, "Handler": "app.handler", "Timeout": 30}


def _start(backend: str, data_dir: Path, shared: Path) -> LaminaProcess:
    server = LaminaProcess(data_dir, env={"LAMINA_SANDBOX": backend, "LAMINA_FILE_SYSTEMS": f"{AP}={shared}"})
    try:
        return server.start()
    except RuntimeError as exc:
        reason = f"lamina serve refuses LAMINA_SANDBOX={backend} here: {str(exc).strip().splitlines()[-1]}"
        if CI and backend != "process":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module", params=["namespaces", "bubblewrap"])
def efs(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"efs-{request.param}")
    shared = base / "efs-root"
    server = _start(request.param, base / "data", shared)
    yield client_for(server.url), shared
    server.stop()


def _invoke(lam, name: str, event: dict) -> dict:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    return payload


def test_one_function_writes_another_reads(efs):
    lam, shared = efs
    for name, path in (("writer", "/mnt/data"), ("reader", "/mnt/other")):
        created = lam.create_function(FunctionName=name, Code={"ZipFile": make_zip({"app.py": APP})},
                                      FileSystemConfigs=[{"Arn": AP, "LocalMountPath": path}], **COMMON)
        assert created["FileSystemConfigs"] == [{"Arn": AP, "LocalMountPath": path}]
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    wrote = _invoke(lam, "writer", {"op": "write", "dir": "/mnt/data", "text": "hello from writer"})
    assert wrote["text"] == "hello from writer"
    assert wrote["writable"] and wrote["dir_uid"] == wrote["uid"]  # owned by the access point's user
    read = _invoke(lam, "reader", {"op": "read", "dir": "/mnt/other"})
    assert read["text"] == "hello from writer"
    assert (shared / "shared.txt").read_text() == "hello from writer"  # the host directory itself
    config = lam.get_function_configuration(FunctionName="reader")
    assert config["FileSystemConfigs"] == [{"Arn": AP, "LocalMountPath": "/mnt/other"}]


def test_unmapped_access_point_is_refused(efs):
    lam, _ = efs
    with pytest.raises(ClientError) as info:
        lam.create_function(FunctionName="nofs", Code={"ZipFile": make_zip({"app.py": APP})},
                            FileSystemConfigs=[{"Arn": UNMAPPED, "LocalMountPath": "/mnt/x"}], **COMMON)
    error = info.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert UNMAPPED in error["Message"] and "--file-system" in error["Message"]


def test_mount_path_outside_mnt_is_a_validation_error(efs):
    lam, _ = efs
    with pytest.raises(ClientError) as info:
        lam.create_function(FunctionName="badpath", Code={"ZipFile": make_zip({"app.py": APP})},
                            FileSystemConfigs=[{"Arn": AP, "LocalMountPath": "/var/data"}], **COMMON)
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_configuration_update_adds_and_removes_the_mount(efs):
    lam, _ = efs
    lam.create_function(FunctionName="later", Code={"ZipFile": make_zip({"app.py": APP})}, **COMMON)
    lam.get_waiter("function_active_v2").wait(FunctionName="later", WaiterConfig={"Delay": 0.2})
    assert "FileSystemConfigs" not in lam.get_function_configuration(FunctionName="later")
    lam.update_function_configuration(FunctionName="later",
                                      FileSystemConfigs=[{"Arn": AP, "LocalMountPath": "/mnt/late"}])
    lam.get_waiter("function_updated_v2").wait(FunctionName="later", WaiterConfig={"Delay": 0.2})
    _invoke(lam, "later", {"op": "write", "dir": "/mnt/late", "text": "late"})
    lam.update_function_configuration(FunctionName="later", FileSystemConfigs=[])
    lam.get_waiter("function_updated_v2").wait(FunctionName="later", WaiterConfig={"Delay": 0.2})
    assert "FileSystemConfigs" not in lam.get_function_configuration(FunctionName="later")
    response = lam.invoke(FunctionName="later", Payload=json.dumps({"op": "read", "dir": "/mnt/late"}).encode())
    assert response.get("FunctionError") == "Unhandled"  # no mount any more: the file is not there


def test_process_backend_refuses_file_systems(tmp_path):
    server = _start("process", tmp_path / "data", tmp_path / "efs")
    try:
        lam = client_for(server.url)
        with pytest.raises(ClientError) as info:
            lam.create_function(FunctionName="p", Code={"ZipFile": make_zip({"app.py": APP})},
                                FileSystemConfigs=[{"Arn": AP, "LocalMountPath": "/mnt/data"}], **COMMON)
        error = info.value.response["Error"]
        assert error["Code"] == "InvalidParameterValueException"
        assert "process sandbox backend cannot mount" in error["Message"]
    finally:
        server.stop()
