"""iam:PassRole with `--auth sigv4`, through boto3 and the console with keys lamina issued: a caller
allowed lambda:CreateFunction must also be allowed to pass the function's role to
lambda.amazonaws.com (CreateFunction, UpdateFunctionConfiguration's Role, an EventBridge RoleArn
likewise to events.amazonaws.com), and a refused call leaves nothing behind."""

from __future__ import annotations

import contextlib

import httpx
import pytest
from botocore.exceptions import ClientError

from support import LAMBDA_TRUST as TRUST
from support import Keys, make_zip, policy

FULL_ACCESS = "arn:aws:iam::aws:policy/AWSLambda_FullAccess"
CODE = make_zip({"app.py": "def handler(e, c):\n    return 'hi'\n"})
# Everything a deployer needs but iam:PassRole.
DEPLOY = {"Effect": "Allow", "Action": ["lambda:CreateFunction", "lambda:UpdateFunctionConfiguration",
                                        "lambda:GetFunction", "lambda:GetFunctionConfiguration",
                                        "lambda:ListFunctions", "events:PutRule", "events:PutTargets"],
          "Resource": "*"}


@pytest.fixture(scope="module")
def world(admin):
    iam = admin.client("iam")
    roles = {name: iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
             for name in ("app-role", "powerful-role")}
    return {"account": admin.client("sts").get_caller_identity()["Account"], **roles}


def user(admin: Keys, name: str, *statements, attach: tuple[str, ...] = ()) -> Keys:
    iam = admin.client("iam")
    iam.create_user(UserName=name)
    for arn in attach:
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Keys(admin.url, key["AccessKeyId"], key["SecretAccessKey"])


def create(keys: Keys, name: str, role: str) -> dict:
    return keys.client("lambda").create_function(FunctionName=name, Runtime="python3.12", Role=role,
                                                 Handler="app.handler", Code={"ZipFile": CODE})


def refusal(call, *args, **kwargs) -> dict:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    return info.value.response


def exists(admin: Keys, name: str) -> bool:
    return name in [f["FunctionName"] for f in admin.client("lambda").list_functions()["Functions"]]


def pass_role_denial(account: str, who: str, role: str) -> str:
    return (f"User: arn:aws:iam::{account}:user/{who} is not authorized to perform: iam:PassRole on resource: "
            f"{role} because no identity-based policy allows the iam:PassRole action")


def test_create_function_without_pass_role_is_refused_and_creates_nothing(admin, world):
    deployer = user(admin, "no-pass", DEPLOY)
    response = refusal(create, deployer, "unpassed", world["app-role"])
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Code"] == "AccessDeniedException"
    assert response["Error"]["Message"] == pass_role_denial(world["account"], "no-pass", world["app-role"])
    assert not exists(admin, "unpassed")


def test_pass_role_on_that_role_only(admin, world):
    deployer = user(admin, "pass-app", DEPLOY, {"Effect": "Allow", "Action": "iam:PassRole",
                                                "Resource": world["app-role"]})
    assert create(deployer, "passed", world["app-role"])["Role"] == world["app-role"]
    response = refusal(create, deployer, "escalated", world["powerful-role"])
    assert response["Error"]["Message"] == pass_role_denial(world["account"], "pass-app", world["powerful-role"])
    assert not exists(admin, "escalated")
    # Changing the function's role is passing the new one; other changes pass nothing.
    lam = deployer.client("lambda")
    lam.get_waiter("function_active_v2").wait(FunctionName="passed")
    response = refusal(lam.update_function_configuration, FunctionName="passed", Role=world["powerful-role"])
    assert (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]) == (403, "AccessDeniedException")
    assert response["Error"]["Message"] == pass_role_denial(world["account"], "pass-app", world["powerful-role"])
    assert lam.get_function_configuration(FunctionName="passed")["Role"] == world["app-role"]
    assert lam.update_function_configuration(FunctionName="passed", MemorySize=256)["MemorySize"] == 256
    lam.get_waiter("function_updated_v2").wait(FunctionName="passed")
    assert lam.update_function_configuration(FunctionName="passed", Role=world["app-role"])["Role"] == \
        world["app-role"]


def test_lambda_full_access_passes_roles_to_lambda(admin, world):
    full = user(admin, "full", attach=(FULL_ACCESS,))
    assert create(full, "full-made", world["powerful-role"])["Role"] == world["powerful-role"]
    lam = full.client("lambda")
    lam.get_waiter("function_active_v2").wait(FunctionName="full-made")
    assert lam.update_function_configuration(FunctionName="full-made", Role=world["app-role"])["Role"] == \
        world["app-role"]
    # ... and to nobody else: a user who may also put any rule may not hand EventBridge a role.
    rules = user(admin, "full-events", {"Effect": "Allow", "Action": "events:*", "Resource": "*"},
                 attach=(FULL_ACCESS,))
    response = refusal(rules.client("events").put_rule, Name="with-role", ScheduleExpression="rate(1 hour)",
                       RoleArn=world["app-role"])
    assert response["Error"]["Message"] == pass_role_denial(world["account"], "full-events", world["app-role"])
    assert "with-role" not in [r["Name"] for r in admin.client("events").list_rules()["Rules"]]


