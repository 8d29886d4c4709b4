"""Policy documents as IAM accepts them, trust-policy principal matching and sealed session tokens."""

from __future__ import annotations

import json

import pytest

from lamina import policy_documents, principals
from lamina.tokens import TokenError, Tokens

ACCOUNT = "123456789012"
LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def doc(*statements, version="2012-10-17"):
    return json.dumps({"Version": version, "Statement": list(statements)})


ALLOW = {"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "This policy contains invalid Json"),
    ("[]", "This policy contains invalid Json"),
    (doc(ALLOW, version="2013-01-01"), "The policy failed legacy parsing"),
    (json.dumps({"Version": "2012-10-17"}), "Syntax errors in policy."),
    (doc({"Effect": "Maybe", "Action": "a:b", "Resource": "*"}), "Syntax errors in policy."),
    (doc({"Effect": "Allow", "Resource": "*"}), "Policy statement must contain actions."),
    (doc({"Effect": "Allow", "Action": "a:b"}), "Policy statement must contain resources."),
    (doc({**ALLOW, "Principal": "*"}), "Policy document should not specify a principal."),
    (doc({**ALLOW, "Extra": 1}), "Syntax errors in policy."),
    (doc({"Effect": "Allow", "Action": [], "Resource": "*"}), "Syntax errors in policy."),
])
def test_malformed_identity_policies(text, message):
    with pytest.raises(policy_documents.Malformed) as caught:
        policy_documents.identity_policy(text)
    assert caught.value.message == message


def test_identity_policy_forms_accepted():
    for statement in (ALLOW, {"Effect": "Deny", "NotAction": ["iam:*"], "NotResource": "arn:aws:iam::*:*"},
                      {**ALLOW, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, "Sid": "x"}):
        assert policy_documents.identity_policy(doc(statement))["Statement"] == [statement]
    single = json.dumps({"Version": "2012-10-17", "Statement": ALLOW})  # one statement as an object
    assert policy_documents.statements(policy_documents.identity_policy(single)) == [ALLOW]


@pytest.mark.parametrize(("statement", "message"), [
    ({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole",
      "Resource": "*"}, "Has prohibited field Resource"),
    ({"Effect": "Allow", "Action": "sts:AssumeRole"}, "Missing required field Principal"),
    ({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123:user/x"}, "Action": "sts:AssumeRole"},
     'Invalid principal in policy: "AWS":"arn:aws:iam::123:user/x"'),
    ({"Effect": "Allow", "Principal": {"Service": "not a service"}, "Action": "sts:AssumeRole"},
     'Invalid principal in policy: "Service":"not a service"'),
    ({"Effect": "Allow", "Principal": {"STAR": "*"}, "Action": "sts:AssumeRole"},
     'Invalid principal in policy: "STAR":"*"'),
])
def test_malformed_trust_policies(statement, message):
    with pytest.raises(policy_documents.Malformed) as caught:
        policy_documents.trust_policy(doc(statement))
    assert caught.value.message == message


ADMIN = principals.identifiers(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/admin")
SESSION = principals.identifiers(ACCOUNT, f"arn:aws:sts::{ACCOUNT}:assumed-role/ops/s",
                                 f"arn:aws:iam::{ACCOUNT}:role/ops")


def trust(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


@pytest.mark.parametrize(("document", "aws", "service", "trusted"), [
    (LAMBDA_TRUST, frozenset(), "lambda.amazonaws.com", True),
    (LAMBDA_TRUST, frozenset(), "ec2.amazonaws.com", False),
    (LAMBDA_TRUST, ADMIN, None, False),
    (trust({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}), ADMIN, None, True),
    (trust({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:*"}),
     SESSION, None, True),
    (trust({"Effect": "Allow", "Principal": {"AWS": [f"arn:aws:iam::{ACCOUNT}:role/ops"]},
            "Action": ["sts:AssumeRole"]}), SESSION, None, True),
    (trust({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"}, "Action": "sts:AssumeRole"}),
     ADMIN, None, False),
    (trust({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}), ADMIN, None, True),
    (trust({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
           {"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/admin"}, "Action": "sts:AssumeRole"}),
     ADMIN, None, False),
    (trust({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:TagSession"}), ADMIN, None, False),
    (trust({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "x"}}}), ADMIN, None, False),
    (trust({"Effect": "Allow", "Principal": {"AWS": "*"}, "NotAction": "sts:TagSession"}), ADMIN, None, True),
])
def test_trust_policies(document, aws, service, trusted):
    assert principals.trusts(document, aws, service) is trusted


@pytest.mark.parametrize(("principal", "named"), [
    ({"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"}, [("user", "bob", f"arn:aws:iam::{ACCOUNT}:user/bob")]),
    ({"AWS": [f"arn:aws:iam::{ACCOUNT}:role/svc/ops", ACCOUNT, "*"]},
     [("role", "ops", f"arn:aws:iam::{ACCOUNT}:role/svc/ops")]),
    ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, []),
    ({"AWS": "arn:aws:iam::111122223333:user/bob"}, []),  # another account's: not checked here
    ({"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/ops/s"}, []),
    ({"Service": "lambda.amazonaws.com"}, []),
    ("*", []),
])
def test_the_users_and_roles_a_trust_policy_names(principal, named):
    document = trust({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"})
    assert policy_documents.entities_named(document, ACCOUNT) == named
    not_principal = trust({"Effect": "Deny", "NotPrincipal": principal, "Action": "sts:AssumeRole"})
    assert policy_documents.entities_named(not_principal, ACCOUNT) == named


def test_tokens_round_trip_and_refuse_forgeries():
    tokens = Tokens(b"k" * 32)
    key_id, secret, token, session = tokens.mint(ACCOUNT, "ops", "AROAEXAMPLE", "alice", 1_900_000_000)
    assert key_id.startswith("ASIA") and len(key_id) == 20 and len(secret) == 40
    assert tokens.open(token) == session
    assert tokens.secret(token) == secret
    assert (session.role_name, session.session_name, session.expiration) == ("ops", "alice", 1_900_000_000.0)
    for forged in (token + "x", "x" + token, token.replace(".", ""), "", "a.b"):
        with pytest.raises(TokenError):
            tokens.open(forged)
    with pytest.raises(TokenError):  # another master key
        Tokens(b"j" * 32).open(token)


def test_links_work_until_they_expire_and_only_for_their_path():
    tokens = Tokens(b"k" * 32)
    query = tokens.link("/_lamina/code/ab.zip", 1000)
    assert tokens.link_valid("/_lamina/code/ab.zip", query, 999)
    assert not tokens.link_valid("/_lamina/code/ab.zip", query, 1001)
    assert not tokens.link_valid("/_lamina/code/cd.zip", query, 999)
    assert not tokens.link_valid("/_lamina/code/ab.zip", query.replace("1000", "2000"), 999)
    assert not tokens.link_valid("/_lamina/code/ab.zip", "", 0)


def test_conditions_count_when_the_evaluator_says_they_hold():
    document = trust({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole",
                      "Condition": {"StringEquals": {"sts:ExternalId": "x"}}})
    assert principals.trusts(document, ADMIN, conditions_hold=lambda block: True)
    assert not principals.trusts(document, ADMIN, conditions_hold=lambda block: False)
