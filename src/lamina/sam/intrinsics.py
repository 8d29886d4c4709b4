"""CloudFormation's intrinsic functions, evaluated: what a property's value is once deployed.

Pure. A `Context` knows the parameter values (pseudo parameters included), the conditions' truth,
the Mappings, and how to read a deployed resource's Ref and attributes (callables, so the deploy
hands in what it has created so far). `resolve(value, context, where)` returns plain JSON;
`references(value)` lists the resources a value needs, for ordering. A function lamina does not
evaluate, or one used wrongly, raises `IntrinsicError` naming where it is. Imports nothing from
lamina but lamina.sam.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

NO_VALUE = object()  # AWS::NoValue: the property is left out
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


class IntrinsicError(ValueError):
    """An intrinsic that cannot be evaluated; the message starts with where it is."""


@dataclass
class Context:
    parameters: dict[str, Any]
    conditions: dict[str, bool] = field(default_factory=dict)
    mappings: dict[str, Any] = field(default_factory=dict)
    ref: Callable[[str], Any] = lambda logical_id: None
    attribute: Callable[[str, str], Any] = lambda logical_id, name: None
    resources: frozenset[str] = frozenset()


def resolve(value: Any, context: Context, where: str) -> Any:
    """`value` with every intrinsic evaluated (`AWS::NoValue` members removed)."""
    if isinstance(value, list):
        items = (resolve(v, context, f"{where}[{i}]") for i, v in enumerate(value))
        return [v for v in items if v is not NO_VALUE]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref" or key.startswith("Fn::") or key == "Condition":
            function = _FUNCTIONS.get(key)
            if function is None:
                raise IntrinsicError(f"{where}: lamina does not evaluate {key}")
            return function(arg, context, f"{where}.{key}")
    out = {}
    for key, item in value.items():
        resolved = resolve(item, context, f"{where}.{key}")
        if resolved is not NO_VALUE:
            out[key] = resolved
    return out


def references(value: Any) -> set[str]:
    """Logical ids `value` refers to through Ref, Fn::GetAtt and Fn::Sub (parameters included:
    callers keep the resource names)."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                target = arg[0] if isinstance(arg, list) and arg else str(arg).split(".", 1)[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) and arg else arg
                names = set(arg[1]) if isinstance(arg, list) and len(arg) > 1 and isinstance(arg[1], dict) else set()
                if isinstance(text, str):
                    found |= {m.split(".", 1)[0] for m in _SUB.findall(text)} - names
                if isinstance(arg, list) and len(arg) > 1:
                    found |= references(arg[1])
            else:
                found |= references(arg)
    return found


def evaluate_conditions(template: dict, context: Context) -> dict[str, bool]:
    """Every entry of the template's Conditions (which may use each other through `Condition`)."""
    definitions = template.get("Conditions") or {}
    results: dict[str, bool] = {}
    visiting: set[str] = set()

    class Lazy(dict):
        def __contains__(self, name: object) -> bool:
            return name in definitions

        def __getitem__(self, name: str) -> bool:
            return evaluate(name)

    def evaluate(name: str) -> bool:
        if name not in results:
            if name in visiting:
                raise IntrinsicError(f"Conditions.{name}: the conditions refer to each other in a cycle")
            visiting.add(name)
            scoped = Context(context.parameters, Lazy(), context.mappings, context.ref, context.attribute,
                             context.resources)
            value = resolve(definitions[name], scoped, f"Conditions.{name}")
            if not isinstance(value, bool):
                raise IntrinsicError(f"Conditions.{name}: a condition is Fn::Equals, Fn::And, Fn::Or or Fn::Not")
            results[name] = value
        return results[name]

    for name in definitions:
        evaluate(name)
    return results


def _ref(arg: Any, context: Context, where: str) -> Any:
    if not isinstance(arg, str):
        raise IntrinsicError(f"{where}: takes a name")
    if arg == "AWS::NoValue":
        return NO_VALUE
    if arg in context.parameters:
        return context.parameters[arg]
    if arg in context.resources:
        return context.ref(arg)
    raise IntrinsicError(f"{where}: {arg} is neither a parameter nor a resource of the template")


def _get_att(arg: Any, context: Context, where: str) -> Any:
    if isinstance(arg, str):
        arg = arg.split(".", 1)
    if not (isinstance(arg, list) and len(arg) == 2 and all(isinstance(a, str) for a in arg)):
        raise IntrinsicError(f"{where}: takes [LogicalId, Attribute]")
    if arg[0] not in context.resources:
        raise IntrinsicError(f"{where}: {arg[0]} is not a resource of the template")
    return context.attribute(arg[0], arg[1])


