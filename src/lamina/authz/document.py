"""IAM policy documents: parsing and validating the JSON grammar into a compiled `Policy`.

`parse_policy(text, kind)` checks a document as IAM does and raises `PolicyError(reason)` with
the MalformedPolicyDocument text IAM answers ("This policy contains invalid Json", "Syntax errors
in policy.", "Policy statement must contain actions." ...). `kind` adds the checks of one use:
"identity" (no Principal; Resource required), "resource" (Principal required), "trust" (no
Resource), "any" (grammar only). A compiled policy knows the request context keys it references
(`Policy.keys`: its condition keys and the policy variables of its conditions and resources), so a
key that costs a lookup (aws:ResourceTag/...) is only looked up for a policy that reads it.
Imports lamina.authz.conditions and lamina.authz.matching only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from lamina.authz import conditions, matching

VERSIONS = ("2012-10-17", "2008-10-17")
DEFAULT_VERSION = "2008-10-17"  # a document without Version, as AWS documents it
TOP_ELEMENTS = frozenset({"Version", "Id", "Statement"})
STATEMENT_ELEMENTS = frozenset({"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
                                "Resource", "NotResource", "Condition"})
PRINCIPAL_KINDS = frozenset({"AWS", "Service", "Federated", "CanonicalUser"})
KINDS = ("any", "identity", "resource", "trust")
_VENDOR = re.compile(r"[^a-zA-Z0-9\-.]")

INVALID_JSON = "This policy contains invalid Json"
SYNTAX = "Syntax errors in policy."
NO_ACTIONS = "Policy statement must contain actions."
NO_RESOURCES = "Policy statement must contain resources."
NO_PRINCIPAL_ALLOWED = "Policy document should not specify a principal."
NO_PRINCIPAL = "Missing required field Principal"
TRUST_RESOURCE = "Has prohibited field Resource"
SIDS_UNIQUE = "Statement IDs (SID) in a single policy must be unique."


class PolicyError(ValueError):
    """A malformed policy document; `reason` is the MalformedPolicyDocument text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Statement:
    effect: str  # "Allow" | "Deny"
    sid: str | None = None
    actions: tuple[str, ...] | None = None
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] | None = None
    not_resources: tuple[str, ...] | None = None
    principal: dict[str, tuple[str, ...]] | None = None  # {"*": ("*",)} for "*"
    not_principal: dict[str, tuple[str, ...]] | None = None
    conditions: tuple[conditions.Condition, ...] = ()


@dataclass(frozen=True)
class Policy:
    version: str
    statements: tuple[Statement, ...]
    id: str | None = None
    keys: frozenset[str] = frozenset()  # the context keys (lower-cased) it references: referenced_keys

    def references(self, prefix: str) -> bool:
        """Whether it references a context key starting with `prefix` (lower-cased)."""
        return any(key.startswith(prefix) for key in self.keys)

    @property
    def variables(self) -> bool:
        """Whether policy variables (${aws:username}) are substituted: only from version 2012-10-17."""
        return self.version == "2012-10-17"


def _strings(value: Any, *, allow_empty: bool = False) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value) and (value or allow_empty):
        return tuple(value)
    raise PolicyError(SYNTAX)


def _principal(value: Any) -> dict[str, tuple[str, ...]]:
    if value == "*":
        return {"*": ("*",)}
    if not isinstance(value, dict) or not value:
        raise PolicyError(SYNTAX)
    out = {}
    for kind, names in value.items():
        if kind not in PRINCIPAL_KINDS:
            raise PolicyError(SYNTAX)
        out[kind] = _strings(names)
    return out


