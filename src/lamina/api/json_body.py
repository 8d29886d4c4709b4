"""JSON request bodies: the one decoder, and its one rule, for every protocol on the port (the
Lambda rest-json routes, the Invoke payload, CloudWatch Logs' JSON 1.1).

A body is strict JSON (RFC 8259) in UTF-8: no byte-order mark, no other encoding, no `NaN` or
`Infinity`, no string holding a lone UTF-16 surrogate (`"\\ud800"`: not a character, and nothing
can store or print it), nesting no deeper than the parser can go. Anything else raises `Malformed`
with the parser's detail; each protocol words its own error around it.
Imports nothing from lamina.
"""

from __future__ import annotations

import json
import re

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class Malformed(ValueError):
    """The body is not strict JSON; the text says why, as a parser would."""


def _non_numeric(token: str) -> object:
    raise Malformed(f"Non-standard token '{token}': NaN and Infinity are not JSON numbers")


_DECODER = json.JSONDecoder(parse_constant=_non_numeric)
_SCAN = _DECODER.scan_once


def decode(body: bytes) -> object:
    """The JSON value of `body`, or Malformed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Malformed(f"Invalid UTF-8 byte 0x{body[exc.start]:02x} at offset {exc.start}") from None
    if text.startswith("\ufeff"):
        raise Malformed("Unexpected byte-order mark (U+FEFF) at offset 0")
    # One JSON value with no whitespace around it (nearly every body) goes straight to the C
    # scanner that `JSONDecoder.decode` runs after its two whitespace matches; anything else, and
    # every error, goes through `_strict`, which words the error.
    value = end = None
    if text[:1] not in _BLANK and text[-1:] not in _BLANK:
        try:
            value, end = _SCAN(text, 0)
        except (StopIteration, ValueError, RecursionError):
            pass
    if end != len(text):
        value = _strict(text)
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        _refuse_lone_surrogates(value)
    return value


_BLANK = frozenset(("", " ", "\t", "\n", "\r"))  # an empty text, or JSON's whitespace at either end


def _strict(text: str) -> object:
    """`JSONDecoder.decode` with its errors worded as Malformed."""
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise Malformed("Maximum nesting depth exceeded") from None
    except Malformed:
        raise
    except ValueError as exc:  # JSONDecodeError, and integers longer than Python converts
        raise Malformed(str(exc)) from None


def _refuse_lone_surrogates(value: object) -> None:
    # Iterative: the value may be nested as deep as the parser went.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            strings = (item,)
        elif isinstance(item, dict):
            strings = tuple(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            strings = ()
            pending.extend(item)
        else:
            continue
        for string in strings:
            if not string.isascii() and (found := _SURROGATE.search(string)):
                raise Malformed(f"Invalid UTF-16: lone surrogate '\\u{ord(found[0]):04x}' in a string")
