"""Condition blocks: parsing `{"Operator": {"key": values}}` and testing them against a request.

Operators: String (Equals, NotEquals, EqualsIgnoreCase, NotEqualsIgnoreCase, Like, NotLike),
Numeric*, Date* (ISO 8601 or epoch seconds), Bool, BinaryEquals, IpAddress / NotIpAddress (CIDR,
v4 and v6), Arn (Equals, Like, NotEquals, NotLike), Null; each with the `IfExists` suffix and the
`ForAnyValue:` / `ForAllValues:` set prefixes. The rules (IAM user guide, condition operators):
operators in a block AND, keys in an operator AND, values of one key OR; a missing key makes a
plain operator false and a negated one (`...Not...`) true; `IfExists` makes a missing key true;
`ForAnyValue` is false and `ForAllValues` true on a missing or empty key. Keys are case-insensitive
(the request context holds them lower-cased). Imports lamina.authz.matching only.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from lamina.authz import matching

SET_PREFIXES = ("ForAnyValue:", "ForAllValues:")
NEGATED = frozenset({"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "NumericNotEquals",
                     "DateNotEquals", "ArnNotEquals", "ArnNotLike", "NotIpAddress"})
SUBSTITUTED = frozenset({"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
                         "StringLike", "StringNotLike", "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"})


@dataclass(frozen=True)
class Condition:
    operator: str  # the base operator, e.g. "StringLike"
    key: str  # lower-cased
    values: tuple[str, ...]
    if_exists: bool = False
    set_prefix: str | None = None  # "ForAnyValue:" | "ForAllValues:" | None


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    raise ValueError("condition values are strings, numbers or booleans")


def parse_block(block: object) -> tuple[Condition, ...]:
    """The conditions of a statement's Condition element; ValueError when malformed."""
    if not isinstance(block, dict):
        raise ValueError("Condition is an object")
    out = []
    for name, keys in block.items():
        prefix = next((p for p in SET_PREFIXES if name.startswith(p)), None)
        base = name[len(prefix):] if prefix else name
        if_exists = base.endswith("IfExists") and base != "IfExists"
        if if_exists:
            base = base[: -len("IfExists")]
        if base not in OPERATORS or not isinstance(keys, dict):
            raise ValueError(f"unknown condition operator {name}")
        for key, values in keys.items():
            raw = values if isinstance(values, list) else [values]
            out.append(Condition(base, key.lower(), tuple(_text(v) for v in raw), if_exists, prefix))
    return tuple(out)


# -- value comparisons: (policy value, request value) -> bool ----------------------------------
def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) else value


def _date(text: str) -> datetime | None:
    number = _number(text)
    if number is not None:
        try:
            return datetime.fromtimestamp(number, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _ordered(parse: Callable[[str], object], compare: Callable[[object, object], bool]):
    def test(policy: str, request: str) -> bool:
        a, b = parse(request), parse(policy)
        return a is not None and b is not None and compare(a, b)
    return test


def _ip(policy: str, request: str) -> bool:
    try:
        network = ipaddress.ip_network(policy.strip(), strict=False)
        address = ipaddress.ip_address(request.strip())
    except ValueError:
        return False
    return address.version == network.version and address in network


def _binary(policy: str, request: str) -> bool:
    try:
        return base64.b64decode(policy, validate=True) == base64.b64decode(request, validate=True)
    except (binascii.Error, ValueError):
        return policy == request


_COMPARISONS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda p, r: p == r,
    "StringEqualsIgnoreCase": lambda p, r: p.lower() == r.lower(),
    "StringLike": lambda p, r: matching.glob(p, r),
    "NumericEquals": _ordered(_number, lambda a, b: a == b),
    "NumericLessThan": _ordered(_number, lambda a, b: a < b),
    "NumericLessThanEquals": _ordered(_number, lambda a, b: a <= b),
    "NumericGreaterThan": _ordered(_number, lambda a, b: a > b),
    "NumericGreaterThanEquals": _ordered(_number, lambda a, b: a >= b),
    "DateEquals": _ordered(_date, lambda a, b: a == b),
    "DateLessThan": _ordered(_date, lambda a, b: a < b),
    "DateLessThanEquals": _ordered(_date, lambda a, b: a <= b),
    "DateGreaterThan": _ordered(_date, lambda a, b: a > b),
    "DateGreaterThanEquals": _ordered(_date, lambda a, b: a >= b),
    "Bool": lambda p, r: p.lower() == r.lower(),
    "BinaryEquals": _binary,
    "IpAddress": _ip,
    "ArnEquals": matching.arn_like,
    "ArnLike": matching.arn_like,
}
_POSITIVE_OF = {
    "StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike", "NumericNotEquals": "NumericEquals", "DateNotEquals": "DateEquals",
    "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike", "NotIpAddress": "IpAddress",
}
OPERATORS = frozenset(_COMPARISONS) | frozenset(_POSITIVE_OF) | {"Null"}


def _request_values(value: object) -> list[str] | None:
    """The request's values of a key: None when absent, [] when empty, else strings."""
    if value is None:
        return None
    items = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
    return [_text(v) if not isinstance(v, str) else v for v in items]


def test(condition: Condition, context: Mapping[str, object], *, variables: bool = True) -> bool:
    """Whether one condition holds for the request `context` (keys lower-cased)."""
    present = _request_values(context.get(condition.key))
    if condition.operator == "Null":
        absent = not present
        return any((v.lower() == "true") == absent for v in condition.values)
    negated = condition.operator in NEGATED
    compare = _COMPARISONS[_POSITIVE_OF.get(condition.operator, condition.operator)]
    policy_values = list(condition.values)
    if variables and condition.operator in SUBSTITUTED:
        policy_values = [v for v in (matching.substitute(p, context) for p in policy_values) if v is not None]

    def satisfies(value: str) -> bool:
        hit = any(compare(p, value) for p in policy_values)
        return not hit if negated else hit

    if condition.set_prefix == "ForAllValues:":
        return all(satisfies(v) for v in present) if present else True
    if condition.set_prefix == "ForAnyValue:":
        if not present:
            return condition.if_exists
        return any(satisfies(v) for v in present)
    if present is None:
        return condition.if_exists or negated
    if negated:
        return all(satisfies(v) for v in present)
    return any(satisfies(v) for v in present)


def test_all(block: tuple[Condition, ...], context: Mapping[str, object], *, variables: bool = True) -> bool:
    return all(test(c, context, variables=variables) for c in block)
