"""Container image functions (PackageType Image) without Docker: images built by umoci from a tree
of host files (python3 + awslambdaric), pushed with skopeo to Debian's docker-registry on a loopback
port, pulled by lamina over the OCI Distribution API and run on the namespaces and bubblewrap
backends with the image as the read-only root and awslambdaric speaking to lamina's Runtime API."""

from __future__ import annotations

import base64
import json
import os
import tarfile
import time

import httpx
import pytest
from botocore.exceptions import ClientError

from images_support import (
    ZSTD_LAYER,
    RegistryProcess,
    ScopedFront,
    build_and_push,
    copy_image,
    missing_tools,
    push_raw,
    tar_layer,
)
from support import ROLE, LaminaProcess, client_for

CI = os.environ.get("CI") == "true"


def _need(reason: str):
    if CI:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    missing = missing_tools()
    if missing:
        _need(f"container image tests need {', '.join(missing)} (apt-get install docker-registry umoci skopeo)")
    process = RegistryProcess(tmp_path_factory.mktemp("registry"))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def images(registry, tmp_path_factory):
    work = tmp_path_factory.mktemp("images")
    uris = {
        "v1": build_and_push(registry, work, "lambda/app", "v1"),
        "v2": build_and_push(registry, work, "lambda/app", "v2", env=("FROM_IMAGE=yes", "APP_VERSION=2")),
        "arm": build_and_push(registry, work, "lambda/app", "arm", architecture="arm64"),
    }
    evil = tarfile.TarInfo("../../escaped.txt")
    evil.size = 4
    uris["traversal"] = push_raw(registry, "lambda/evil", "v1", [tar_layer([(evil, b"evil")])],
                                 {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"]},
                                  "rootfs": {"type": "layers", "diff_ids": []}})
    uris["missing"] = f"{registry.host}/lambda/app:no-such-tag"
    uris["names"] = build_and_push(registry, work, "lambda/names", "v1", app=NAMES_APP,
                                   extra={"/etc/hosts": b"10.9.8.7 db.internal\n"})
    uris["zstd"] = copy_image(registry, work, "lambda/app", "v1", "lambda/zstd", "v1", zstd=True)
    uris["reclaim"] = copy_image(registry, work, "lambda/app", "v1", "lambda/reclaim", "v1", env=("RECLAIM=1",))
    uris["scoped"] = copy_image(registry, work, "lambda/app", "v1", "lambda/scoped", "v1", env=("SCOPED=1",))
    return uris


# Resolves the environment's names, listens on `sandbox` and connects to it by name, and reads the
# image's own /etc/hosts.
NAMES_APP = '''
import socket
def handler(event, context):
    seen = {name: socket.gethostbyname(name) for name in ("sandbox", "sandbox.localdomain", "localhost",
                                                          "db.internal")}
    listener = socket.create_server(("sandbox", 0))
    with socket.create_connection(("sandbox.localdomain", listener.getsockname()[1]), timeout=5):
        connection, _ = listener.accept()
        connection.close()
    listener.close()
    return {"resolved": seen, "hosts": open("/etc/hosts").read()}
'''


AP = "arn:aws:elasticfilesystem:us-east-1:000000000000:access-point/fsap-0123456789abcdef0"


DATA_DIRS: dict[str, object] = {}  # backend → the lamina data dir of the module's server


@pytest.fixture(scope="module", params=["namespaces", "bubblewrap"])
def lam(request, tmp_path_factory, images):
    base = tmp_path_factory.mktemp(f"lamina-images-{request.param}")
    DATA_DIRS["current"] = base / "data"
    shared = base / "efs"
    shared.mkdir()
    (shared / "seen.txt").write_text("shared")
    server = LaminaProcess(base / "data", env={"LAMINA_SANDBOX": request.param,
                                               "LAMINA_FILE_SYSTEMS": f"{AP}={shared}"})
    try:
        server.start()
    except RuntimeError as exc:
        _need(f"container images need the {request.param} backend: {str(exc).strip().splitlines()[-1]}")
    yield client_for(server.url)
    server.stop()


def _create(lam, name: str, uri: str, **extra):
    return lam.create_function(FunctionName=name, Role=ROLE, PackageType="Image", Code={"ImageUri": uri},
                               Timeout=30, **extra)


def _settled(lam, name: str) -> dict:
    waiter = lam.get_waiter("function_active_v2")
    try:
        waiter.wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})
    except Exception:  # noqa: BLE001 - a Failed function ends the waiter: the test reads the state
        pass
    return lam.get_function_configuration(FunctionName=name)


