"""Whether a policy's `Principal` names a caller, and whether a role's trust policy lets a principal
assume it: the small, pure part of policy matching that STS AssumeRole and CreateFunction's role
check need (the full evaluator, with conditions, is the authorization package's).

A caller is described by the identifiers a Principal element may name it by (`identifiers`): its
own ARN, for an assumed-role session also the role's ARN, and its account (`ACCOUNT` or
`arn:aws:iam::ACCOUNT:root`, which name every principal of the account); a service by its name
(`lambda.amazonaws.com`). Imports nothing from lamina.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from lamina.policy_documents import statements


def identifiers(account_id: str, arn: str, role_arn: str | None = None) -> frozenset[str]:
    """What an `"AWS"` principal element may name the caller by."""
    names = {arn, account_id, f"arn:aws:iam::{account_id}:root"}
    if role_arn:
        names.add(role_arn)
    return frozenset(names)


def _values(element: object) -> list[str]:
    return element if isinstance(element, list) else [element]


def names(principal: object, aws: frozenset[str], service: str | None = None) -> bool:
    """Whether a `Principal` element names the caller (`aws` identifiers) or the `service`."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    if service is not None:
        return service in _values(principal.get("Service", []))
    return any(value == "*" or value in aws for value in _values(principal.get("AWS", [])))


def _action_matches(statement: dict, action: str) -> bool:
    if "Action" in statement:
        return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in _values(statement["Action"]))
    return not any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in _values(statement["NotAction"]))


def trusts(document: dict, aws: frozenset[str] = frozenset(), service: str | None = None,
           action: str = "sts:AssumeRole", conditions_hold: Callable[[dict], bool] | None = None) -> bool:
    """Whether a trust policy lets the caller (`aws` identifiers, or a `service`) perform `action`:
    an Allow statement names it and no Deny statement does. A statement with a Condition counts
    only when `conditions_hold(condition_block)` says so (the policy evaluator's job); without that
    callable such statements are not matched."""
    allowed = False
    for statement in statements(document):
        if not _action_matches(statement, action):
            continue
        if "Condition" in statement and (conditions_hold is None or not conditions_hold(statement["Condition"])):
            continue
        if "Principal" in statement:
            named = names(statement["Principal"], aws, service)
        else:
            named = not names(statement.get("NotPrincipal"), aws, service)
        if named and statement.get("Effect") == "Deny":
            return False
        allowed = allowed or (named and statement.get("Effect") == "Allow")
    return allowed
