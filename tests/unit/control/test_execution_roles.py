"""lamina.control.execution_roles.ExecutionRoles: the session Lambda assumes for a mapping's role,
and which role a mapping's function runs with."""

from types import SimpleNamespace

import pytest

from lamina.control.execution_roles import ExecutionRoles
from lamina.identity import ASSUMED_ROLE

ACCOUNT = "123456789012"


class Authorizer:
    def __init__(self):
        self.asked = []

    def role_allows(self, session, action, resource):
        self.asked.append((session, action, resource))
        return session.role_name == "reader"


class Store:
    versions = {("f", "$LATEST"): SimpleNamespace(role="arn:aws:iam::123456789012:role/latest"),
                ("f", "live"): SimpleNamespace(role="arn:aws:iam::123456789012:role/live")}

    def get_version(self, name, qualifier):
        return self.versions.get((name, qualifier))


@pytest.mark.parametrize(("role_arn", "allowed", "asked"), [
    (f"arn:aws:iam::{ACCOUNT}:role/reader", True, True),
    (f"arn:aws:iam::{ACCOUNT}:role/service-role/reader", True, True),
    (f"arn:aws:iam::{ACCOUNT}:role/writer", False, True),
    ("arn:aws:iam::999999999999:role/reader", False, False),  # another account's role: never assumed here
    ("not-an-arn", False, False),
])
def test_may_asks_the_authorizer_as_lambdas_session_of_the_role(role_arn, allowed, asked):
    authorizer = Authorizer()
    roles = ExecutionRoles(Store(), authorizer, ACCOUNT)
    assert roles.may(role_arn, "sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:123456789012:q") is allowed
    assert bool(authorizer.asked) is asked
    if asked:
        session, action, resource = authorizer.asked[0]
        assert (session.kind, session.account_id, session.session_name) == (ASSUMED_ROLE, ACCOUNT, "lamina-event-source")
        assert session.principal_arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/{session.role_name}/lamina-event-source"
        assert (action, resource) == ("sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:123456789012:q")


@pytest.mark.parametrize(("name", "qualifier", "role"), [
    ("f", None, "arn:aws:iam::123456789012:role/latest"),
    ("f", "live", "arn:aws:iam::123456789012:role/live"),
    ("f", "gone", "arn:aws:iam::123456789012:role/latest"),  # an unknown qualifier: $LATEST's
    ("nobody", None, ""),
])
def test_of_names_the_role_of_the_version_else_latest(name, qualifier, role):
    assert ExecutionRoles(Store(), Authorizer(), ACCOUNT).of(name, qualifier) == role
