"""lamina.sam.template: YAML with CloudFormation's short forms, and errors that say where."""

from __future__ import annotations

import pytest

from lamina.sam.template import TemplateError, loads

SHORT_FORMS = [
    ("!Ref Param", {"Ref": "Param"}),
    ("!GetAtt Fn.Arn", {"Fn::GetAtt": ["Fn", "Arn"]}),
    ("!GetAtt [Fn, Arn]", {"Fn::GetAtt": ["Fn", "Arn"]}),
    ("!Sub 'arn:${AWS::Region}:x'", {"Fn::Sub": "arn:${AWS::Region}:x"}),
    ("!Join ['-', [a, !Ref B]]", {"Fn::Join": ["-", ["a", {"Ref": "B"}]]}),
    ("!If [IsProd, 1024, 128]", {"Fn::If": ["IsProd", 1024, 128]}),
    ("!Equals [!Ref Env, prod]", {"Fn::Equals": [{"Ref": "Env"}, "prod"]}),
    ("!Select [0, !Split [',', 'a,b']]", {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]}),
    ("!Sub ['${A}', {A: !Ref X}]", {"Fn::Sub": ["${A}", {"A": {"Ref": "X"}}]}),
]


@pytest.mark.parametrize(("text", "expected"), SHORT_FORMS)
def test_short_forms_become_long_forms(text, expected):
    assert loads(f"Resources:\n  R:\n    Value: {text}\n")["Resources"]["R"]["Value"] == expected


def test_dates_stay_strings_and_json_templates_load():
    assert loads("AWSTemplateFormatVersion: 2010-09-09\nResources: {}\n")["AWSTemplateFormatVersion"] == "2010-09-09"
    assert loads('{"Resources": {"R": {"Type": "X"}}}')["Resources"]["R"]["Type"] == "X"


ERRORS = [
    ("Resources:\n  R: [unclosed\n", "t.yaml:3:1"),
    ("Resources:\n  R:\n    V: !Foo bar\n", "t.yaml:3:8: unknown tag !Foo"),
    ("- a\n- b\n", "t.yaml:1:1: a template is a mapping"),
    ("Outputs: {}\n", "no Resources mapping"),
    ("Resources:\n  R: !!python/object:os.system x\n", "t.yaml:2:6"),
]


@pytest.mark.parametrize(("text", "where"), ERRORS)
def test_errors_name_the_location(text, where):
    with pytest.raises(TemplateError) as caught:
        loads(text, "t.yaml")
    assert where in str(caught.value)
