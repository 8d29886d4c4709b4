"""Request validation driven by botocore's Lambda service model, answering AWS's ValidationException text.

Owns the model-level checks the client does not make (length, pattern, enum, numeric range, list and
map sizes, value types) and lamina's overrides of the model's ranges (Timeout 1..max_timeout,
MemorySize 128..10,240, EphemeralStorage.Size 512..10,240). Imports botocore and, from lamina,
lamina.errors only (never control, store or engine).

Behaviour choices (AWS/Coral style, reference 0.2):
- Message: "N validation error(s) detected: " joined by "; " of
  "Value 'v' at 'path' failed to satisfy constraint: c". Members are checked in model order; per value:
  type, length, pattern, enum, range.
- Paths are member names with the first letter lower-cased, joined by "."; a structure inside a list is
  at "path.N.member" (1-based). Scalars inside a list are reported once at the list's path as
  "Member must satisfy constraint: [c1, c2]"; a map's keys and values as "Map keys must satisfy
  constraint: [...]" / "Map value must satisfy constraint: [...]" at the map's path (AWS's own text for
  environment variable names).
- Values are rendered as Java's toString would: strings raw, numbers as is, booleans true/false, lists
  "[a, b]", maps "{k=v}", a missing required member as "Value null"; lists and maps nested deeper than
  JAVA_STRING_DEPTH as "[...]" / "{...}" (a hostile body must not exhaust the recursion limit).
- Shapes marked sensitive in the model (environment variables, payloads), and all they contain, are never
  echoed: "Value at 'environment.variables' failed to satisfy constraint: ...", as AWS answers.
- A JSON value of the wrong type is a ValidationException too (AWS fails deserialization; lamina.errors has
  no SerializationException), e.g. "Value 'abc' at 'timeout' failed to satisfy constraint: Member must be
  a number", collected with the other failures.
- Special cases: an unknown Runtime on CreateFunction/UpdateFunctionConfiguration is an
  InvalidParameterValueException listing the model's enum ("... or be a valid ARN"; lamina accepts no
  runtime ARN); a bad bare function name (no ':', at most 64 characters) on CreateFunction is an
  InvalidParameterValueException with the "N validation error(s) detected" text. Both are checked only
  once the model-level checks pass, as AWS's semantic checks are.
- Java regular expressions run with Python's re in ASCII mode (Java's \\s, \\d, \\w are ASCII) and full
  matches; Unicode categories such as \\p{L} (tag patterns) are expanded to code point ranges, built once
  on first use (~0.2 s).
"""

from __future__ import annotations

import array
import functools
import re
import sys
import unicodedata

import botocore.session
from botocore.model import Shape

from lamina.errors import InvalidParameterValueException, ValidationException

RUNTIME_OPERATIONS = frozenset({"CreateFunction", "UpdateFunctionConfiguration"})
BARE_NAME_MAX = 64
# Shape name -> (min, max) enforced instead of the model's (developer-guide limits, reference 2.2).
RANGE_OVERRIDES = {"MemorySize": (128, 10240), "EphemeralStorageSize": (512, 10240)}
# Enum shapes whose values AWS lists in another order than the model's (triggers-and-permissions 1.8, 2.1).
ENUM_ORDER = {"EventSourcePosition": ("LATEST", "AT_TIMESTAMP", "TRIM_HORIZON"),
              "InvokeMode": ("RESPONSE_STREAM", "BUFFERED")}
_TYPES = {
    "string": ((str,), "a string"), "blob": ((str, bytes, bytearray), "a string"),
    "integer": ((int,), "a number"), "long": ((int,), "a number"), "double": ((int, float), "a number"),
    "boolean": ((bool,), "a boolean"), "timestamp": ((str, int, float), "a timestamp"),
    "list": ((list,), "a list"), "map": ((dict,), "an object"), "structure": ((dict,), "an object"),
}
_CATEGORY = re.compile(r"\\p\{(\w{1,2})\}")


@functools.cache
def service_model():
    return botocore.session.get_session().get_service_model("lambda")


@functools.cache
def runtimes() -> tuple[str, ...]:
    """Every value the model's Runtime enum accepts, in model order."""
    return tuple(service_model().shape_for("Runtime").enum)


def check_runtime_value(runtime: str) -> None:
    """AWS's answer to a Runtime outside the model's enum on CreateFunction/UpdateFunctionConfiguration."""
    if runtime not in runtimes():
        raise InvalidParameterValueException(
            f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
            f"[{', '.join(runtimes())}] or be a valid ARN"
        )


def message(failures: list[str]) -> str:
    count = len(failures)
    return f"{count} validation error{'' if count == 1 else 's'} detected: " + "; ".join(failures)