def _invoke(lam, name: str, event: dict) -> tuple[dict, dict]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return json.loads(response["Payload"].read()), response


def test_image_function_runs_through_awslambdaric(lam, images):
    created = _create(lam, "img", images["v1"], Environment={"Variables": {"USER_VAR": "mine"}},
                      FileSystemConfigs=[{"Arn": AP, "LocalMountPath": "/mnt/shared"}])
    assert created["PackageType"] == "Image" and created["State"] == "Pending"
    assert "Runtime" not in created and "Handler" not in created
    config = _settled(lam, "img")
    assert config["State"] == "Active", config
    got = lam.get_function(FunctionName="img")
    digest = got["Configuration"]["CodeSha256"]
    assert len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
    assert got["Code"] == {"RepositoryType": "ECR", "ImageUri": images["v1"],
                           "ResolvedImageUri": images["v1"].rsplit(":", 1)[0] + "@sha256:" + digest}
    assert "RuntimeVersionConfig" not in got["Configuration"]
    payload, response = _invoke(lam, "img", {"hello": "image"})
    assert "FunctionError" not in response, payload
    assert payload["event"] == {"hello": "image"}
    assert payload["function"] == "img" and payload["memory"] == "128"
    assert payload["arn"] == "arn:aws:lambda:us-east-1:000000000000:function:img"
    assert payload["uid"] == 993  # the image's USER 1000 is ignored, as on Lambda
    assert payload["cwd"] == "/var/task" and payload["from_image"] == "yes" and payload["user_var"] == "mine"
    assert payload["tmp_writable"] and not payload["root_writable"]
    assert payload["mnt"] == ["seen.txt"]  # FileSystemConfigs in an image function too
    error, response = _invoke(lam, "img", {"fail": True})
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "image says no"


def test_update_to_a_new_digest(lam, images):
    _create(lam, "img-update", images["v1"])
    before = _settled(lam, "img-update")["CodeSha256"]
    lam.update_function_code(FunctionName="img-update", ImageUri=images["v2"])
    lam.get_waiter("function_updated_v2").wait(FunctionName="img-update", WaiterConfig={"Delay": 0.2})
    after = lam.get_function_configuration(FunctionName="img-update")
    assert after["CodeSha256"] != before and after["LastUpdateStatus"] == "Successful"
    payload, _ = _invoke(lam, "img-update", {})
    assert payload["version"] == "2"
    error = _error(lam.update_function_code, FunctionName="img-update", ZipFile=b"PK")
    assert error == ("InvalidParameterValueException",
                     "Please provide ImageUri when updating a function with packageType Image.")


def test_image_config_overrides(lam, images):
    overrides = {"EntryPoint": ["/usr/bin/python3", "-m", "awslambdaric"], "Command": ["app.handler"],
                 "WorkingDirectory": "/tmp"}
    created = _create(lam, "img-config", images["v1"], ImageConfig=overrides,
                      Environment={"Variables": {"PYTHONPATH": "/var/task"}})  # app.py is not in /tmp
    assert created["ImageConfigResponse"] == {"ImageConfig": overrides}
    assert _settled(lam, "img-config")["State"] == "Active"
    payload, response = _invoke(lam, "img-config", {})
    assert "FunctionError" not in response, payload
    assert payload["cwd"] == "/tmp"


def test_an_image_whose_init_fails_retries_it_inside_the_invoke(lam, images):
    _create(lam, "img-noinit", images["v1"], ImageConfig={"Command": ["missing.handler"]})
    assert _settled(lam, "img-noinit")["State"] == "Active"
    response = lam.invoke(FunctionName="img-noinit", Payload=b"{}", LogType="Tail")
    error = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled" and error["errorType"] == "Runtime.ImportModuleError", error
    reports = [line.split("\t")[1:] for line in base64.b64decode(response["LogResult"]).decode().splitlines()
               if line.startswith("INIT_REPORT")]
    assert reports == [["Phase: init", "Status: error", "Error Type: Runtime.ImportModuleError"],
                       ["Phase: invoke", "Status: error", "Error Type: Runtime.ImportModuleError"]]