def _sub(arg: Any, context: Context, where: str) -> str:
    if isinstance(arg, list):
        if len(arg) != 2 or not isinstance(arg[0], str) or not isinstance(arg[1], dict):
            raise IntrinsicError(f"{where}: takes a string, or [string, {{name: value}}]")
        text, variables = arg[0], {k: resolve(v, context, f"{where}[1].{k}") for k, v in arg[1].items()}
    elif isinstance(arg, str):
        text, variables = arg, {}
    else:
        raise IntrinsicError(f"{where}: takes a string, or [string, {{name: value}}]")

    def value_of(match: re.Match) -> str:
        name = match[1].strip()
        if name in variables:
            return _text(variables[name], where)
        if "." in name and not name.startswith("AWS::"):
            return _text(_get_att(name.split(".", 1), context, where), where)
        return _text(_ref(name, context, where), where)

    return _SUB.sub(value_of, text).replace("${!", "${")


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise IntrinsicError(f"{where}: a substituted value must be a string or a number")


def _join(arg: Any, context: Context, where: str) -> str:
    if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)):
        raise IntrinsicError(f"{where}: takes [delimiter, [values]]")
    values = resolve(arg[1], context, f"{where}[1]")
    if not isinstance(values, list):
        raise IntrinsicError(f"{where}: takes [delimiter, [values]]")
    return arg[0].join(_text(v, where) for v in values)


def _if(arg: Any, context: Context, where: str) -> Any:
    if not (isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str)):
        raise IntrinsicError(f"{where}: takes [condition, value if true, value if false]")
    if arg[0] not in context.conditions:
        raise IntrinsicError(f"{where}: no condition named {arg[0]}")
    return resolve(arg[1] if context.conditions[arg[0]] else arg[2], context, where)


def _equals(arg: Any, context: Context, where: str) -> bool:
    if not (isinstance(arg, list) and len(arg) == 2):
        raise IntrinsicError(f"{where}: takes [value, value]")
    left, right = (resolve(a, context, where) for a in arg)
    return _text(left, where) == _text(right, where) if not isinstance(left, (list, dict)) else left == right


def _condition(arg: Any, context: Context, where: str) -> bool:
    if arg not in context.conditions:
        raise IntrinsicError(f"{where}: no condition named {arg}")
    return context.conditions[arg]


def _logical(name: str):
    def function(arg: Any, context: Context, where: str) -> bool:
        if not isinstance(arg, list) or not arg:
            raise IntrinsicError(f"{where}: takes a list of conditions")
        parts = [resolve(a, context, f"{where}[{i}]") for i, a in enumerate(arg)]
        if not all(isinstance(p, bool) for p in parts):
            raise IntrinsicError(f"{where}: takes conditions")
        if name == "not":
            if len(parts) != 1:
                raise IntrinsicError(f"{where}: takes a list of one condition")
            return not parts[0]
        return all(parts) if name == "and" else any(parts)

    return function


def _select(arg: Any, context: Context, where: str) -> Any:
    if not (isinstance(arg, list) and len(arg) == 2):
        raise IntrinsicError(f"{where}: takes [index, [values]]")
    index, values = resolve(arg[0], context, where), resolve(arg[1], context, where)
    try:
        return values[int(index)]
    except (ValueError, TypeError, IndexError):
        raise IntrinsicError(f"{where}: index {index!r} is not in the list") from None


def _split(arg: Any, context: Context, where: str) -> list[str]:
    if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)):
        raise IntrinsicError(f"{where}: takes [delimiter, string]")
    return _text(resolve(arg[1], context, where), where).split(arg[0])


def _find_in_map(arg: Any, context: Context, where: str) -> Any:
    if not (isinstance(arg, list) and len(arg) == 3):
        raise IntrinsicError(f"{where}: takes [map, top-level key, second-level key]")
    name, top, second = (resolve(a, context, where) for a in arg)
    try:
        return context.mappings[name][top][second]
    except (KeyError, TypeError):
        raise IntrinsicError(f"{where}: Mappings has no {name}.{top}.{second}") from None


def _base64(arg: Any, context: Context, where: str) -> str:
    return base64.b64encode(_text(resolve(arg, context, where), where).encode()).decode()


def _to_json_string(arg: Any, context: Context, where: str) -> str:
    return json.dumps(resolve(arg, context, where), separators=(",", ":"))


_FUNCTIONS: dict[str, Callable[[Any, Context, str], Any]] = {
    "Ref": _ref, "Fn::GetAtt": _get_att, "Fn::Sub": _sub, "Fn::Join": _join, "Fn::If": _if,
    "Fn::Equals": _equals, "Fn::And": _logical("and"), "Fn::Or": _logical("or"), "Fn::Not": _logical("not"),
    "Condition": _condition, "Fn::Select": _select, "Fn::Split": _split, "Fn::FindInMap": _find_in_map,
    "Fn::Base64": _base64, "Fn::ToJsonString": _to_json_string,
}
