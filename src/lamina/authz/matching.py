"""String matching as IAM does it: `*`/`?` globs, ARNs field by field, and policy variables.

- `glob(pattern, value)`: `*` any run of characters (none included), `?` exactly one.
- `arn_like(pattern, value)`: both split into their six colon-separated fields (the last one, the
  resource, may itself hold colons and slashes) and globbed field by field, so a `*` never spans
  two fields: `arn:aws:lambda:*:*:function:f*` matches `...:function:f` and `...:function:f:1`.
- `substitute(text, context)`: `${aws:username}`, `${aws:username, 'default'}` and the escapes
  `${*}`, `${?}`, `${$}`; None when a variable has no value (the element then matches nothing).
- `variables(text)`: the (lower-cased) context keys the policy variables of `text` name.
Imports nothing from lamina.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        parts.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    if pattern == "*":
        return True
    if "*" not in pattern and "?" not in pattern:
        return pattern.lower() == value.lower() if ignore_case else pattern == value
    return _compiled(pattern, ignore_case).fullmatch(value) is not None


def arn_like(pattern: str, value: str) -> bool:
    if pattern == "*":
        return True
    wanted = pattern.split(":", 5)
    actual = value.split(":", 5)
    if len(wanted) != 6 or len(actual) != 6:
        return False
    return all(glob(p, v) for p, v in zip(wanted, actual, strict=True))


def resource_matches(pattern: str, resource: str) -> bool:
    """Whether a Resource element matches the resource of a request (`*` or an ARN pattern)."""
    if pattern == "*":
        return True
    if pattern.startswith("arn:") and resource.startswith("arn:"):
        return arn_like(pattern, resource)
    return glob(pattern, resource)


def _value_of(name: str, context: Mapping[str, object]) -> str | None:
    value = context.get(name.lower())
    if isinstance(value, (list, tuple)):
        return None if len(value) != 1 else str(value[0])  # a multi-valued key is no single value
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)


def variables(text: str) -> tuple[str, ...]:
    """The context keys (lower-cased) the policy variables of `text` name; the escapes name none."""
    if "${" not in text:
        return ()
    names = (match[1].partition(",")[0].strip() for match in _VARIABLE.finditer(text))
    return tuple(name.lower() for name in names if name and name not in _ESCAPES)


def substitute(text: str, context: Mapping[str, object]) -> str | None:
    """`text` with its policy variables replaced from `context` (keys lower-cased)."""
    if "${" not in text:
        return text
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        body = match[1].strip()
        if body in _ESCAPES:
            return _ESCAPES[body]
        name, comma, default = body.partition(",")
        value = _value_of(name.strip(), context)
        if value is not None:
            return value
        default = default.strip()
        if comma and len(default) >= 2 and default[0] == default[-1] == "'":
            return default[1:-1]
        missing = True
        return ""

    out = _VARIABLE.sub(replace, text)
    return None if missing else out
