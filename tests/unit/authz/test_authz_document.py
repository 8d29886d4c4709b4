"""Policy documents: what IAM accepts, and the MalformedPolicyDocument text of what it refuses."""

import json

import pytest

from lamina.authz.document import PolicyError, parse_policy

ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def doc(statement, **top):
    return json.dumps({"Version": "2012-10-17", "Statement": statement, **top})


ACCEPTED = [
    # (name, document, kind)
    ("statement list", json.dumps(ALLOW_ALL), "identity"),
    ("single statement object", doc({"Effect": "Deny", "Action": "lambda:*", "Resource": "*"}), "identity"),
    ("2008 version", json.dumps({"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*",
                                                                        "Resource": "*"}}), "identity"),
    ("no version", json.dumps({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}), "identity"),
    ("Id and Sid", doc([{"Sid": "A1", "Effect": "Allow", "Action": ["lambda:Get*", "lambda:List*"],
                         "Resource": "*"}], Id="default"), "identity"),
    ("NotAction NotResource", doc({"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::b"}),
     "identity"),
    ("condition", doc({"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*",
                       "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8"]},
                                     "ForAnyValue:StringLikeIfExists": {"lambda:Layer": "arn:*"},
                                     "Bool": {"aws:SecureTransport": True},
                                     "NumericLessThan": {"aws:EpochTime": 5}}}), "identity"),
    ("resource policy, service", doc({"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                                      "Action": "lambda:InvokeFunction",
                                      "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f"}), "resource"),
    ("resource policy, star", doc({"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl",
                                   "Resource": "*"}), "resource"),
    ("resource policy, NotPrincipal", doc({"Effect": "Deny", "NotPrincipal": {"AWS": ["111122223333"]},
                                           "Action": "lambda:*", "Resource": "*"}), "resource"),
    ("trust policy", doc({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                          "Action": "sts:AssumeRole"}), "trust"),
    ("action wildcard vendor", doc({"Effect": "Allow", "Action": "*:Get*", "Resource": "*"}), "identity"),
    ("variable resource", doc({"Effect": "Allow", "Action": "iam:*AccessKey*",
                               "Resource": "arn:aws:iam::*:user/${aws:username}"}), "identity"),
    ("dict input", ALLOW_ALL, "identity"),
]


@pytest.mark.parametrize("name,document,kind", ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_accepted(name, document, kind):
    policy = parse_policy(document, kind)
    assert policy.statements


REFUSED = [
    ("not json", "{oops", "any", "This policy contains invalid Json"),
    ("empty", "", "any", "This policy contains invalid Json"),
    ("array", "[]", "any", "Syntax errors in policy."),
    ("no statement", json.dumps({"Version": "2012-10-17"}), "any", "Syntax errors in policy."),
    ("empty statement list", doc([]), "any", "Syntax errors in policy."),
    ("bad version", json.dumps({"Version": "2012-10-18", "Statement": ALLOW_ALL["Statement"]}), "any",
     "Syntax errors in policy."),
    ("unknown top element", json.dumps({**ALLOW_ALL, "Extra": 1}), "any", "Syntax errors in policy."),
    ("unknown statement element", doc({"Effect": "Allow", "Action": "*", "Resource": "*", "Foo": 1}), "any",
     "Syntax errors in policy."),
    ("bad effect", doc({"Effect": "Permit", "Action": "*", "Resource": "*"}), "any", "Syntax errors in policy."),
    ("lower-case effect", doc({"Effect": "allow", "Action": "*", "Resource": "*"}), "any",
     "Syntax errors in policy."),
    ("no effect", doc({"Action": "*", "Resource": "*"}), "any", "Syntax errors in policy."),
    ("action and notaction", doc({"Effect": "Allow", "Action": "*", "NotAction": "s3:*", "Resource": "*"}), "any",
     "Syntax errors in policy."),
    ("action not a string", doc({"Effect": "Allow", "Action": 5, "Resource": "*"}), "any",
     "Syntax errors in policy."),
    ("no action", doc({"Effect": "Allow", "Resource": "*"}), "identity", "Policy statement must contain actions."),
    ("empty action list", doc({"Effect": "Allow", "Action": [], "Resource": "*"}), "identity",
     "Policy statement must contain actions."),
    ("no resource", doc({"Effect": "Allow", "Action": "s3:*"}), "identity",
     "Policy statement must contain resources."),
    ("action without vendor", doc({"Effect": "Allow", "Action": "InvokeFunction", "Resource": "*"}), "identity",
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    ("two colons", doc({"Effect": "Allow", "Action": "lambda:a:b", "Resource": "*"}), "identity",
     "Actions/Condition can contain only one colon."),
    ("bad vendor", doc({"Effect": "Allow", "Action": "lam bda:Get", "Resource": "*"}), "identity",
     "Vendor lam bda is not valid"),
    ("resource not arn", doc({"Effect": "Allow", "Action": "s3:*", "Resource": "not-an-arn"}), "identity",
     'Resource not-an-arn must be in ARN format or "*".'),
    ("principal in identity policy", doc({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}),
     "identity", "Policy document should not specify a principal."),
    ("resource policy without principal", doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}), "resource",
     "Missing required field Principal"),
    ("trust policy with resource", doc({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                        "Action": "sts:AssumeRole", "Resource": "*"}), "trust",
     "Has prohibited field Resource"),
    ("unknown principal kind", doc({"Effect": "Allow", "Principal": {"Robot": "x"}, "Action": "s3:*",
                                    "Resource": "*"}), "resource", "Syntax errors in policy."),
    ("unknown condition operator", doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                                        "Condition": {"StringSorta": {"aws:username": "x"}}}), "any",
     "Syntax errors in policy."),
    ("condition not an object", doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": []}),
     "any", "Syntax errors in policy."),
    ("duplicate sid", doc([{"Sid": "a", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                           {"Sid": "a", "Effect": "Deny", "Action": "s3:*", "Resource": "*"}]), "any",
     "Statement IDs (SID) in a single policy must be unique."),
]


@pytest.mark.parametrize("name,document,kind,reason", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused(name, document, kind, reason):
    with pytest.raises(PolicyError) as caught:
        parse_policy(document, kind)
    assert caught.value.reason == reason


def test_variables_only_from_2012():
    assert parse_policy(json.dumps(ALLOW_ALL)).variables
    assert not parse_policy(json.dumps({**ALLOW_ALL, "Version": "2008-10-17"})).variables


def test_every_aws_managed_policy_lamina_serves_is_readable_by_the_evaluator():
    from lamina.managed_policies import MANAGED_POLICIES

    policies = MANAGED_POLICIES.values() if isinstance(MANAGED_POLICIES, dict) else MANAGED_POLICIES
    documents = [p["Document"] for p in policies]
    assert documents
    for document in documents:
        assert parse_policy(document, "identity").statements
