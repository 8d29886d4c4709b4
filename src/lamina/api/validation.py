"""Request validation driven by botocore's service model: lengths, patterns, enums, ranges, sizes.

botocore checks only `required` and `min` on the client; the server checks everything the
model states and answers with AWS's text: "N validation error(s) detected: Value 'v' at 'path'
failed to satisfy constraint: ...". Paths are member names with a lower-case first letter
joined by `.`; values are rendered as AWS's Java service renders them (lists `[a, b]`, maps
`{k=v}`); values of members the model marks sensitive are left out ("Value at 'path' ...").
lamina's own limits replace the model's where the developer guide is stricter (Timeout,
MemorySize, EphemeralStorage). Imports lamina.errors only.
"""

from __future__ import annotations

import functools
import re

import botocore.session

from lamina.errors import InvalidParameterValueException, ValidationException

RUNTIME_OPERATIONS = frozenset({"CreateFunction", "UpdateFunctionConfiguration"})
# (shape name, member) → (min, max); None = the configured maximum timeout.
RANGE_OVERRIDES = {"MemorySize": (128, 10240), "EphemeralStorageSize": (512, 10240), "Timeout": (1, None)}


@functools.cache
def _model():
    return botocore.session.get_session().get_service_model("lambda")


@functools.cache
def _regex(pattern: str) -> re.Pattern | None:
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


def render(value: object) -> str:
    """A value as AWS's Java service prints it in validation messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{render(k)}={render(v)}" for k, v in value.items()) + "}"
    return str(value)


def _lower(name: str) -> str:
    return name[:1].lower() + name[1:]


class _Checker:
    def __init__(self, max_timeout: int) -> None:
        self.max_timeout = max_timeout
        self.errors: list[tuple[str, str, str | None]] = []  # (path, constraint, rendered value or None)

    def fail(self, path: str, value: object, constraint: str, sensitive: bool) -> None:
        self.errors.append((path, constraint, None if sensitive else render(value)))

    def problems(self, shape, value, sensitive: bool = False) -> list[str]:
        """Constraint failures of a scalar value against its shape (no recursion)."""
        meta = shape.metadata
        kind = shape.type_name
        out: list[str] = []
        if kind == "string":
            if not isinstance(value, str):
                return ["Member must be a string"]
            if "min" in meta and len(value) < meta["min"]:
                out.append(f"Member must have length greater than or equal to {meta['min']}")
            if "max" in meta and len(value) > meta["max"]:
                out.append(f"Member must have length less than or equal to {meta['max']}")
            regex = _regex(meta["pattern"]) if "pattern" in meta else None
            if regex is not None and regex.fullmatch(value) is None:
                out.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
            if "enum" in meta and value not in meta["enum"]:
                out.append(f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]")
        elif kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                return ["Member must be a number"]
            low, high = meta.get("min"), meta.get("max")
            if shape.name in RANGE_OVERRIDES:
                low, high = RANGE_OVERRIDES[shape.name]
                high = self.max_timeout if high is None else high
            if low is not None and value < low:
                out.append(f"Member must have value greater than or equal to {low}")
            if high is not None and value > high:
                out.append(f"Member must have value less than or equal to {high}")
        elif kind == "boolean" and not isinstance(value, bool):
            out.append("Member must be a boolean")
        elif kind in ("double", "float") and (isinstance(value, bool) or not isinstance(value, int | float)):
            out.append("Member must be a number")
        return out

    def walk(self, shape, value, path: str, sensitive: bool = False) -> None:
        sensitive = sensitive or bool(shape.metadata.get("sensitive"))
        kind = shape.type_name
        if kind == "structure":
            if not isinstance(value, dict):
                self.fail(path, value, "Member must be an object", sensitive)
                return
            for name in shape.required_members:
                if value.get(name) is None:
                    self.fail(f"{path}.{_lower(name)}" if path else _lower(name), None, "Member must not be null",
                              False)
            for name, member in shape.members.items():
                if value.get(name) is not None:
                    self.walk(member, value[name], f"{path}.{_lower(name)}" if path else _lower(name), sensitive)
        elif kind == "list":
            if not isinstance(value, list):
                self.fail(path, value, "Member must be a list", sensitive)
                return
            self._size(shape, value, path, sensitive)
            inner = [p for item in value for p in self._nested(shape.member, item, sensitive)]
            if inner:
                self.fail(path, value, f"Member must satisfy constraint: [{inner[0]}]", sensitive)
        elif kind == "map":
            if not isinstance(value, dict):
                self.fail(path, value, "Member must be a map", sensitive)
                return
            self._size(shape, value, path, sensitive)
            keys = [p for key in value for p in self._nested(shape.key, key, sensitive)]
            if keys:
                self.fail(path, value, f"Map keys must satisfy constraint: [{keys[0]}]", sensitive)
            values = [p for item in value.values() for p in self._nested(shape.value, item, sensitive)]
            if values:
                self.fail(path, value, f"Map value must satisfy constraint: [{values[0]}]", sensitive)
        else:
            for problem in self.problems(shape, value, sensitive):
                self.fail(path, value, problem, sensitive)

    def _size(self, shape, value, path: str, sensitive: bool) -> None:
        meta = shape.metadata
        if "min" in meta and len(value) < meta["min"]:
            self.fail(path, value, f"Member must have length greater than or equal to {meta['min']}", sensitive)
        if "max" in meta and len(value) > meta["max"]:
            self.fail(path, value, f"Member must have length less than or equal to {meta['max']}", sensitive)

    def _nested(self, shape, value, sensitive: bool) -> list[str]:
        if shape.type_name in ("structure", "list", "map"):
            nested = _Checker(self.max_timeout)
            nested.walk(shape, value, "", sensitive)
            return [constraint for _, constraint, _ in nested.errors]
        return self.problems(shape, value, sensitive)


def message(errors: list[tuple[str, str, str | None]]) -> str:
    count = len(errors)
    parts = [
        (f"Value '{value}' at '{path}'" if value is not None else f"Value at '{path}'")
        + f" failed to satisfy constraint: {constraint}"
        for path, constraint, value in errors
    ]
    return f"{count} validation error{'s' if count != 1 else ''} detected: " + "; ".join(parts)


def validate(operation: str, params: dict, *, max_timeout: int = 900) -> None:
    """Check `params` (an operation's input members by model name) against the service model.

    Raises ValidationException listing every failure; InvalidParameterValueException for an
    unknown Runtime (AWS's "... or be a valid ARN" text) and for a bad name on CreateFunction.
    """
    shape = _model().operation_model(operation).input_shape
    if shape is None:
        return
    checker = _Checker(max_timeout)
    checker.walk(shape, params, "")
    if not checker.errors:
        return
    if operation in RUNTIME_OPERATIONS:
        for path, constraint, value in checker.errors:
            if path == "runtime" and constraint.startswith("Member must satisfy enum value set"):
                raise InvalidParameterValueException(
                    f"Value {value} at 'runtime' failed to satisfy constraint: {constraint} or be a valid ARN"
                )
    text = message(checker.errors)
    if operation == "CreateFunction" and any(path == "functionName" for path, _, _ in checker.errors):
        raise InvalidParameterValueException(text)
    raise ValidationException(text)
