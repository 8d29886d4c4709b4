"""Helpers shared by the test layers: zips built in memory, a real `lamina serve` process, clients."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

REGION = "us-east-1"
CHROMIUM = "/usr/bin/chromium"  # Debian's, driven by Playwright (never Playwright's own browsers)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason="needs Debian's chromium (apt-get install chromium; .ci/run installs it)")
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-role"
# LAMINA_TEST_AUTH=sigv4 runs every test server with --auth sigv4 and signs the test clients' requests
# with its administrator key (the role ROLE is created for them), so the suite's conformance tests
# also check lamina with authentication on.
TEST_AUTH = os.environ.get("LAMINA_TEST_AUTH", "")
# LAMINA_TEST_DATABASE=postgresql runs every test server on a throwaway PostgreSQL database of its own
# (one per data dir, so a restarted server finds its state; dropped when the test run ends), so the
# suite's conformance tests also check lamina on PostgreSQL (tests/pg_support.py names the server).
TEST_DATABASE = os.environ.get("LAMINA_TEST_DATABASE", "")
_DATABASES: dict[Path, str] = {}  # data dir -> its PostgreSQL database URL


def _database_for(data_dir: Path) -> str:
    import atexit

    from pg_support import create_database, drop_database, url_of

    key = Path(data_dir).resolve()
    if key not in _DATABASES:
        name = create_database("lamina_pg_srv")
        atexit.register(drop_database, name)
        _DATABASES[key] = url_of(name)
    return _DATABASES[key]
_KEYS: dict[str, tuple[str, str]] = {}  # server URL -> its administrator key
LAMBDA_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def policy(*statements) -> str:
    """An IAM policy document (JSON) of `statements`."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def keys_for(url: str) -> tuple[str, str]:
    """The access key to sign requests to `url` with (any key when auth is off)."""
    return _KEYS.get(url, ("test", "test"))


