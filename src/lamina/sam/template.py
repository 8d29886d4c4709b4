"""SAM / CloudFormation templates read from disk: YAML with the intrinsic short forms, or JSON.

Turns `!Ref X`, `!GetAtt A.B`, `!Sub ...` and the other `!` tags into their long `Fn::` forms, so
the rest of lamina sees one plain structure. A template that cannot be read raises
`TemplateError` naming the file, line and column (a YAML error, an unknown tag, a template that is
not a mapping): nothing is half-read. Imports nothing from lamina.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

# Short form → long form; GetAtt's scalar "A.B" becomes ["A", "B"].
INTRINSICS = {
    "!Ref": "Ref", "!Condition": "Condition", "!GetAtt": "Fn::GetAtt", "!Sub": "Fn::Sub", "!Join": "Fn::Join",
    "!If": "Fn::If", "!Equals": "Fn::Equals", "!And": "Fn::And", "!Or": "Fn::Or", "!Not": "Fn::Not",
    "!Select": "Fn::Select", "!Split": "Fn::Split", "!FindInMap": "Fn::FindInMap", "!Base64": "Fn::Base64",
    "!GetAZs": "Fn::GetAZs", "!ImportValue": "Fn::ImportValue", "!Cidr": "Fn::Cidr", "!Length": "Fn::Length",
    "!ToJsonString": "Fn::ToJsonString", "!Transform": "Fn::Transform",
}


class TemplateError(ValueError):
    """A template that cannot be read, with where: `path:line:column: problem`."""


class _Loader(yaml.SafeLoader):
    """SafeLoader plus CloudFormation's short-form tags (and nothing that could run code)."""


def _intrinsic(name: str):
    def construct(loader: _Loader, node: yaml.Node) -> dict:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    return construct


def _unknown_tag(loader: _Loader, suffix: str, node: yaml.Node):
    raise yaml.constructor.ConstructorError(
        None, None, f"unknown tag !{suffix}: not a CloudFormation intrinsic function", node.start_mark)


for _tag, _name in INTRINSICS.items():
    _Loader.add_constructor(_tag, _intrinsic(_name))
_Loader.add_multi_constructor("!", _unknown_tag)
# CloudFormation reads `2010-09-09` as a string, not a date, and `on`/`yes` only as strings.
_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:timestamp",)]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def loads(text: str, source: str = "<template>") -> dict:
    """A template's text (YAML or JSON) as a plain mapping."""
    try:
        document = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise TemplateError(f"{where}: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise TemplateError(f"{source}: {error}") from None
    if not isinstance(document, dict):
        raise TemplateError(f"{source}:1:1: a template is a mapping with a Resources section")
    if not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{source}: the template has no Resources mapping")
    return json.loads(json.dumps(document))  # plain JSON types only (no YAML anchors shared between nodes)


def load(path: Path) -> dict:
    """Read the template at `path`."""
    try:
        text = path.read_text()
    except OSError as error:
        raise TemplateError(f"{path}: {error.strerror}") from None
    return loads(text, str(path))