def _error(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    error = info.value.response["Error"]
    return error["Code"], error["Message"]


def test_runtime_handler_and_bad_references_are_refused(lam, images):
    assert _error(_create, lam=lam, name="img-rt", uri=images["v1"], Runtime="python3.12") == (
        "InvalidParameterValueException",
        "Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image.")
    assert _error(_create, lam=lam, name="img-bad", uri="not a uri") == (
        "InvalidParameterValueException", "Source image not a uri is not valid. Provide a valid source image.")
    csc = lam.create_code_signing_config(AllowedPublishers={"SigningProfileVersionArns": [
        "arn:aws:signer:us-east-1:000000000000:/signing-profiles/p/v1"]})["CodeSigningConfig"]["CodeSigningConfigArn"]
    assert _error(_create, lam=lam, name="img-signed", uri=images["v1"], CodeSigningConfigArn=csc)[0] == \
        "InvalidParameterValueException"  # code signing is not supported for images
    _create(lam, "img-unsigned", images["v1"])
    code, message = _error(lam.put_function_code_signing_config, FunctionName="img-unsigned",
                           CodeSigningConfigArn=csc)
    assert code == "InvalidParameterValueException" and "container images" in message


@pytest.mark.parametrize(("key", "code"), [("missing", "ImageDeleted"), ("traversal", "InvalidImage"),
                                           ("arm", "InvalidImage")])
def test_bad_images_leave_the_function_failed(lam, images, key, code):
    name = f"img-{key}"
    _create(lam, name, images[key])
    config = _settled(lam, name)
    assert (config["State"], config["StateReasonCode"]) == ("Failed", code), config
    if key == "arm":
        assert "linux/amd64" in config["StateReason"]


def test_process_backend_refuses_images(tmp_path, images):
    server = LaminaProcess(tmp_path / "data", env={"LAMINA_SANDBOX": "process"}).start()
    try:
        code, message = _error(_create, lam=client_for(server.url), name="img", uri=images["v1"])
        assert code == "InvalidParameterValueException" and "process sandbox backend cannot run container" in message
        assert "namespaces or bubblewrap" in message
    finally:
        server.stop()


def test_zstd_layers(lam, images, registry):
    manifest = httpx.get(f"http://{registry.host}/v2/lambda/zstd/manifests/v1",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).json()
    assert {layer["mediaType"] for layer in manifest["layers"]} == {ZSTD_LAYER}
    _create(lam, "img-zstd", images["zstd"])
    config = _settled(lam, "img-zstd")
    assert config["State"] == "Active", config
    payload, response = _invoke(lam, "img-zstd", {"zstd": True})
    assert "FunctionError" not in response, payload
    assert payload["event"] == {"zstd": True} and payload["from_image"] == "yes"


def _roots() -> set[str]:
    roots = DATA_DIRS["current"] / "images" / "roots"  # type: ignore[operator]
    return {path.name for path in roots.iterdir() if path.is_dir() and not path.name.startswith(".")}


def _eventually(check, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def test_deleting_the_last_function_of_an_image_frees_its_root(lam, images):
    _create(lam, "img-keep", images["reclaim"])
    digest = _settled(lam, "img-keep")["CodeSha256"]
    _create(lam, "img-gone", images["reclaim"])
    assert _settled(lam, "img-gone")["CodeSha256"] == digest
    _invoke(lam, "img-gone", {})  # an environment runs on the root
    _invoke(lam, "img-keep", {})
    assert digest in _roots()
    lam.delete_function(FunctionName="img-gone")
    time.sleep(3)  # a reclaim run or more
    assert digest in _roots()  # img-keep still uses it (and still runs)
    payload, response = _invoke(lam, "img-keep", {})
    assert "FunctionError" not in response, payload
    lam.delete_function(FunctionName="img-keep")
    assert _eventually(lambda: digest not in _roots()), "the root outlived its last function"


def test_a_registry_asking_for_a_new_scope_mid_pull(lam, images, registry):
    front = ScopedFront(registry)
    try:
        uri = images["scoped"].replace(registry.host, front.host)
        _create(lam, "img-scoped", uri)
        config = _settled(lam, "img-scoped")
        assert config["State"] == "Active", config
        repo = "lambda/scoped"
        assert f"repository:{repo}:pull repository:{repo}:metadata_read" in front.tokens
        assert f"repository:{repo}:pull repository:{repo}:blob_read" in front.tokens
        payload, response = _invoke(lam, "img-scoped", {})
        assert "FunctionError" not in response, payload
    finally:
        front.stop()


def test_an_image_keeps_its_own_etc_hosts_and_resolves_the_sandbox_names(lam, images):
    _create(lam, "img-names", images["names"])
    assert _settled(lam, "img-names")["State"] == "Active"
    payload, response = _invoke(lam, "img-names", {})
    assert "FunctionError" not in response, payload
    assert payload["resolved"] == {"sandbox": "127.0.0.1", "sandbox.localdomain": "127.0.0.1",
                                   "localhost": "127.0.0.1", "db.internal": "10.9.8.7"}
    assert payload["hosts"].startswith("10.9.8.7 db.internal\n")  # the image's own line, kept