def test_pass_role_for_another_service_does_not_pass_it_to_lambda(admin, world):
    ec2_only = user(admin, "pass-ec2", DEPLOY, {
        "Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
        "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}})
    response = refusal(create, ec2_only, "ec2-only", world["app-role"])
    assert response["Error"]["Message"] == pass_role_denial(world["account"], "pass-ec2", world["app-role"])
    assert not exists(admin, "ec2-only")
    lambda_only = user(admin, "pass-lambda", DEPLOY, {
        "Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
        "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"},
                      "ArnLike": {"iam:AssociatedResourceARN": "arn:aws:lambda:*:*:function:team-*"}}})
    assert create(lambda_only, "team-fn", world["app-role"])["FunctionName"] == "team-fn"
    response = refusal(create, lambda_only, "other-fn", world["app-role"])
    assert response["Error"]["Message"] == pass_role_denial(world["account"], "pass-lambda", world["app-role"])
    # EventBridge targets with a RoleArn pass it to events.amazonaws.com (a JSON 1.1 denial: 400).
    events = lambda_only.client("events")
    events.put_rule(Name="hourly", ScheduleExpression="rate(1 hour)")
    function_arn = admin.client("lambda").get_function(FunctionName="team-fn")["Configuration"]["FunctionArn"]
    response = refusal(events.put_targets, Rule="hourly",
                       Targets=[{"Id": "t", "Arn": function_arn, "RoleArn": world["app-role"]}])
    assert (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]) == (400, "AccessDeniedException")
    assert response["Error"]["Message"] == pass_role_denial(world["account"], "pass-lambda", world["app-role"])
    assert admin.client("events").list_targets_by_rule(Rule="hourly")["Targets"] == []
    assert events.put_targets(Rule="hourly", Targets=[{"Id": "t", "Arn": function_arn}])["FailedEntryCount"] == 0


def test_the_console_creates_functions_as_a_user_who_may_pass_the_role(signed, admin, world):
    @contextlib.contextmanager
    def signed_in(keys: Keys):
        with httpx.Client(base_url=signed.url, timeout=60) as client:
            answer = client.post("/console/signin", data={"access_key_id": keys.key_id,
                                                          "secret_access_key": keys.secret})
            assert answer.status_code == 303
            yield client

    form = {"mode": "scratch", "runtime": "python3.12", "architecture": "x86_64", "role_mode": "existing",
            "role": world["app-role"]}
    allowed = user(admin, "console-full", attach=(FULL_ACCESS,))
    with signed_in(allowed) as console:
        made = console.post("/console/create", data={**form, "name": "from-console"})
        assert made.status_code == 303 and made.headers["location"] == "/console/functions/from-console/code"
    assert admin.client("lambda").get_function(FunctionName="from-console")["Configuration"]["Role"] == \
        world["app-role"]
    refused = user(admin, "console-no-pass", DEPLOY)
    with signed_in(refused) as console:
        page = console.post("/console/create", data={**form, "name": "console-refused"})
        assert page.status_code == 400
        assert "AccessDeniedException" in page.text and "iam:PassRole on resource: " + world["app-role"] in page.text
        # Saving the general settings sends the role only when it was changed: passing it is refused,
        # keeping it asks nothing of iam:PassRole.
        admin.client("lambda").get_waiter("function_active_v2").wait(FunctionName="from-console")
        general = {"description": "", "memory": "256", "timeout": "10", "ephemeral": "512",
                   "handler": "lambda_function.lambda_handler", "shown_role": world["app-role"]}
        changed = console.post("/console/functions/from-console/configuration/general",
                               data={**general, "role": world["powerful-role"]})
        problem = httpx.URL(changed.headers["location"]).params["problem"]
        assert problem == "AccessDeniedException: " + pass_role_denial(world["account"], "console-no-pass",
                                                                        world["powerful-role"])
        kept = console.post("/console/functions/from-console/configuration/general",
                            data={**general, "role": world["app-role"]})
        assert "flash=Saved+general" in kept.headers["location"]
    config = admin.client("lambda").get_function_configuration(FunctionName="from-console")
    assert (config["Role"], config["MemorySize"]) == (world["app-role"], 256)
    assert not exists(admin, "console-refused")
