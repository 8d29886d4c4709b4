"""Every blueprint deploys and answers its default test event on a real server (boto3)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lamina import blueprints
from support import ROLE

EXPECTED = {
    "hello-world-python": lambda out: out == {"statusCode": 200, "body": '"Hello from Lambda!"'},
    "hello-world-nodejs": lambda out: out == {"statusCode": 200, "body": '"Hello from Lambda!"'},
    # the template's second message asks to fail: only it is reported
    "sqs-consumer-python": lambda out: out == {"batchItemFailures": [{"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"}]},
    "stream-processor-python": lambda out: out == {"batchItemFailures": []},
    "http-api-python": lambda out: out["statusCode"] == 200 and json.loads(out["body"]) == {"message": "hello, you"},
    "scheduled-job-python": lambda out: "ranAt" in out,
    "s3-object-processor-python": lambda out: out == {"processed": ["example-bucket/test/key"]},
    "custom-runtime-shell": lambda out: out == {"echo": {"key1": "value1"}},
}


def test_every_blueprint_has_an_expectation():
    assert set(EXPECTED) == {b.name for b in blueprints.all_blueprints()}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_blueprint_deploys_and_answers_its_default_event(lam, name):
    blueprint = blueprints.get(name)
    function = f"bp-{name}"[:64]
    lam.create_function(FunctionName=function, Runtime=blueprint.runtime, Handler=blueprint.handler, Role=ROLE,
                        Code={"ZipFile": blueprint.zip()})
    lam.get_waiter("function_active_v2").wait(FunctionName=function)
    answer = lam.invoke(FunctionName=function, Payload=json.dumps(blueprint.event).encode(), LogType="Tail")
    payload = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, payload
    assert EXPECTED[name](payload), payload


def test_lamina_init_writes_a_blueprint(tmp_path):
    run = subprocess.run([sys.executable, "-m", "lamina.cli", "init", "--blueprint", "hello-world-python",
                          str(tmp_path / "fn")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in (tmp_path / "fn").iterdir()) == ["blueprint.json", "event.json",
                                                                   "lambda_function.py"]
    again = subprocess.run([sys.executable, "-m", "lamina.cli", "init", "--blueprint", "hello-world-python",
                            str(tmp_path / "fn")], capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "already has" in again.stderr
    listing = subprocess.run([sys.executable, "-m", "lamina.cli", "init"], capture_output=True, text=True, timeout=60)
    assert "sqs-consumer-python" in listing.stdout
