"""The console with `--auth sigv4` in a real headless Chromium (Debian's `chromium`, Playwright):
it asks for an access key pair once, proves it with a signed STS call, keeps a server-side session
behind an HttpOnly, SameSite=Strict cookie (nothing in the browser's storage), acts as that user
(a user without permissions sees AccessDenied) and signs out. Create function makes the execution
role the AWS console makes (or takes an existing one), as the signed-in user."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from support import LAMBDA_TRUST as TRUST
from support import REGION, LaminaProcess, keys_for, make_zip, needs_chromium

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"

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
    iam.create_role(RoleName="ec2-only", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    users = {}
    for user in ("nobody", "lambda-dev", "no-attach"):
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        users[user] = (key["AccessKeyId"], key["SecretAccessKey"])
    # Lambda's full access (which lists and reads roles, passes them, but creates none), as on AWS.
    iam.attach_user_policy(UserName="lambda-dev", PolicyArn="arn:aws:iam::aws:policy/AWSLambda_FullAccess")
    # May create and delete roles but not attach policies to them.
    iam.attach_user_policy(UserName="no-attach", PolicyArn="arn:aws:iam::aws:policy/AWSLambda_FullAccess")
    iam.put_user_policy(UserName="no-attach", PolicyName="roles", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
            "iam:CreateRole", "iam:DeleteRole", "iam:ListAttachedRolePolicies", "iam:DetachRolePolicy"]}]}))
    return users


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


BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


def create_function(page, base: str, name: str) -> str:
    """Fills Create function for `name` (from scratch) and submits it; the role name the page announced."""
    page.goto(base + "/console/create")
    page.get_by_label("Function name").fill(name)
    announced = page.locator("#new-role-hint code").first.inner_text()
    page.get_by_role("button", name="Create function").click()
    return announced


def test_create_function_with_a_new_basic_execution_role(page, server, admin, world):
    sign_in(page, server.url, admin)
    page.wait_for_url("**/console/functions")
    page.goto(server.url + "/console/create")
    assert page.get_by_label("Create a new role with basic Lambda permissions").is_checked()
    assert page.get_by_label("Existing role", exact=True).is_hidden()  # shown for "Use an existing role" only
    shot(page, "create-new-role")
    announced = create_function(page, server.url, "with-new-role")
    page.wait_for_url("**/console/functions/with-new-role/code")
    iam, lam = client(server, admin, "iam"), client(server, admin, "lambda")
    arn = lam.get_function_configuration(FunctionName="with-new-role")["Role"]
    name = arn.rsplit("/", 1)[1]
    assert re.fullmatch(r"with-new-role-role-[a-z0-9]{8}", name) and name == announced
    role = iam.get_role(RoleName=name)["Role"]
    assert (role["Arn"], role["Path"]) == (arn, "/service-role/") and arn.endswith(":role/service-role/" + name)
    assert role["AssumeRolePolicyDocument"] == json.loads(TRUST)
    assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == [
        {"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": BASIC}]
    lam.get_waiter("function_active_v2").wait(FunctionName="with-new-role")
    assert "FunctionError" not in lam.invoke(FunctionName="with-new-role", Payload=b"{}")  # Lambda assumes it


def test_create_function_with_an_existing_role(page, server, admin, world):
    sign_in(page, server.url, admin)
    page.wait_for_url("**/console/functions")
    page.goto(server.url + "/console/create")
    page.get_by_label("Use an existing role").check()
    chooser = page.get_by_label("Existing role", exact=True)
    offered = chooser.locator("option").all_inner_texts()
    assert "lambda-ex" in offered and "ec2-only" not in offered  # only roles Lambda may assume
    chooser.select_option(label="lambda-ex")
    page.get_by_label("Function name").fill("with-existing-role")
    shot(page, "create-existing-role")
    page.get_by_role("button", name="Create function").click()
    page.wait_for_url("**/console/functions/with-existing-role/code")
    iam, lam = client(server, admin, "iam"), client(server, admin, "lambda")
    assert lam.get_function_configuration(FunctionName="with-existing-role")["Role"] == \
        iam.get_role(RoleName="lambda-ex")["Role"]["Arn"]


def made_roles(server, admin, function: str) -> list[str]:
    return [r["RoleName"] for r in client(server, admin, "iam").list_roles()["Roles"]
            if r["RoleName"].startswith(function + "-role-")]


def test_a_user_who_may_not_create_roles_sees_why_and_no_function_is_made(page, server, admin, world):
    sign_in(page, server.url, world["lambda-dev"])
    page.wait_for_url("**/console/functions")
    create_function(page, server.url, "denied-fn")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "AccessDenied" in alert.inner_text()
    assert "user/lambda-dev is not authorized to perform: iam:CreateRole" in alert.inner_text()
    assert page.get_by_label("Function name").input_value() == "denied-fn"  # the form, kept for another try
    shot(page, "create-role-denied")
    lam = client(server, admin, "lambda")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="denied-fn")
    assert made_roles(server, admin, "denied-fn") == []


def test_a_role_made_for_a_function_that_is_not_created_is_deleted_again(page, server, admin, world):
    sign_in(page, server.url, world["no-attach"])
    page.wait_for_url("**/console/functions")
    create_function(page, server.url, "half-fn")
    alert = page.get_by_role("alert")
    alert.wait_for()
    text = alert.inner_text()
    assert "user/no-attach is not authorized to perform: iam:AttachRolePolicy" in text
    assert re.search(r"The role half-fn-role-[a-z0-9]{8} created for it was deleted\.", text)
    lam = client(server, admin, "lambda")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="half-fn")
    assert made_roles(server, admin, "half-fn") == []
