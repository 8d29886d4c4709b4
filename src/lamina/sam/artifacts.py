"""What a template asks to be built: one `Artifact` per function or layer with local code.

Pure: reads the template mapping (lamina.sam.template) and answers which directories become which
zips for which runtime and architecture, after `Globals` and `Parameters` (defaults and overrides)
are applied. Resources whose code is not a local directory (S3 locations, InlineCode, container
images) are listed as `Skipped` with the reason. Imports nothing from lamina but lamina.sam.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

FUNCTION = "AWS::Serverless::Function"
LAYER = "AWS::Serverless::LayerVersion"
ARCHITECTURES = ("x86_64", "arm64")


class ArtifactError(ValueError):
    """A function or layer whose code cannot be located (the message names the resource and field)."""


@dataclass(frozen=True)
class Artifact:
    """A directory to turn into a deployment zip.

    `layout` is "function" (the tree at the zip's root), "python" or "nodejs" (a layer built for that
    language: the tree under `python/` or `nodejs/`) or "layer" (a layer copied as it is)."""

    logical_id: str
    resource_type: str
    source: Path
    runtime: str | None
    architecture: str
    layout: str

    @property
    def language(self) -> str | None:
        """Which dependency installer applies: "python", "nodejs" or None."""
        key = self.layout if self.layout in ("python", "nodejs") else (self.runtime or "")
        if key.startswith("python"):
            return "python"
        if key.startswith("nodejs"):
            return "nodejs"
        return None


@dataclass(frozen=True)
class Skipped:
    logical_id: str
    reason: str


def plan(template: dict, base_dir: Path, parameters: dict[str, str] | None = None) -> list[Artifact | Skipped]:
    """Every function and layer of `template`, in template order, as an Artifact or a Skipped."""
    params = _parameter_values(template, parameters or {})
    defaults = ((template.get("Globals") or {}).get("Function") or {})
    out: list[Artifact | Skipped] = []
    for logical_id, resource in template["Resources"].items():
        if not isinstance(resource, dict):
            raise ArtifactError(f"Resources.{logical_id}: a resource is a mapping with a Type")
        kind = resource.get("Type")
        props = resource.get("Properties") or {}
        if kind == FUNCTION:
            out.append(_function(logical_id, props, defaults, base_dir, params))
        elif kind == LAYER:
            out.append(_layer(logical_id, props, resource.get("Metadata") or {}, base_dir, params))
    return out


def _parameter_values(template: dict, overrides: dict[str, str]) -> dict[str, Any]:
    declared = template.get("Parameters") or {}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise ArtifactError(f"Parameters: {', '.join(unknown)} is not a parameter of the template")
    values = {name: spec.get("Default") for name, spec in declared.items() if isinstance(spec, dict)}
    values.update(overrides)
    return values


def _value(props: dict, defaults: dict, key: str, params: dict, where: str) -> Any:
    return _resolve(props.get(key, defaults.get(key)), params, f"{where}.{key}")


def _resolve(value: Any, params: dict, where: str) -> Any:
    """`value` with each `!Ref` to a template parameter replaced by the parameter's value."""
    if isinstance(value, list):
        return [_resolve(v, params, where) for v in value]
    if isinstance(value, dict) and set(value) == {"Ref"}:
        name = value["Ref"]
        if params.get(name) is None:
            raise ArtifactError(f"{where}: !Ref {name} has no value (give a default or an override)")
        return params[name]
    return value


def _function(logical_id: str, props: dict, defaults: dict, base_dir: Path, params: dict) -> Artifact | Skipped:
    where = f"Resources.{logical_id}.Properties"
    if _value(props, defaults, "PackageType", params, where) == "Image":
        return Skipped(logical_id, "a container image function (PackageType: Image) has no zip to build")
    if "InlineCode" in props:
        return Skipped(logical_id, "InlineCode is deployed as it is written")
    code_uri = _value(props, defaults, "CodeUri", params, where)
    architectures = _value(props, defaults, "Architectures", params, where) or ["x86_64"]
    if not isinstance(architectures, list) or len(architectures) != 1 or architectures[0] not in ARCHITECTURES:
        raise ArtifactError(f"{where}.Architectures: one of {', '.join(ARCHITECTURES)} (a list of one)")
    runtime = _value(props, defaults, "Runtime", params, where)
    source = _local(code_uri, base_dir, f"{where}.CodeUri", logical_id)
    if isinstance(source, Skipped):
        return source
    if not runtime:
        raise ArtifactError(f"{where}.Runtime: a zip function needs a Runtime")
    return Artifact(logical_id, FUNCTION, source, str(runtime), architectures[0], "function")


def _layer(logical_id: str, props: dict, metadata: dict, base_dir: Path, params: dict) -> Artifact | Skipped:
    where = f"Resources.{logical_id}.Properties"
    source = _local(_value(props, {}, "ContentUri", params, where), base_dir, f"{where}.ContentUri", logical_id)
    if isinstance(source, Skipped):
        return source
    method = metadata.get("BuildMethod")
    architecture = metadata.get("BuildArchitecture", "x86_64")
    if architecture not in ARCHITECTURES:
        raise ArtifactError(f"Resources.{logical_id}.Metadata.BuildArchitecture: one of {', '.join(ARCHITECTURES)}")
    if method is None or method == "makefile":
        if method == "makefile":
            raise ArtifactError(f"Resources.{logical_id}.Metadata.BuildMethod: lamina does not run makefile builds")
        return Artifact(logical_id, LAYER, source, None, architecture, "layer")
    if not isinstance(method, str) or not method.startswith(("python", "nodejs")):
        raise ArtifactError(f"Resources.{logical_id}.Metadata.BuildMethod: a pythonX.Y or nodejsN.x runtime")
    return Artifact(logical_id, LAYER, source, method, architecture,
                    "python" if method.startswith("python") else "nodejs")


def _local(code_uri: Any, base_dir: Path, where: str, logical_id: str) -> Path | Skipped:
    if code_uri is None:
        raise ArtifactError(f"{where}: missing (the directory with the code)")
    if isinstance(code_uri, dict) or (isinstance(code_uri, str) and code_uri.startswith("s3://")):
        return Skipped(logical_id, "its code is an S3 location, deployed as it is")
    if not isinstance(code_uri, str):
        raise ArtifactError(f"{where}: a path to a directory")
    path = (base_dir / code_uri).resolve()
    if path.is_file() and path.suffix == ".zip":
        return Skipped(logical_id, "its code is a prebuilt zip, deployed as it is")
    if not path.is_dir():
        raise ArtifactError(f"{where}: {code_uri} is not a directory next to the template")
    return path
