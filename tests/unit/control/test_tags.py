"""lamina.control.tags: which Resource ARNs name a taggable function."""

import pytest

from lamina.control.tags import _qualified

REGION, ACCOUNT = "us-east-1", "000000000000"
ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"


@pytest.mark.parametrize(("resource", "qualified"), [
    (ARN, False),
    (f"{ARN}:1", True),
    (f"{ARN}:live", True),
    (f"{ARN}:$LATEST", True),
    ("f:1", False),  # not an ARN: tagged_function_name refuses it with its own message
    (f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:f:1", False),  # another region: not found, as before
])
def test_qualified_arns(resource, qualified):
    assert _qualified(resource, REGION, ACCOUNT) is qualified
