"""CloudWatch Logs filter patterns: parsing a pattern into a predicate over a log message.

Pure: imports nothing from lamina (google-re2 for %regex% terms). `compile_pattern(text)` returns `match(message) -> bool` or raises
`FilterPatternError`. Three forms, chosen by the first character:
- terms: `ERROR "exact phrase" ?alt1 ?alt2 -excluded %regex%`: every plain term must appear, at least one
  `?` term (when any is given), no `-` term; case-sensitive substring matches; %regex% runs on RE2 (linear
  time, no backreferences or lookaround). Empty matches everything.
- JSON `{ $.a.b[0] = "x*" && ($.n > 5 || $.f IS TRUE) }`: `= !=` on strings (unquoted or quoted, `*`
  wildcard) and numbers, `< <= > >=` on numbers, `IS NULL`, `IS TRUE`, `IS FALSE`, `NOT EXISTS`,
  `&&` over `||`, parentheses. Matches only messages that are JSON objects.
- space-delimited `[ip, user, ..., status = 4* || status = 5*, bytes > 1000]`: fields split on spaces,
  "quoted" and [bracketed] text kept whole; `...` skips any number of fields.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable

import re2

Predicate = Callable[[str], bool]
_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_COMPARE = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
            ">": operator.gt, ">=": operator.ge}
_JSON_TOKEN = re.compile(r"""\s*(?:(?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))|(?P<quoted>"(?:[^"\\]|\\.)*")|"""
                         r"""(?P<word>[^\s=!<>()&|"{}]+))""")
_SELECTOR_STEP = re.compile(r"\.(?P<key>[^.\[\]]+)|\[(?P<index>\d+)\]")
_MISSING = object()


class FilterPatternError(ValueError):
    """The pattern is not a valid filter pattern."""


def compile_pattern(text: str) -> Predicate:
    """The predicate of a filter pattern; raises FilterPatternError on an invalid one."""
    stripped = (text or "").strip()
    if not stripped:
        return lambda message: True
    try:
        if stripped[0] == "{":
            return _json_pattern(stripped)
        if stripped[0] == "[":
            return _delimited_pattern(stripped)
        return _terms_pattern(stripped)
    except RecursionError:
        raise FilterPatternError("the pattern nests too deeply") from None


# ----- terms ---------------------------------------------------------------------------------------------

def _unquote(quoted: str) -> str:
    return re.sub(r"\\(.)", r"\1", quoted[1:-1])


def _regex_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # an invalid pattern is the caller's error, not a line on the server's stderr
    return options


_REGEX_OPTIONS = _regex_options()


def _term_matcher(term: str) -> Predicate:
    if len(term) >= 2 and term[0] == "%" and term[-1] == "%":
        try:  # RE2: time linear in the message, so no pattern can stall the server (`(a+)+$`)
            regex = re2.compile(term[1:-1], options=_REGEX_OPTIONS)
        except re2.error as exc:
            raise FilterPatternError(str(exc)) from None
        return lambda message: regex.search(message) is not None
    return lambda message: term in message


_TERM = re.compile(r'\s*([?-]?)("(?:[^"\\]|\\.)*"|%(?:[^%\\]|\\.)+%|[^\s"][^\s]*)(?=\s|$)')


def _terms_pattern(text: str) -> Predicate:
    groups: dict[str, list[Predicate]] = {"": [], "?": [], "-": []}
    position = 0
    while text[position:].strip():
        match = _TERM.match(text, position)
        if match is None:
            raise FilterPatternError(f"could not read the pattern at {position}")
        prefix, body = match.groups()
        if body.startswith('"'):
            term = _unquote(body)
        elif '"' in body and not body.startswith("%"):
            raise FilterPatternError("a quote inside a term")
        else:
            term = body
        if not term:
            raise FilterPatternError("an empty term")
        groups[prefix].append(_term_matcher(term))
        position = match.end()
    required, optional, excluded = groups[""], groups["?"], groups["-"]

    def match(message: str) -> bool:
        return (all(term(message) for term in required)
                and (not optional or any(term(message) for term in optional))
                and not any(term(message) for term in excluded))

    return match


# ----- values shared by the JSON and space-delimited forms ---------------------------------------------------

