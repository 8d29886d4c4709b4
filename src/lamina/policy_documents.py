"""IAM policy documents as IAM accepts them: parsing and the grammar checks of identity policies
(inline and managed) and of role trust policies, with AWS's MalformedPolicyDocument texts.

Pure functions: `identity_policy(text)` and `trust_policy(text)` return the parsed document or raise
`Malformed(message)`. The policy evaluator (authorization) reads the documents these accept.
Imports nothing from lamina.
"""

from __future__ import annotations

import json
import re

VERSIONS = ("2012-10-17", "2008-10-17")
EFFECTS = ("Allow", "Deny")
INVALID_JSON = "This policy contains invalid Json"
SYNTAX = "Syntax errors in policy."
_ACCOUNT = re.compile(r"\d{12}")
_AWS_PRINCIPAL = re.compile(
    r"arn:aws:(?:iam::(?:\d{12}|aws):(?:root|user/.+|role/.+|federated-user/.+)|sts::\d{12}:assumed-role/.+/.+)")
_OWN_ENTITY = re.compile(r"arn:aws:iam::(?P<account>\d{12}):(?P<kind>user|role)/(?:.*/)?(?P<name>[^/]+)")
_SERVICE = re.compile(r"[a-z0-9.-]+\.amazonaws\.com(?:\.cn)?|[a-z0-9.-]+\.amazon\.com")


class Malformed(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _load(text: str) -> dict:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise Malformed(INVALID_JSON) from None
    if not isinstance(document, dict):
        raise Malformed(INVALID_JSON)
    unknown = set(document) - {"Version", "Id", "Statement"}
    if unknown:
        raise Malformed(SYNTAX)
    if "Version" in document and document["Version"] not in VERSIONS:
        raise Malformed("The policy failed legacy parsing")
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements or not all(isinstance(s, dict) for s in statements):
        raise Malformed(SYNTAX)
    return document


def statements(document: dict) -> list[dict]:
    found = document.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def _strings(value: object) -> bool:
    items = value if isinstance(value, list) else [value]
    return bool(items) and all(isinstance(item, str) and item for item in items)


def _check_common(statement: dict) -> None:
    if statement.get("Effect") not in EFFECTS:
        raise Malformed(SYNTAX)
    if ("Action" in statement) == ("NotAction" in statement):
        raise Malformed("Policy statement must contain actions.")
    if not _strings(statement.get("Action", statement.get("NotAction"))):
        raise Malformed(SYNTAX)
    if "Condition" in statement and not isinstance(statement["Condition"], dict):
        raise Malformed(SYNTAX)
    if "Sid" in statement and not isinstance(statement["Sid"], str):
        raise Malformed(SYNTAX)


def identity_policy(text: str) -> dict:
    """An inline or managed policy: statements with actions and resources and no principal."""
    document = _load(text)
    for statement in statements(document):
        if set(statement) - {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}:
            if "Principal" in statement or "NotPrincipal" in statement:
                raise Malformed("Policy document should not specify a principal.")
            raise Malformed(SYNTAX)
        _check_common(statement)
        if ("Resource" in statement) == ("NotResource" in statement):
            raise Malformed("Policy statement must contain resources.")
        if not _strings(statement.get("Resource", statement.get("NotResource"))):
            raise Malformed(SYNTAX)
    return document


def trust_policy(text: str) -> dict:
    """A role's assume-role policy: statements naming principals, with no resource."""
    document = _load(text)
    for statement in statements(document):
        if "Resource" in statement or "NotResource" in statement:
            raise Malformed(f"Has prohibited field {'Resource' if 'Resource' in statement else 'NotResource'}")
        if set(statement) - {"Sid", "Effect", "Action", "NotAction", "Principal", "NotPrincipal", "Condition"}:
            raise Malformed(SYNTAX)
        _check_common(statement)
        if "Principal" not in statement and "NotPrincipal" not in statement:
            raise Malformed("Missing required field Principal")
        _check_principal(statement.get("Principal", statement.get("NotPrincipal")))
    return document


def entities_named(document: dict, account_id: str) -> list[tuple[str, str, str]]:
    """The users and roles of `account_id` a trust policy names by ARN as AWS principals: (kind
    "user" or "role", name, the ARN as written). IAM refuses a policy naming one that does not
    exist (`Invalid principal in policy`); an account, `*` or another account's entity it cannot
    check here."""
    named = []
    for statement in statements(document):
        principal = statement.get("Principal", statement.get("NotPrincipal"))
        values = principal.get("AWS", []) if isinstance(principal, dict) else []
        for value in values if isinstance(values, list) else [values]:
            match = _OWN_ENTITY.fullmatch(value)
            if match is not None and match["account"] == account_id:
                named.append((match["kind"], match["name"], value))
    return named


def _check_principal(principal: object) -> None:
    if principal == "*":
        return
    if not isinstance(principal, dict) or not principal:
        raise Malformed(SYNTAX)
    for kind, values in principal.items():
        for value in values if isinstance(values, list) else [values]:
            if not isinstance(value, str):
                raise Malformed(SYNTAX)
            valid = {
                "AWS": value == "*" or _ACCOUNT.fullmatch(value) or _AWS_PRINCIPAL.fullmatch(value),
                "Service": _SERVICE.fullmatch(value),
                "Federated": bool(value),
                "CanonicalUser": bool(value),
            }.get(kind)
            if kind not in ("AWS", "Service", "Federated", "CanonicalUser"):
                raise Malformed(f'Invalid principal in policy: "{kind}":"{value}"')
            if not valid:
                raise Malformed(f'Invalid principal in policy: "{kind}":"{value}"')
