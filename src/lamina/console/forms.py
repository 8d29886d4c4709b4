"""Form fields of the console's pages turned into API parameters, and back: pure functions.

Each `parse_*` returns the parameters or raises FormError with a message the page shows next to
the field; the API still validates everything (a form never decides what the server accepts).
"""

from __future__ import annotations

import json
import re
import secrets
import string
import urllib.parse

ROLE_SUFFIX = re.compile(r"[a-z0-9]{8}")
_ROLE_ALPHABET = string.ascii_lowercase + string.digits
_ROLE_NAME_MAX = 64


class FormError(ValueError):
    pass


def form_fields(body: bytes) -> dict[str, list[str]]:
    """An application/x-www-form-urlencoded body: name → values."""
    return urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def first(fields: dict[str, list[str]], name: str, default: str = "") -> str:
    values = fields.get(name)
    return values[0] if values else default


def parse_pairs(text: str, what: str) -> dict[str, str]:
    """`KEY=VALUE` lines (blank lines and `#` comments skipped) → a dict; FormError on a line
    without `=` or a key given twice."""
    pairs: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise FormError(f"{what}: line {number} is not KEY=VALUE.")
        if key in pairs:
            raise FormError(f"{what}: {key} is given twice.")
        pairs[key] = value.strip()
    return pairs


def format_pairs(pairs: dict[str, str] | None) -> str:
    return "".join(f"{k}={v}\n" for k, v in (pairs or {}).items())


def parse_int(text: str, what: str, *, optional: bool = False) -> int | None:
    text = text.strip()
    if not text and optional:
        return None
    try:
        return int(text)
    except ValueError:
        raise FormError(f"{what} must be a whole number.") from None


def parse_json(text: str, what: str) -> str:
    """JSON text, checked (the same text back); FormError when it is not JSON."""
    try:
        json.loads(text)
    except ValueError as error:
        raise FormError(f"{what} is not valid JSON: {error}") from None
    return text


def routing_weights(version: str, second: str, percent: str) -> dict[str, float] | None:
    """The alias RoutingConfig for the weighted-routing slider: `percent` of the traffic to `second`
    (a version other than the alias's); None when there is no second version or no traffic to it."""
    if not second:
        return None
    if second == version:
        raise FormError("The additional version must differ from the alias's version.")
    try:
        share = float(percent)
    except ValueError:
        raise FormError("The weight must be a number of percent.") from None
    if not 0 <= share < 100:
        raise FormError("The weight must be from 0 up to (not including) 100 percent.")
    if share == 0:
        return None
    return {second: round(share / 100, 4)}


def schedule_expression(minutes: int) -> str:
    """EventBridge's `rate(...)` for every `minutes` minutes (singular unit for 1, as EventBridge requires)."""
    if minutes < 1:
        raise FormError("Every (minutes) must be at least 1.")
    return "rate(1 minute)" if minutes == 1 else f"rate({minutes} minutes)"


def _sid(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", text)[:100]


def url_sid(qualifier: str) -> str:
    """The resource-policy statement id a public (AuthType NONE) function URL is granted under: the
    AWS console's, with the qualifier appended for an alias's URL."""
    return "FunctionURLAllowPublicAccess" + (f"-{_sid(qualifier)}" if qualifier else "")


def rule_sid(rule: str) -> str:
    """The statement id letting EventBridge rule `rule` invoke the function."""
    return _sid(f"lamina-console-rule-{rule}")


def role_suffix() -> str:
    """8 random lowercase alphanumerics: the suffix the AWS console gives the role it creates."""
    return "".join(secrets.choice(_ROLE_ALPHABET) for _ in range(8))


def new_role_name(function_name: str, suffix: str) -> str:
    """The name the AWS console gives the execution role it creates for a function:
    `<function-name>-role-<suffix>`; a long function name is cut so the name stays within IAM's 64."""
    tail = f"-role-{suffix}"
    return function_name[:_ROLE_NAME_MAX - len(tail)] + tail


def lambda_can_assume(document: str | dict | None) -> bool:
    """Whether a role's trust policy (as IAM answers it: URL-encoded JSON text, or already a dict)
    allows lambda.amazonaws.com to assume it: the roles the console offers as execution roles."""
    if isinstance(document, str):
        try:
            document = json.loads(urllib.parse.unquote(document))
        except ValueError:
            return False
    if not isinstance(document, dict):
        return False
    statements = document.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        principal = statement.get("Principal")
        services = principal.get("Service", []) if isinstance(principal, dict) else []
        services = [services] if isinstance(services, str) else services
        if "lambda.amazonaws.com" in services and any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            return True
    return False
