"""The seed's aws CLI walk-through, verbatim, in a shell against a real lamina: create the execution role,
attach AWSLambdaBasicExecutionRole, create the function from a zip, invoke with the log tail decoded by
base64, list functions ten at a time, get the function, delete it. AWS CLI v2 (Debian's awscli, which
.ci/run installs): the seed's commands use its syntax."""  # noqa: E501

from __future__ import annotations

import os
import subprocess
import zipfile

import pytest

AWS_V2 = "/usr/bin/aws"
TRUST_POLICY = """{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {
        "Service": "lambda.amazonaws.com"
      },
      "Action": "sts:AssumeRole"
    }
  ]
}
"""
SEED = """\
set -euo pipefail
# Debian's AWS CLI (2.9) predates AWS_ENDPOINT_URL (2.13): the endpoint goes on every call, commands unchanged.
aws() { command aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }
aws iam create-role --role-name lambda-ex --assume-role-policy-document file://trust-policy.json
aws iam attach-role-policy --role-name lambda-ex --policy-arn arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole
aws lambda create-function --function-name my-function \\
  --zip-file fileb://function.zip --handler index.handler --runtime python3.12 \\
  --role arn:aws:iam::000000000000:role/lambda-ex
aws lambda wait function-active-v2 --function-name my-function
echo "--- tail"
aws lambda invoke --function-name my-function out --log-type Tail \\
  --query 'LogResult' --output text | base64 -d
echo "--- out"
cat out
echo
echo "--- list"
aws lambda list-functions --max-items 10 --query 'Functions[].FunctionName' --output text
aws lambda get-function --function-name my-function --query 'Configuration.Role' --output text
aws lambda delete-function --function-name my-function
echo "--- deleted"
"""


@pytest.mark.skipif(not os.path.exists(AWS_V2) and not os.environ.get("CI"),
                    reason="needs the AWS CLI v2 (Debian: apt-get install awscli; .ci/run installs it)")
def test_the_seed_walkthrough_runs_verbatim(lamina, tmp_path):
    (tmp_path / "trust-policy.json").write_text(TRUST_POLICY)
    with zipfile.ZipFile(tmp_path / "function.zip", "w") as archive:
        archive.writestr("index.py", "import logging\n\ndef handler(event, context):\n"
                                     "    print('hello from the seed')\n    return {'statusCode': 200}\n")
    env = {**os.environ, "AWS_ENDPOINT_URL": lamina.url, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_PAGER": "",
           "PATH": f"{os.path.dirname(AWS_V2)}:{os.environ['PATH']}"}
    out = subprocess.run(["bash", "-c", SEED], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    tail = out.stdout.split("--- tail")[1].split("--- out")[0]
    assert "START RequestId:" in tail and "hello from the seed" in tail and "REPORT RequestId:" in tail
    assert '"statusCode": 200' in out.stdout.split("--- out")[1]
    assert "my-function" in out.stdout.split("--- list")[1]
    assert "arn:aws:iam::000000000000:role/lambda-ex" in out.stdout
    assert "--- deleted" in out.stdout
