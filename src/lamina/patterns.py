"""Event patterns: EventBridge's content-filtering grammar, compiled once and matched many times.

One grammar serves EventBridge rules (EventPattern) and event source mappings (FilterCriteria);
each caller turns a `PatternError` into its own service's error. A pattern is a JSON object: AND
over its keys; a key's value is a nested object or a non-empty array of terms (OR inside it);
`$or` holds a list of alternative objects. Terms: literal string / number / bool / null,
`prefix`, `suffix` (each also with `equals-ignore-case` inside), `equals-ignore-case`,
`anything-but` (a literal, a list of literals, or prefix / suffix / equals-ignore-case /
wildcard inside), `numeric` (comparisons, AND-ed), `exists`, `cidr` and `wildcard`.

Matching follows AWS's rules: every key the pattern names must be present (unless it matches with
`exists: false`), extra event keys are ignored, an array in the event matches when any element
does, numbers compare by value and never match strings, a literal is type-sensitive. Pure: no I/O,
imports nothing from lamina.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

_ABSENT = object()
NUMERIC_OPERATORS = ("=", "<", "<=", ">", ">=")
MAX_DEPTH = 1000

Term = Callable[[Any], bool]  # called with the event's value, or _ABSENT


class PatternError(ValueError):
    """A malformed pattern; `reason` is the text AWS gives after "Event pattern is not valid. Reason: "."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Pattern:
    """A compiled pattern: `matches(event)` is a pure function of the event (a decoded JSON object)."""

    __slots__ = ("source", "_match")

    def __init__(self, source: dict, match: Callable[[Any], bool]) -> None:
        self.source = source
        self._match = match

    def matches(self, event: Any) -> bool:
        return isinstance(event, dict) and self._match(event)

    def __repr__(self) -> str:
        return f"Pattern({json.dumps(self.source, separators=(',', ':'))})"


def compile_pattern(pattern: str | dict) -> Pattern:
    """Compile a pattern given as JSON text or as an already decoded object."""
    if isinstance(pattern, str):
        try:
            pattern = json.loads(pattern, parse_constant=_no_constant)
        except (ValueError, RecursionError) as error:
            raise PatternError(f"Malformed JSON: {error}") from None
    if not isinstance(pattern, dict):
        raise PatternError("Filter is not an object")
    return Pattern(pattern, _object(pattern, 0))


def _no_constant(name: str):
    raise ValueError(f"Unrecognized token '{name}'")


# -- compiling --------------------------------------------------------------------------------------


def _object(pattern: dict, depth: int) -> Callable[[Any], bool]:
    """The matcher of a pattern object: AND over its keys, `$or` among alternatives."""
    if depth > MAX_DEPTH:
        raise PatternError("Pattern is nested too deeply")
    checks: list[Callable[[dict], bool]] = []
    for key, value in pattern.items():
        if key == "$or":
            checks.append(_or(value, depth))
        elif isinstance(value, dict):
            checks.append(_field(key, _object(value, depth + 1), nested=True))
        elif isinstance(value, list):
            if not value:
                raise PatternError("Empty arrays are not allowed")
            checks.append(_field(key, _terms(value), nested=False))
        else:
            raise PatternError(f'"{key}" must be an object or an array')

    def match(event: dict) -> bool:
        return all(check(event) for check in checks)

    return match


def _or(alternatives: Any, depth: int) -> Callable[[dict], bool]:
    if not isinstance(alternatives, list) or not alternatives:
        raise PatternError("$or must be a non-empty array of objects")
    if not all(isinstance(a, dict) for a in alternatives):
        raise PatternError("$or must be a non-empty array of objects")
    matchers = [_object(a, depth + 1) for a in alternatives]
    return lambda event: any(m(event) for m in matchers)


def _field(key: str, match: Callable[[Any], bool], *, nested: bool) -> Callable[[dict], bool]:
    """One key of a pattern object, given the matcher of its nested object or term list."""

    def check(event: dict) -> bool:
        value = event.get(key, _ABSENT)
        if nested:
            if isinstance(value, dict):
                return match(value)
            if isinstance(value, list):
                return any(isinstance(v, dict) and match(v) for v in value)
            # A missing or scalar parent still matches a nested pattern of `exists: false` leaves.
            return match({})
        return match(value)

    return check


def _terms(terms: list) -> Callable[[Any], bool]:
    """A term list: OR over its terms; an array value matches when any element matches."""
    compiled = [_term(t) for t in terms]

    def match(value: Any) -> bool:
        if isinstance(value, list):
            return any(t(v) for v in value for t in compiled)
        return any(t(value) for t in compiled)

    return match


def _term(term: Any) -> Term:
    if term is None or isinstance(term, (str, bool)):
        return _literal(term)
    if isinstance(term, (int, float)):
        return _number_literal(term)
    if isinstance(term, dict):
        if len(term) != 1:
            raise PatternError("Match objects must have exactly one key")
        (kind, arg), = term.items()
        build = _MATCH_TYPES.get(kind)
        if build is None:
            raise PatternError(f"Unrecognized match type {kind}")
        return build(arg)
    raise PatternError("Match value must be String, number, true, false, or null")


def _present(value: Any) -> bool:
    return value is not _ABSENT


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _literal(expected: Any) -> Term:
    kind = type(expected)
    return lambda value: type(value) is kind and value == expected


def _number_literal(expected: int | float) -> Term:
    target = _decimal(expected)
    return lambda value: _is_number(value) and _decimal(value) == target


def _decimal(number: int | float) -> Decimal:
    try:
        return Decimal(repr(number)) if isinstance(number, float) else Decimal(number)
    except InvalidOperation:
        return Decimal("NaN")