def shape_failures(shape: Shape, params: dict, *, max_timeout: int = 900,
                   skip: frozenset[str] = frozenset()) -> list[str]:
    """Every model-level failure of `params` against an input shape (of any service's model)."""
    checker = _Checker(max_timeout)
    checker.structure(shape, params, "", False, skip)
    return checker.failures


def validate(operation: str, params: dict, *, max_timeout: int = 900) -> None:
    """Validate the input members of a Lambda operation (botocore operation name, e.g. "CreateFunction").

    `params` holds the operation's input members by model name, path/query/header/body merged, e.g.
    {"FunctionName": "f", "Timeout": 1000000, "Environment": {"Variables": {...}}}. Unknown top-level
    members are ignored. Raises ValidationException listing every failure, or InvalidParameterValueException
    for the special cases of the module docstring.
    """
    shape = service_model().operation_model(operation).input_shape
    if shape is None:
        return
    runtime = params.get("Runtime") if operation in RUNTIME_OPERATIONS else None
    name = params.get("FunctionName") if operation == "CreateFunction" else None
    bare_name = name if isinstance(name, str) and ":" not in name else None
    skip = {"Runtime"} if isinstance(runtime, str) else set()
    if bare_name is not None:
        skip.add("FunctionName")
    failures = shape_failures(shape, params, max_timeout=max_timeout, skip=frozenset(skip))
    if failures:
        raise ValidationException(message(failures))
    if bare_name is not None:
        name_shape = shape.members["FunctionName"]
        constraints = _string_failures(name_shape, bare_name, (1, BARE_NAME_MAX))
        if constraints:
            raise InvalidParameterValueException(
                message([_failure("functionName", bare_name, c, False) for c in constraints]))
    if isinstance(runtime, str):
        check_runtime_value(runtime)


def _path(parent: str, member: str) -> str:
    name = member[:1].lower() + member[1:]
    return f"{parent}.{name}" if parent else name


JAVA_STRING_DEPTH = 32  # deeper lists and maps are rendered "[...]" / "{...}" (no recursion limit)