def _check_action(action: str) -> None:
    if action == "*":
        return
    vendor, colon, rest = action.partition(":")
    if not colon:
        raise PolicyError("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
    if ":" in rest:
        raise PolicyError("Actions/Condition can contain only one colon.")
    if vendor != "*" and _VENDOR.search(vendor):
        raise PolicyError(f"Vendor {vendor} is not valid")


def _check_resource(resource: str) -> None:
    if resource == "*" or resource.startswith("${"):
        return
    if not resource.startswith("arn:") or resource.count(":") < 5:
        raise PolicyError(f'Resource {resource} must be in ARN format or "*".')


def _statement(raw: Any, kind: str) -> Statement:
    if not isinstance(raw, dict) or not set(raw) <= STATEMENT_ELEMENTS:
        raise PolicyError(SYNTAX)
    if ("Action" in raw and "NotAction" in raw) or ("Resource" in raw and "NotResource" in raw) \
            or ("Principal" in raw and "NotPrincipal" in raw):
        raise PolicyError(SYNTAX)
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(SYNTAX)
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise PolicyError(SYNTAX)
    actions = _strings(raw["Action"], allow_empty=True) if "Action" in raw else None
    not_actions = _strings(raw["NotAction"], allow_empty=True) if "NotAction" in raw else None
    resources = _strings(raw["Resource"], allow_empty=True) if "Resource" in raw else None
    not_resources = _strings(raw["NotResource"], allow_empty=True) if "NotResource" in raw else None
    principal = _principal(raw["Principal"]) if "Principal" in raw else None
    not_principal = _principal(raw["NotPrincipal"]) if "NotPrincipal" in raw else None
    try:
        parsed_conditions = conditions.parse_block(raw.get("Condition", {}))
    except ValueError:
        raise PolicyError(SYNTAX) from None
    if not (actions or not_actions):
        raise PolicyError(NO_ACTIONS)
    for action in (actions or not_actions or ()):
        _check_action(action)
    if kind == "trust":
        if resources is not None or not_resources is not None:
            raise PolicyError(TRUST_RESOURCE)
    elif kind in ("identity", "resource") and not (resources or not_resources):
        raise PolicyError(NO_RESOURCES)
    for resource in (resources or not_resources or ()):
        _check_resource(resource)
    if kind == "identity" and (principal is not None or not_principal is not None):
        raise PolicyError(NO_PRINCIPAL_ALLOWED)
    if kind in ("resource", "trust") and principal is None and not_principal is None:
        raise PolicyError(NO_PRINCIPAL)
    return Statement(effect=effect, sid=sid, actions=actions, not_actions=not_actions, resources=resources,
                     not_resources=not_resources, principal=principal, not_principal=not_principal,
                     conditions=parsed_conditions)


def referenced_keys(statements: tuple[Statement, ...]) -> frozenset[str]:
    """The context keys (lower-cased) statements read: each condition's key, and the keys the policy
    variables in condition values and in Resource / NotResource name."""
    keys: set[str] = set()
    for statement in statements:
        for condition in statement.conditions:
            keys.add(condition.key)
            for value in condition.values:
                keys.update(matching.variables(value))
        for resource in (statement.resources or ()) + (statement.not_resources or ()):
            keys.update(matching.variables(resource))
    return frozenset(keys)


def parse_policy(text: str | dict, kind: str = "any") -> Policy:
    """The compiled policy of a JSON document (text, or an already-decoded dict)."""
    if kind not in KINDS:
        raise ValueError(f"unknown policy kind {kind!r}")
    if isinstance(text, dict):
        document: Any = text
    else:
        try:
            document = json.loads(text)
        except (ValueError, TypeError, RecursionError):
            raise PolicyError(INVALID_JSON) from None
    if not isinstance(document, dict) or not set(document) <= TOP_ELEMENTS or "Statement" not in document:
        raise PolicyError(SYNTAX)
    version = document.get("Version", DEFAULT_VERSION)
    if version not in VERSIONS:
        raise PolicyError(SYNTAX)
    policy_id = document.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise PolicyError(SYNTAX)
    raw = document["Statement"]
    raw_statements = [raw] if isinstance(raw, dict) else raw
    if not isinstance(raw_statements, list) or not raw_statements:
        raise PolicyError(SYNTAX)
    statements = tuple(_statement(s, kind) for s in raw_statements)
    sids = [s.sid for s in statements if s.sid]
    if len(sids) != len(set(sids)):
        raise PolicyError(SIDS_UNIQUE)
    return Policy(version=version, statements=statements, id=policy_id, keys=referenced_keys(statements))
