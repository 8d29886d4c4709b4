"""Fixtures of the functional tests: a real `lamina serve` process and boto3 / aws CLI clients."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REGION,
    Keys,
    LaminaProcess,
    MotoServer,
    client_for,
    keys_for,
    quick_lambda_waiters,
)


def pytest_configure(config):
    """Lambda's waiters poll every 0.1 s in this run (boto3 clients and the aws CLI alike): a function
    lamina creates is Active within milliseconds, and botocore's one second between polls made each
    create-and-wait in the suite cost a second."""
    quick_lambda_waiters()


@pytest.fixture(scope="module")
def lamina(tmp_path_factory):
    server = LaminaProcess(tmp_path_factory.mktemp("lamina") / "data").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def lam(lamina):
    return client_for(lamina.url)


@pytest.fixture
def aws_cli(lamina, tmp_path):
    """Run the real aws CLI against the server; returns (exit code, parsed JSON or text, stderr)."""
    executable = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    assert executable, "the aws CLI is installed with the dev dependencies (awscli)"
    key, secret = keys_for(lamina.url)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
           "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_MAX_ATTEMPTS": "1"}

    def run(*args: str):
        out = subprocess.run([executable, "--endpoint-url", lamina.url, "--output", "json", *args],
                             capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        try:
            parsed = json.loads(out.stdout) if out.stdout.strip() else None
        except ValueError:
            parsed = out.stdout
        return out.returncode, parsed, out.stderr

    return run


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory):
    """A moto server (SQS, Kinesis, DynamoDB Streams) on a free loopback port; yields its URL."""
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for the console's browser tests, one per module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """A lamina of the module's own that checks every request's signature (--auth sigv4)."""
    process = LaminaProcess(tmp_path_factory.mktemp("sigv4") / "data", env={"LAMINA_AUTH": "sigv4"}).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def admin(signed):
    """The administrator's keys of `signed` (the account's root)."""
    return Keys(signed.url, *keys_for(signed.url))