def java_string(value: object, depth: int = 0) -> str:
    """How Java's toString renders a deserialized JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        if "e" in text:
            mantissa, exponent = text.split("e")
            text = f"{mantissa if '.' in mantissa else mantissa + '.0'}E{int(exponent)}"
        return text
    if isinstance(value, list):
        if depth >= JAVA_STRING_DEPTH:
            return "[...]"
        return "[" + ", ".join(java_string(item, depth + 1) for item in value) + "]"
    if isinstance(value, dict):
        if depth >= JAVA_STRING_DEPTH:
            return "{...}"
        return "{" + ", ".join(f"{k}={java_string(v, depth + 1)}" for k, v in value.items()) + "}"
    if isinstance(value, bytes | bytearray):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    return str(value)


def _failure(path: str, value: object, constraint: str, sensitive: bool) -> str:
    shown = "Value" if sensitive else "Value null" if value is None else f"Value '{java_string(value)}'"
    return f"{shown} at '{path}' failed to satisfy constraint: {constraint}"


@functools.cache
def _code_points(scope: str) -> dict[str, list[int]]:
    """Code points by Unicode general category: of the characters that are \\w or \\s ("word"), or of all."""
    every = array.array("I", range(sys.maxunicode + 1)).tobytes().decode("utf-32-le", "surrogatepass")
    table: dict[str, list[int]] = {}
    for run in re.findall(r"[\w\s]+", every) if scope == "word" else [every]:
        for char in run:
            table.setdefault(unicodedata.category(char), []).append(ord(char))
    return table


@functools.cache
def _category_ranges(category: str) -> str:
    """A Unicode general category (Java's \\p{L}) as code point ranges for a Python character class."""
    # Letters, numbers and separators are all \w or \s in Python: only those need scanning.
    table = _code_points("word" if category[0] in "LNZ" else "all")
    codes = sorted(code for name, points in table.items() if name.startswith(category) for code in points)
    spans: list[list[int]] = []
    for code in codes:
        if spans and spans[-1][1] == code - 1:
            spans[-1][1] = code
        else:
            spans.append([code, code])
    return "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in spans)


@functools.cache
def compiled(pattern: str) -> re.Pattern:
    """A model (Java) pattern as a Python regular expression; AWS requires a full match."""

    def category(match: re.Match) -> str:
        ranges = _category_ranges(match[1])
        inside = pattern.rfind("[", 0, match.start()) > pattern.rfind("]", 0, match.start())
        return ranges if inside else f"[{ranges}]"

    return re.compile(_CATEGORY.sub(category, pattern), re.ASCII)


def _type_ok(shape: Shape, value: object) -> bool:
    kinds = _TYPES[shape.type_name][0] if shape.type_name in _TYPES else (object,)
    return isinstance(value, kinds) and (shape.type_name == "boolean" or not isinstance(value, bool))


def _blob_length(value: str | bytes | bytearray) -> int:
    if isinstance(value, str):  # base64 text in a JSON body
        return len(value) * 3 // 4 - value[-2:].count("=")
    return len(value)


def _string_failures(shape: Shape, value: str, bounds: tuple[int | None, int | None]) -> list[str]:
    low, high = bounds
    failures = []
    if low is not None and len(value) < low:
        failures.append(f"Member must have length greater than or equal to {low}")
    if high is not None and len(value) > high:
        failures.append(f"Member must have length less than or equal to {high}")
    pattern = shape.metadata.get("pattern")
    if pattern is not None and compiled(pattern).fullmatch(value) is None:
        failures.append(f"Member must satisfy regular expression pattern: {pattern}")
    if shape.enum and value not in shape.enum:
        values = ENUM_ORDER.get(shape.name, shape.enum)
        failures.append(f"Member must satisfy enum value set: [{', '.join(values)}]")
    return failures


class _Checker:
    def __init__(self, max_timeout: int) -> None:
        self.max_timeout = max_timeout
        self.failures: list[str] = []

    def bounds(self, shape: Shape) -> tuple:
        if shape.name == "Timeout":
            return 1, self.max_timeout
        return RANGE_OVERRIDES.get(shape.name, (shape.metadata.get("min"), shape.metadata.get("max")))

    def constraints(self, shape: Shape, value: object) -> list[str]:
        """The failed constraints of one value, not looking inside lists and maps."""
        if value is None:
            return ["Member must not be null"]
        if not _type_ok(shape, value):
            return [f"Member must be {_TYPES[shape.type_name][1]}"]
        low, high = self.bounds(shape)
        if shape.type_name == "string":
            return _string_failures(shape, value, (low, high))
        if shape.type_name in ("integer", "long", "double"):
            if low is not None and value < low:
                return [f"Member must have value greater than or equal to {low}"]
            if high is not None and value > high:
                return [f"Member must have value less than or equal to {high}"]
            return []
        if shape.type_name in ("list", "map", "blob"):
            size = _blob_length(value) if shape.type_name == "blob" else len(value)
            if low is not None and size < low:
                return [f"Member must have length greater than or equal to {low}"]
            if high is not None and size > high:
                return [f"Member must have length less than or equal to {high}"]
        return []

    def value(self, shape: Shape, value: object, path: str, sensitive: bool) -> None:
        sensitive = sensitive or bool(shape.metadata.get("sensitive"))
        if shape.type_name == "double" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        failed = self.constraints(shape, value)
        self.failures += [_failure(path, value, c, sensitive) for c in failed]
        if not _type_ok(shape, value):
            return
        if shape.type_name == "structure":
            self.structure(shape, value, path, sensitive)
        elif shape.type_name == "list":
            self.items(shape.member, value, path, sensitive)
        elif shape.type_name == "map":
            self.entries(shape, value, path, sensitive)

    def structure(self, shape: Shape, value: dict, path: str, sensitive: bool,
                  skip: frozenset[str] = frozenset()) -> None:
        for name, member in shape.members.items():
            if name in skip:
                continue
            if value.get(name) is None:  # JSON null is an absent member
                if name in shape.required_members:
                    self.failures.append(_failure(_path(path, name), None, "Member must not be null", False))
                continue
            self.value(member, value[name], _path(path, name), sensitive)

    def items(self, member: Shape, value: list, path: str, sensitive: bool) -> None:
        if member.type_name in ("structure", "list", "map"):
            for index, item in enumerate(value, 1):
                self.value(member, item, f"{path}.{index}.member", sensitive)
            return
        failures = [self.constraints(member, item) for item in value]
        self.summary(path, value, "Member must satisfy constraint", failures,
                     sensitive or bool(member.metadata.get("sensitive")))

    def entries(self, shape: Shape, value: dict, path: str, sensitive: bool) -> None:
        failures = [self.constraints(shape.key, key) for key in value]
        self.summary(path, value, "Map keys must satisfy constraint", failures,
                     sensitive or bool(shape.key.metadata.get("sensitive")))
        if shape.value.type_name in ("structure", "list", "map"):
            for key, item in value.items():
                self.value(shape.value, item, f"{path}.{key}", sensitive)
            return
        failures = [self.constraints(shape.value, item) for item in value.values()]
        self.summary(path, value, "Map value must satisfy constraint", failures,
                     sensitive or bool(shape.value.metadata.get("sensitive")))

    def summary(self, path: str, value: object, lead: str, failures: list[list[str]],
                sensitive: bool) -> None:
        unique = list(dict.fromkeys(c for item in failures for c in item))
        if unique:
            self.failures.append(_failure(path, value, f"{lead}: [{', '.join(unique)}]", sensitive))