def _wildcard(text: str) -> re.Pattern:
    return re.compile(".*".join(re.escape(part) for part in text.split("*")), re.DOTALL)


def _literal(token: tuple[str, str]) -> tuple[str, object]:
    """('number', float) | ('string', compiled wildcard) | ('word', bare text) from a value token."""
    kind, text = token
    if kind == "quoted":
        return "string", _wildcard(_unquote(text))
    if _NUMBER.fullmatch(text):
        return "number", float(text)
    return "word", text


def _number_of(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _value_test(op: str, literal: tuple[str, object], *, text_fields: bool) -> Callable[[object], bool]:
    """Compare a field value to a literal. JSON fields are typed; space-delimited fields are text."""
    kind, value = literal
    if op not in ("=", "!=") and kind != "number":
        raise FilterPatternError(f"{op} needs a number")
    compare = _COMPARE[op]
    if kind == "number":
        def numeric(field: object) -> bool:
            if text_fields and isinstance(field, str) and _NUMBER.fullmatch(field):
                field = float(field)
            number = _number_of(field)
            return number is not None and math.isfinite(number) and compare(number, value)
        return numeric
    if kind == "word" and value in ("true", "false", "null") and not text_fields:
        constant = {"true": True, "false": False, "null": None}[value]

        def constant_test(field: object) -> bool:
            if field is constant:
                return op == "="
            return isinstance(field, str) and (_wildcard(value).fullmatch(field) is not None) == (op == "=")
        return constant_test
    pattern = value if kind == "string" else _wildcard(value)

    def string(field: object) -> bool:
        return isinstance(field, str) and (pattern.fullmatch(field) is not None) == (op == "=")
    return string


class _Tokens:
    def __init__(self, text: str) -> None:
        self.items: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            match = _JSON_TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise FilterPatternError(f"unexpected text at {position}")
            kind = match.lastgroup or "word"
            self.items.append((kind, match.group(kind)))
            position = match.end()
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.items[self.position] if self.position < len(self.items) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterPatternError("pattern ends too early")
        self.position += 1
        return token

    def take_op(self, op: str) -> bool:
        if self.peek() == ("op", op):
            self.position += 1
            return True
        return False

    def take_word(self, *words: str) -> str | None:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1] in words:
            self.position += 1
            return token[1]
        return None


Condition = Callable[[object], bool]


def _boolean(tokens: _Tokens, condition: Callable[[_Tokens], Condition]) -> Condition:
    """expr := and ('||' and)*; and := atom ('&&' atom)*; atom := '(' expr ')' | condition."""

    def atom() -> Condition:
        if tokens.take_op("("):
            inner = expression()
            if not tokens.take_op(")"):
                raise FilterPatternError("missing )")
            return inner
        return condition(tokens)

    def conjunction() -> Condition:
        parts = [atom()]
        while tokens.take_op("&&"):
            parts.append(atom())
        return parts[0] if len(parts) == 1 else lambda subject: all(part(subject) for part in parts)

    def expression() -> Condition:
        parts = [conjunction()]
        while tokens.take_op("||"):
            parts.append(conjunction())
        return parts[0] if len(parts) == 1 else lambda subject: any(part(subject) for part in parts)

    return expression()


def _comparison(tokens: _Tokens, *, text_fields: bool) -> tuple[str, Callable[[object], bool]]:
    """`OP value` after a field: the operator and the value test."""
    kind, op = tokens.take()
    if kind != "op" or op not in _COMPARE:
        raise FilterPatternError(f"expected a comparison, found {op!r}")
    value = tokens.take()
    if value[0] == "op":
        raise FilterPatternError(f"expected a value, found {value[1]!r}")
    return op, _value_test(op, _literal(value), text_fields=text_fields)


# ----- JSON ----------------------------------------------------------------------------------------------

