"""lamina.sam.artifacts: which directories a template builds, after Globals and Parameters."""

from __future__ import annotations

import pytest

from lamina.sam.artifacts import FUNCTION, LAYER, Artifact, ArtifactError, Skipped, plan


@pytest.fixture
def base(tmp_path):
    for name in ("a", "b", "layer"):
        (tmp_path / name).mkdir()
    (tmp_path / "prebuilt.zip").write_bytes(b"PK")
    return tmp_path


def template(resources, **extra):
    return {"Resources": resources, **extra}


def fn(**props):
    return {"Type": FUNCTION, "Properties": props}


def test_globals_parameters_and_layers(base):
    planned = plan(template(
        {"A": fn(CodeUri="a"), "B": fn(CodeUri={"Ref": "Code"}, Runtime="nodejs20.x", Architectures=["arm64"]),
         "L": {"Type": LAYER, "Properties": {"ContentUri": "layer"}, "Metadata": {"BuildMethod": "python3.12"}},
         "Raw": {"Type": LAYER, "Properties": {"ContentUri": "layer"}},
         "Queue": {"Type": "AWS::SQS::Queue"}},
        Globals={"Function": {"Runtime": "python3.12", "Handler": "app.handler"}},
        Parameters={"Code": {"Type": "String", "Default": "x"}}), base, {"Code": "b"})
    assert planned == [
        Artifact("A", FUNCTION, base / "a", "python3.12", "x86_64", "function"),
        Artifact("B", FUNCTION, base / "b", "nodejs20.x", "arm64", "function"),
        Artifact("L", LAYER, base / "layer", "python3.12", "x86_64", "python"),
        Artifact("Raw", LAYER, base / "layer", None, "x86_64", "layer"),
    ]
    assert [a.language for a in planned] == ["python", "nodejs", "python", None]


def test_what_is_not_built_is_said(base):
    planned = plan(template({
        "S3": fn(CodeUri="s3://bucket/key.zip", Runtime="python3.12"),
        "S3Map": fn(CodeUri={"Bucket": "b", "Key": "k"}, Runtime="python3.12"),
        "Inline": fn(InlineCode="def handler(e, c): pass", Runtime="python3.12"),
        "Image": fn(PackageType="Image", ImageUri="repo:tag"),
        "Zip": fn(CodeUri="prebuilt.zip", Runtime="python3.12"),
    }), base)
    assert all(isinstance(p, Skipped) for p in planned)
    assert [p.logical_id for p in planned] == ["S3", "S3Map", "Inline", "Image", "Zip"]


BAD = [
    ({"A": fn(Runtime="python3.12")}, {}, "Resources.A.Properties.CodeUri: missing"),
    ({"A": fn(CodeUri="nope", Runtime="python3.12")}, {}, "Resources.A.Properties.CodeUri: nope is not a directory"),
    ({"A": fn(CodeUri="a")}, {}, "Resources.A.Properties.Runtime: a zip function needs a Runtime"),
    ({"A": fn(CodeUri="a", Runtime="python3.12", Architectures=["x86_64", "arm64"])}, {}, "Architectures"),
    ({"A": fn(CodeUri={"Ref": "Missing"}, Runtime="python3.12")}, {}, "!Ref Missing has no value"),
    ({"A": fn(CodeUri="a", Runtime="python3.12")}, {"Nope": "1"}, "Parameters: Nope is not a parameter"),
    ({"L": {"Type": LAYER, "Properties": {"ContentUri": "layer"}, "Metadata": {"BuildMethod": "makefile"}}}, {},
     "does not run makefile builds"),
    ({"A": "not a mapping"}, {}, "Resources.A: a resource is a mapping"),
]


@pytest.mark.parametrize(("resources", "overrides", "message"), BAD)
def test_errors_name_the_resource_and_field(base, resources, overrides, message):
    with pytest.raises(ArtifactError) as caught:
        plan(template(resources), base, overrides)
    assert message in str(caught.value)
