"""AWS's policy evaluation logic for one request (IAM user guide, policy evaluation logic).

`evaluate(request, identity_policies, resource_policy) -> Decision`:
1. a matching Deny in any policy: explicitly denied (identity-based first, then resource-based);
2. same account: an Allow in an identity policy, or an Allow in the resource policy naming the
   caller itself (its user or role ARN, its session ARN, or `*`) allows; a resource grant to the
   caller's *account* only delegates to the account's identity policies;
3. another account: both sides must allow (the resource policy naming the caller, or its
   account, and the caller's identity policies in its own account);
4. a service principal (events.amazonaws.com ...) and an anonymous caller (a public function URL)
   have no identity policies: only the resource policy can allow them (naming them, or `*`);
5. anything else is an implicit deny.
An account's root user is allowed everything its identity policies could grant. SCPs, permission
boundaries and session policies are not modelled (they only restrict). Imports lamina.authz only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from lamina.authz import conditions, matching
from lamina.authz.document import Policy, Statement

ALLOWED = "allowed"
EXPLICIT_DENY_IDENTITY = "explicit deny in an identity-based policy"
EXPLICIT_DENY_RESOURCE = "explicit deny in a resource-based policy"
NO_IDENTITY_ALLOW = "no identity-based policy allows"
NO_RESOURCE_ALLOW = "no resource-based policy allows"


@dataclass(frozen=True)
class Principal:
    """Who makes the request. `arn` is a user, assumed-role session or root ARN (or, for a
    service principal, the service name with `service` set); `role_arn` is the role of a session."""

    arn: str
    account: str | None
    role_arn: str | None = None
    service: str | None = None

    @property
    def is_root(self) -> bool:
        return self.account is not None and self.arn == f"arn:aws:iam::{self.account}:root"


@dataclass(frozen=True)
class Request:
    principal: Principal
    action: str  # "lambda:InvokeFunction"
    resource: str  # the ARN addressed, or "*"
    resource_account: str
    context: Mapping[str, object] = field(default_factory=dict)  # condition keys, lower-cased


class Decision(NamedTuple):
    allowed: bool
    reason: str  # ALLOWED or one of the denial reasons above


def _any_glob(patterns: tuple[str, ...], value: str, *, ignore_case: bool) -> bool:
    return any(matching.glob(p, value, ignore_case=ignore_case) for p in patterns)


def _resource_hit(patterns: tuple[str, ...], resource: str, context: Mapping[str, object], variables: bool) -> bool:
    for pattern in patterns:
        if variables:
            pattern = matching.substitute(pattern, context)
            if pattern is None:
                continue
        if matching.resource_matches(pattern, resource):
            return True
    return False


def statement_applies(statement: Statement, request: Request, *, variables: bool = True) -> bool:
    """Action, resource and condition of one statement (the principal is the caller's concern)."""
    if statement.actions is not None:
        if not _any_glob(statement.actions, request.action, ignore_case=True):
            return False
    elif statement.not_actions is not None and _any_glob(statement.not_actions, request.action, ignore_case=True):
        return False
    if statement.resources is not None:
        if not _resource_hit(statement.resources, request.resource, request.context, variables):
            return False
    elif statement.not_resources is not None and _resource_hit(statement.not_resources, request.resource,
                                                               request.context, variables):
        return False
    return conditions.test_all(statement.conditions, request.context, variables=variables)


# -- principals -------------------------------------------------------------------------------
DIRECT = "direct"
ACCOUNT = "account"


def _aws_principal(value: str, principal: Principal) -> str | None:
    if principal.service is not None:
        return DIRECT if value == "*" else None
    if value == "*":
        return DIRECT
    if value.isdigit() and len(value) == 12:
        value = f"arn:aws:iam::{value}:root"
    if principal.account is not None and value == f"arn:aws:iam::{principal.account}:root":
        return DIRECT if principal.is_root else ACCOUNT
    if value == principal.arn or (principal.role_arn is not None and _same_role(value, principal.role_arn)):
        return DIRECT
    return None


def _same_role(value: str, role_arn: str) -> bool:
    """Whether a role ARN names the session's role: role names are unique in an account whatever
    their path, and a session ARN drops the path (so `role_arn` may lack it)."""
    if value == role_arn:
        return True
    account_prefix = role_arn.split(":role/", 1)[0] + ":role/"
    return value.startswith(account_prefix) and value.rsplit("/", 1)[-1] == role_arn.rsplit("/", 1)[-1]


def principal_match(names: dict[str, tuple[str, ...]], principal: Principal) -> str | None:
    """How a Principal element names the caller: DIRECT, ACCOUNT (its account) or None."""
    if "*" in names:
        return DIRECT
    best = None
    for value in names.get("AWS", ()):
        hit = _aws_principal(value, principal)
        if hit == DIRECT:
            return DIRECT
        best = best or hit
    if principal.service is not None and principal.service in names.get("Service", ()):
        return DIRECT
    return best


def _resource_statement_match(statement: Statement, principal: Principal) -> str | None:
    if statement.principal is not None:
        return principal_match(statement.principal, principal)
    if statement.not_principal is not None:
        return None if principal_match(statement.not_principal, principal) == DIRECT else DIRECT
    return None


# -- the decision -----------------------------------------------------------------------------
def evaluate(request: Request, identity_policies: Sequence[Policy], resource_policy: Policy | None) -> Decision:
    principal = request.principal
    identity_allow = principal.is_root
    for policy in identity_policies:
        for statement in policy.statements:
            if statement_applies(statement, request, variables=policy.variables):
                if statement.effect == "Deny":
                    return Decision(False, EXPLICIT_DENY_IDENTITY)
                identity_allow = True
    resource_direct = resource_account = False
    if resource_policy is not None:
        for statement in resource_policy.statements:
            hit = _resource_statement_match(statement, principal)
            if hit is None or not statement_applies(statement, request, variables=resource_policy.variables):
                continue
            if statement.effect == "Deny":
                return Decision(False, EXPLICIT_DENY_RESOURCE)
            resource_direct = resource_direct or hit == DIRECT
            resource_account = resource_account or hit == ACCOUNT
    if principal.service is not None or principal.account is None:  # a service, or an anonymous caller
        return Decision(True, ALLOWED) if resource_direct else Decision(False, NO_RESOURCE_ALLOW)
    if principal.account == request.resource_account:
        if identity_allow or resource_direct:
            return Decision(True, ALLOWED)
        return Decision(False, NO_IDENTITY_ALLOW)
    if not (resource_direct or resource_account):
        return Decision(False, NO_RESOURCE_ALLOW)
    if not identity_allow:
        return Decision(False, NO_IDENTITY_ALLOW)
    return Decision(True, ALLOWED)
