"""What an EventBridge target receives: the event, its `Input`, its `InputPath` selection or its
`InputTransformer` rendering (reference 3.6), and the PutTargets checks of those fields.

Pure functions. JSONPath is the subset EventBridge documents for targets: `$`, `.name` steps and
`[n]` / `['name']` subscripts. An `InputTemplate` placeholder `<name>` outside a JSON string
receives the selected JSON value (a string with its quotes, a path that selects nothing as
`null`); inside a string the value is spliced in as text (strings raw, other values as their
JSON, nothing for a missing path), escaped so the string stays valid JSON. The predefined
placeholders are `<aws.events.rule-arn>`, `<aws.events.rule-name>`,
`<aws.events.event.ingestion-time>`, `<aws.events.event>` and `<aws.events.event.json>`.
Imports nothing from lamina.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\[(?:'([^']*)'|\"([^\"]*)\")\]")
_PLACEHOLDER = re.compile(r"<([^<>\s]+)>")
PREDEFINED = ("aws.events.rule-arn", "aws.events.rule-name", "aws.events.event.ingestion-time",
              "aws.events.event", "aws.events.event.json")
_MISSING = object()


class InvalidPath(ValueError):
    pass


@dataclass(frozen=True)
class Context:
    """What the predefined placeholders name for one delivery."""

    rule_arn: str
    rule_name: str
    ingestion_time: str


def compile_path(path: str) -> list[str | int]:
    """The steps of a JSONPath (`$.detail.items[0]`); InvalidPath when outside the supported subset."""
    if not isinstance(path, str) or not path.startswith("$"):
        raise InvalidPath(path)
    steps: list[str | int] = []
    position = 1
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            raise InvalidPath(path)
        name, index, quoted1, quoted2 = match.groups()
        if index is not None:
            steps.append(int(index))
        else:
            steps.append(next(part for part in (name, quoted1, quoted2) if part is not None))
        position = match.end()
    return steps


def select(document: Any, path: str) -> Any:
    """The value `path` selects in `document`, or `_MISSING`."""
    value = document
    for step in compile_path(path):
        if isinstance(step, int) and isinstance(value, list) and step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict) and step in value:
            value = value[step]
        else:
            return _MISSING
    return value


def placeholders(template: str) -> list[str]:
    return _PLACEHOLDER.findall(template)


def check(target: dict) -> str | None:
    """AWS's ValidationException text for a target whose input fields do not go together, or None."""
    target_id = target.get("Id")
    given = [key for key in ("Input", "InputPath", "InputTransformer") if key in target]
    if len(given) > 1:
        return f"Only one of Input, InputPath, or InputTransformer must be provided for target {target_id}."
    if "Input" in target:
        try:
            json.loads(target["Input"])
        except ValueError:
            return f"Input for target {target_id} is not valid JSON text."
    if "InputPath" in target:
        try:
            compile_path(target["InputPath"])
        except InvalidPath:
            return f"InputPath for target {target_id} is not a valid JsonPath."
    transformer = target.get("InputTransformer")
    if transformer is not None:
        paths = transformer.get("InputPathsMap") or {}
        for key, path in paths.items():
            if key.startswith("aws.events."):
                return f"InputTransformer for target {target_id} contains reserved placeholder {key}."
            try:
                compile_path(path)
            except InvalidPath:
                return f"InputPathsMap for target {target_id} contains invalid JsonPath {path}."
        for name in placeholders(transformer["InputTemplate"]):
            if name not in paths and name not in PREDEFINED:
                return f"InputTemplate for target {target_id} contains invalid placeholder {name}."
    return None


def render(target: dict, event: dict, context: Context) -> bytes:
    """The payload the target receives for `event` (its envelope as a decoded object)."""
    if "Input" in target:
        return target["Input"].encode()
    if "InputPath" in target:
        value = select(event, target["InputPath"])
        return json.dumps(None if value is _MISSING else value, separators=(",", ":")).encode()
    transformer = target.get("InputTransformer")
    if transformer is not None:
        return _transform(transformer, event, context).encode()
    return json.dumps(event, separators=(",", ":")).encode()


def _value(name: str, paths: dict, event: dict, context: Context) -> Any:
    if name == "aws.events.rule-arn":
        return context.rule_arn
    if name == "aws.events.rule-name":
        return context.rule_name
    if name == "aws.events.event.ingestion-time":
        return context.ingestion_time
    if name in ("aws.events.event", "aws.events.event.json"):
        return event
    if name in paths:
        return select(event, paths[name])
    return _MISSING


def _transform(transformer: dict, event: dict, context: Context) -> str:
    template: str = transformer["InputTemplate"]
    paths = transformer.get("InputPathsMap") or {}
    out: list[str] = []
    in_string = escaped = False
    position = 0
    while position < len(template):
        char = template[position]
        match = _PLACEHOLDER.match(template, position) if char == "<" else None
        if match is not None and (match[1] in paths or match[1] in PREDEFINED):
            value = _value(match[1], paths, event, context)
            if in_string:
                text = "" if value is _MISSING else value if isinstance(value, str) else json.dumps(value)
                out.append(json.dumps(text)[1:-1])
            else:
                out.append(json.dumps(None if value is _MISSING else value, separators=(",", ":")))
            position = match.end()
            continue
        if escaped:
            escaped = False
        elif char == "\\" and in_string:
            escaped = True
        elif char == '"':
            in_string = not in_string
        out.append(char)
        position += 1
    return "".join(out)