def _string_arg(kind: str, arg: Any) -> str:
    if not isinstance(arg, str):
        raise PatternError(f"{kind} match pattern must be a string")
    return arg


def _prefix(arg: Any) -> Term:
    if isinstance(arg, dict) and set(arg) == {"equals-ignore-case"}:
        text = _string_arg("prefix", arg["equals-ignore-case"]).casefold()
        return lambda value: isinstance(value, str) and value.casefold().startswith(text)
    text = _string_arg("prefix", arg)
    return lambda value: isinstance(value, str) and value.startswith(text)


def _suffix(arg: Any) -> Term:
    if isinstance(arg, dict) and set(arg) == {"equals-ignore-case"}:
        text = _string_arg("suffix", arg["equals-ignore-case"]).casefold()
        return lambda value: isinstance(value, str) and value.casefold().endswith(text)
    text = _string_arg("suffix", arg)
    return lambda value: isinstance(value, str) and value.endswith(text)


def _equals_ignore_case(arg: Any) -> Term:
    text = _string_arg("equals-ignore-case", arg).casefold()
    return lambda value: isinstance(value, str) and value.casefold() == text


def _exists(arg: Any) -> Term:
    if not isinstance(arg, bool):
        raise PatternError("exists match pattern must be either true or false.")
    if arg:
        return lambda value: _present(value) and not isinstance(value, dict)
    return lambda value: value is _ABSENT


def _anything_but(arg: Any) -> Term:
    if isinstance(arg, dict):
        if len(arg) != 1:
            raise PatternError("anything-but must have exactly one match type")
        (kind, inner), = arg.items()
        if kind not in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
            raise PatternError(f"Unsupported anything-but pattern: {kind}")
        if kind == "equals-ignore-case" and isinstance(inner, list):
            excluded = [_equals_ignore_case(i) for i in _strings(inner, kind)]
        elif kind == "wildcard" and isinstance(inner, list):
            excluded = [_wildcard(i) for i in _strings(inner, kind)]
        else:
            excluded = [_MATCH_TYPES[kind](inner)]
        return lambda value: isinstance(value, str) and not any(e(value) for e in excluded)
    values = arg if isinstance(arg, list) else [arg]
    if not values:
        raise PatternError("Empty arrays are not allowed")
    if all(isinstance(v, str) for v in values):
        strings = frozenset(values)
        return lambda value: _present(value) and not (isinstance(value, str) and value in strings)
    if all(_is_number(v) for v in values):
        numbers = frozenset(_decimal(v) for v in values)
        return lambda value: _present(value) and not (_is_number(value) and _decimal(value) in numbers)
    raise PatternError("Inside anything but list, start|null|boolean is not supported.")


def _strings(items: list, kind: str) -> list[str]:
    if not items:
        raise PatternError("Empty arrays are not allowed")
    return [_string_arg(kind, i) for i in items]


_COMPARE = {
    "=": lambda a, b: a == b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def _numeric(arg: Any) -> Term:
    if not isinstance(arg, list) or not arg or len(arg) % 2:
        raise PatternError("Value of numeric must be an array of operator and number pairs.")
    bounds: list[tuple[Callable[[Decimal, Decimal], bool], Decimal]] = []
    seen_lower = seen_upper = False
    for i in range(0, len(arg), 2):
        op, bound = arg[i], arg[i + 1]
        if op not in _COMPARE:
            raise PatternError(f"Unrecognized numeric range operator: {op}")
        if not _is_number(bound) or (isinstance(bound, float) and not math.isfinite(bound)):
            raise PatternError(f"Value of {op} must be numeric")
        if op == "=" and len(arg) > 2:
            raise PatternError("Bad numeric range operator: =")
        lower, upper = op in (">", ">="), op in ("<", "<=")
        if (lower and seen_lower) or (upper and seen_upper):
            raise PatternError(f"Bad numeric range operator: {op}")
        seen_lower, seen_upper = seen_lower or lower, seen_upper or upper
        bounds.append((_COMPARE[op], _decimal(bound)))

    def match(value: Any) -> bool:
        if not _is_number(value):
            return False
        number = _decimal(value)
        return all(compare(number, bound) for compare, bound in bounds)

    return match


def _cidr(arg: Any) -> Term:
    text = _string_arg("cidr", arg)
    if text.count("/") != 1:
        raise PatternError("Malformed CIDR, one '/' required")
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise PatternError(f"Nonstandard IP address: {text.split('/')[0]}") from None

    def match(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        try:
            return ipaddress.ip_address(value) in network
        except ValueError:
            return False

    return match


def _wildcard(arg: Any) -> Term:
    text = _string_arg("wildcard", arg)
    parts: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in "*\\":
            parts.append(re.escape(text[i + 1]))
            i += 2
            continue
        if char == "*":
            if i + 1 < len(text) and text[i + 1] == "*":
                raise PatternError(f"Consecutive wildcard characters at pos {i + 1}")
            parts.append(".*")
        else:
            parts.append(re.escape(char))
        i += 1
    regex = re.compile("".join(parts), re.DOTALL)
    return lambda value: isinstance(value, str) and regex.fullmatch(value) is not None


_MATCH_TYPES: dict[str, Callable[[Any], Term]] = {
    "prefix": _prefix,
    "suffix": _suffix,
    "equals-ignore-case": _equals_ignore_case,
    "anything-but": _anything_but,
    "numeric": _numeric,
    "exists": _exists,
    "cidr": _cidr,
    "wildcard": _wildcard,
}