def _selector(text: str) -> Callable[[object], object]:
    if not text.startswith("$"):
        raise FilterPatternError(f"a JSON selector starts with $: {text!r}")
    steps: list[str | int] = []
    position = 1
    while position < len(text):
        match = _SELECTOR_STEP.match(text, position)
        if match is None:
            raise FilterPatternError(f"bad selector {text!r}")
        steps.append(match["key"] if match["key"] is not None else int(match["index"]))
        position = match.end()
    if not steps:
        raise FilterPatternError("a selector names a field")

    def resolve(document: object) -> object:
        for step in steps:
            if isinstance(step, str) and isinstance(document, dict) and step in document:
                document = document[step]
            elif isinstance(step, int) and isinstance(document, list) and step < len(document):
                document = document[step]
            else:
                return _MISSING
        return document
    return resolve


def _json_condition(tokens: _Tokens) -> Condition:
    kind, text = tokens.take()
    if kind != "word":
        raise FilterPatternError(f"expected a selector, found {text!r}")
    resolve = _selector(text)
    if tokens.take_word("IS"):
        what = tokens.take_word("NULL", "TRUE", "FALSE")
        if what is None:
            raise FilterPatternError("IS takes NULL, TRUE or FALSE")
        expected = {"NULL": None, "TRUE": True, "FALSE": False}[what]
        return lambda document: resolve(document) is expected
    if tokens.take_word("NOT"):
        if not tokens.take_word("EXISTS"):
            raise FilterPatternError("NOT takes EXISTS")
        return lambda document: resolve(document) is _MISSING
    if tokens.take_word("EXISTS"):
        return lambda document: resolve(document) is not _MISSING
    _, test = _comparison(tokens, text_fields=False)

    def condition(document: object) -> bool:
        value = resolve(document)
        return value is not _MISSING and test(value)
    return condition


def _json_pattern(text: str) -> Predicate:
    if not text.endswith("}"):
        raise FilterPatternError("a JSON pattern ends with }")
    tokens = _Tokens(text[1:-1])
    if tokens.peek() is None:
        raise FilterPatternError("empty JSON pattern")
    condition = _boolean(tokens, _json_condition)
    if tokens.peek() is not None:
        raise FilterPatternError(f"unexpected {tokens.peek()[1]!r}")

    def match(message: str) -> bool:
        if not message.lstrip().startswith("{"):
            return False
        try:
            document = json.loads(message)
        except (ValueError, RecursionError):
            return False
        return isinstance(document, dict) and condition(document)
    return match


# ----- space-delimited -----------------------------------------------------------------------------------

_DELIMITED_FIELD = re.compile(r'"[^"]*"|\[[^\]]*\]|\S+')


def _fields(message: str) -> list[str]:
    return [f[1:-1] if f[0] in '"[' and len(f) >= 2 and f[-1] in '"]' else f
            for f in _DELIMITED_FIELD.findall(message)]


def _split_items(body: str) -> list[str]:
    items, depth, quoted, current = [], 0, False, []
    for char in body:
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == "," and not quoted and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    if quoted:
        raise FilterPatternError("unterminated quote")
    items.append("".join(current))
    return [item.strip() for item in items]


def _delimited_item(item: str) -> Condition | None:
    """None for `...`; otherwise a test of one field (a bare name matches any field)."""
    if item == "...":
        return None
    tokens = _Tokens(item)
    first = tokens.peek()
    if first is None or first[0] != "word":
        raise FilterPatternError(f"bad field {item!r}")
    name = first[1]
    if len(tokens.items) == 1:
        return lambda field: True

    def condition(parts: _Tokens) -> Condition:
        kind, text = parts.take()
        if kind != "word" or text != name:
            raise FilterPatternError(f"a condition of field {name!r} names {text!r}")
        return _comparison(parts, text_fields=True)[1]

    test = _boolean(tokens, condition)
    if tokens.peek() is not None:
        raise FilterPatternError(f"unexpected {tokens.peek()[1]!r}")
    return test


def _delimited_pattern(text: str) -> Predicate:
    if not text.endswith("]"):
        raise FilterPatternError("a space-delimited pattern ends with ]")
    items = [_delimited_item(item) for item in _split_items(text[1:-1])]

    def match(message: str) -> bool:
        fields = _fields(message)
        positions = {0}  # where the next item may start, over every way the items so far can match
        for item in items:
            if item is None:
                positions = set(range(min(positions), len(fields) + 1))
            else:
                positions = {at + 1 for at in positions if at < len(fields) and item(fields[at])}
            if not positions:
                return False
        return len(fields) in positions

    return match