class Keys:
    """An access key pair of a lamina: boto3 clients signed with it, and SigV4 headers for raw requests."""

    def __init__(self, url: str, key_id: str, secret: str) -> None:
        self.url, self.key_id, self.secret = url, key_id, secret

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, aws_access_key_id=self.key_id,
                            aws_secret_access_key=self.secret,
                            config=Config(retries={"max_attempts": 0}, read_timeout=120))

    def sign(self, method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> dict:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
        SigV4Auth(Credentials(self.key_id, self.secret), "lambda", REGION).add_auth(request)
        return dict(request.headers.items())


def printed_json(logs, function: str, prefix: str) -> list[dict]:
    """Every `PREFIX {json}` line `function` printed, in order, decoded (paging through FilterLogEvents);
    none while its log group does not exist yet."""
    out, token = [], None
    while True:
        kwargs = {"logGroupName": f"/aws/lambda/{function}", "filterPattern": f'"{prefix} "'}
        if token:
            kwargs["nextToken"] = token
        try:
            page = logs.filter_log_events(**kwargs)
        except logs.exceptions.ResourceNotFoundException:
            return []
        out += [json.loads(e["message"].strip()[len(prefix) + 1:]) for e in page["events"]]
        token = page.get("nextToken")
        if not token:
            return out


def read_response(sock: socket.socket, pending: bytes = b"") -> tuple[bytes, list[tuple[bytes, bytes]], bytes, bytes]:
    """(status line, header pairs, body, bytes left over) of the next HTTP/1.1 response on a plain
    socket (read up to its Content-Length, never further)."""
    while b"\r\n\r\n" not in pending:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed without a response: {pending!r}"
        pending += chunk
    head, _, rest = pending.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = [tuple(line.split(b": ", 1)) for line in lines[1:]]
    size = int({name.lower(): value for name, value in headers}.get(b"content-length", b"0"))
    while len(rest) < size:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed mid-response"
        rest += chunk
    return lines[0], headers, rest[:size], rest[size:]


def wait_for(condition, timeout: float = 60.0, what: str = "the condition", interval: float = 0.2):
    """Poll `condition` until it returns something truthy (returned), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def quick_lambda_waiters(delay: float = 0.1) -> Path:
    """Make botocore (in this process and the processes it starts: the aws CLI, lamina) load Lambda's
    waiters from a copy of its own model in which they poll every `delay` seconds, each as long as
    before in all (the same acceptors; MaximumAttempts scaled up); AWS_DATA_PATH names the copy."""
    import atexit
    import shutil
    import tempfile

    import botocore

    source = Path(botocore.__file__).parent / "data" / "lambda" / "2015-03-31" / "waiters-2.json"
    model = json.loads(source.read_text())
    for waiter in model["waiters"].values():
        waiter["maxAttempts"] = int(waiter["maxAttempts"] * waiter["delay"] / delay)
        waiter["delay"] = delay
    root = Path(tempfile.mkdtemp(prefix="lamina-waiters-"))
    atexit.register(shutil.rmtree, root, True)
    target = root / "lambda" / "2015-03-31" / "waiters-2.json"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(model))
    os.environ["AWS_DATA_PATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("AWS_DATA_PATH")]))
    return root


def make_zip(files: dict[str, str | bytes], executable=lambda name: False) -> bytes:
    """A deployment package of `files`, the names `executable` picks with mode 0755 (a bootstrap)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if executable(name) else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()



def lamina_cli(*args: str, url: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """`lamina <args> --endpoint <url>` as a child process, its output captured as text."""
    return subprocess.run([sys.executable, "-m", "lamina.cli", *args, "--endpoint", url], capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def plain_output(text: str) -> str:
    """CLI output with rich's table borders and line breaks reduced to single spaces."""
    return " ".join(re.sub(r"[\u2500-\u257f]", " ", text).split())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LaminaProcess:
    """One `lamina serve` child process; start() waits for /health, stop() sends SIGTERM."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir
        self.args = tuple(args)  # more `lamina serve` options, e.g. ("--database", url)
        if TEST_DATABASE == "postgresql" and "--database" not in self.args and not (env or {}).get(
                "LAMINA_DATABASE_URL"):
            self.args += ("--database", _database_for(data_dir))
        self.port = free_port()
        self.env = {**os.environ, **(env or {})}
        if TEST_AUTH:
            self.env.setdefault("LAMINA_AUTH", TEST_AUTH)
        self.proc: subprocess.Popen | None = None
        self.output = data_dir.parent / f"lamina-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LaminaProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.output, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lamina.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--data-dir", str(self.data_dir), *self.args],
            stdout=self._log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"lamina exited early:\n{self.output.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as response:
                    if response.status == 200:
                        self._authenticated()
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"lamina did not become healthy:\n{self.output.read_text()}")

    def _authenticated(self) -> None:
        """With auth on: remember the administrator key and make sure ROLE exists for Lambda."""
        if self.env.get("LAMINA_AUTH") != "sigv4":
            return
        import configparser

        profile = configparser.ConfigParser()
        profile.read(self.data_dir / "credentials")
        _KEYS[self.url] = (profile["lamina"]["aws_access_key_id"], profile["lamina"]["aws_secret_access_key"])
        iam = client_for(self.url, "iam")
        try:
            iam.create_role(RoleName=ROLE.rsplit("/", 1)[1], AssumeRolePolicyDocument=LAMBDA_TRUST)
        except iam.exceptions.EntityAlreadyExistsException:
            pass

    def health(self) -> dict:
        with urllib.request.urlopen(self.url + "/health", timeout=5) as response:
            return json.loads(response.read())

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        return stop_process(self.proc, self._log, sig)


def stop_process(proc: subprocess.Popen, log, sig: int = signal.SIGTERM) -> int:
    """Signal a lamina child process (SIGTERM by default), SIGKILL its session if it is still there
    after 20 s, close its log; its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log.close()
    return proc.returncode


def server_or_skip(backend: str, data_dir: Path) -> LaminaProcess:
    """A started `lamina serve` on sandbox backend `backend`; skipped (never on CI) where that
    backend cannot run."""
    server = LaminaProcess(data_dir, env={"LAMINA_SANDBOX": backend, "LAMINA_IDLE_TIMEOUT": "60"})
    try:
        return server.start()
    except RuntimeError as exc:
        if CI:
            raise
        pytest.skip(f"lamina serve refuses LAMINA_SANDBOX={backend} here: {str(exc).strip().splitlines()[-1]}")


def logs_of(server: LaminaProcess, name: str, needle: str, timeout: float = 10.0) -> list[str]:
    """The messages of function `name`'s log group once one holds `needle` (or `timeout` passed)."""
    logs = client_for(server.url, "logs")
    deadline = time.monotonic() + timeout
    while True:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        except logs.exceptions.ResourceNotFoundException:  # the group appears with the first flush
            events = []
        messages = [event["message"] for event in events]
        if any(needle in message for message in messages) or time.monotonic() > deadline:
            return messages
        time.sleep(0.2)


def client_for(url: str, service: str = "lambda"):
    key, secret = keys_for(url)
    return boto3.client(
        service, endpoint_url=url, region_name=REGION, aws_access_key_id=key, aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 0}, read_timeout=120),
    )


class MotoServer:
    """moto in server mode (moto[server]) on a free loopback port: a real SQS, Kinesis and DynamoDB
    Streams endpoint for the event source mapping tests, with its SQS queue operations made atomic
    (tests/moto_sqs.py: moto's own lose FIFO's one-receiver-per-message-group under concurrent receives)."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.output = log_dir / f"moto-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self._log = open(self.output, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("moto_sqs.py")),
                                      "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited early:\n{self.output.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/moto-api/", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"moto_server did not start:\n{self.output.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def source_env(moto_url: str) -> dict[str, str]:
    """The environment of a lamina whose event sources live in moto (credentials from the standard chain)."""
    return {"AWS_ENDPOINT_URL_SQS": moto_url, "AWS_ENDPOINT_URL_KINESIS": moto_url,
            "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": moto_url, "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION}
