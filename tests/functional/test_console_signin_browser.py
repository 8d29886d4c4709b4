"""The console with `--auth sigv4` in a real headless Chromium (Debian's `chromium`, Playwright):
it asks for an access key pair once, proves it with a signed STS call, keeps a server-side session
behind an HttpOnly, SameSite=Strict cookie (nothing in the browser's storage), acts as that user
(a user without permissions sees AccessDenied) and signs out."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from support import REGION, LaminaProcess, keys_for, make_zip, needs_chromium

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = LaminaProcess(tmp_path_factory.mktemp("console-auth") / "data", env={"LAMINA_AUTH": "sigv4"}).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def admin(server):
    return keys_for(server.url)


def client(server, keys, service: str):
    return boto3.client(service, endpoint_url=server.url, region_name=REGION, aws_access_key_id=keys[0],
                        aws_secret_access_key=keys[1], config=Config(retries={"max_attempts": 0}))


@pytest.fixture(scope="module")
def world(server, admin):
    iam, lam = client(server, admin, "iam"), client(server, admin, "lambda")
    role = iam.create_role(RoleName="lambda-ex", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    lam.create_function(FunctionName="signed-in-fn", Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 1\n"})})
    iam.create_user(UserName="nobody")
    key = iam.create_access_key(UserName="nobody")["AccessKey"]
    return {"nobody": (key["AccessKeyId"], key["SecretAccessKey"])}


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert errors == []


def sign_in(page, base: str, keys) -> None:
    page.goto(base + "/console/functions")
    page.wait_for_url("**/console/signin?**")
    page.get_by_label("Access key ID").fill(keys[0])
    page.get_by_label("Secret access key").fill(keys[1])
    page.get_by_role("button", name="Sign in").click()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}-1280.png").write_bytes(page.screenshot(full_page=True))


def test_a_wrong_secret_is_refused(page, server, admin, world):
    sign_in(page, server.url, (admin[0], "not-the-secret"))
    refusal = page.get_by_role("alert")
    refusal.wait_for()
    assert "Sign-in refused" in refusal.inner_text() and "signature" in refusal.inner_text()
    assert page.context.cookies() == []
    shot(page, "signin-refused")
    assert page.goto(server.url + "/console/functions").url.startswith(server.url + "/console/signin")


def test_sign_in_with_the_admin_key_shows_the_functions_and_keeps_no_secret(page, server, admin, world):
    sign_in(page, server.url, admin)
    page.wait_for_url("**/console/functions")
    assert page.get_by_role("heading", name="Functions").is_visible()
    assert page.get_by_text("signed-in-fn").first.is_visible()
    shot(page, "signed-in-functions")
    [cookie] = page.context.cookies()
    assert cookie["name"] == "lamina_console" and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert admin[1] not in cookie["value"]
    stored = page.evaluate("() => [document.cookie, JSON.stringify(localStorage), JSON.stringify(sessionStorage)]")
    assert stored[0] == ""  # HttpOnly: no script reads the session id
    assert not any(admin[1] in text or cookie["value"] in text for text in stored)  # nothing secret stored
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/signin")
    assert page.goto(server.url + "/console/functions").url.startswith(server.url + "/console/signin")


def test_the_console_acts_as_the_signed_in_user(page, server, world):
    sign_in(page, server.url, world["nobody"])  # a valid key whose user may do nothing
    page.wait_for_url("**/console/functions")
    assert page.get_by_role("heading", name="AccessDeniedException").is_visible()
    assert "user/nobody is not authorized to perform: lambda:ListFunctions" in page.get_by_role("alert").inner_text()
