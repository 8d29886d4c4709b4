"""lamina.sam.intrinsics: CloudFormation's functions evaluated, and errors that say where."""

from __future__ import annotations

import pytest

from lamina.sam.intrinsics import Context, IntrinsicError, evaluate_conditions, references, resolve

PARAMS = {"Env": "prod", "Size": "256", "List": "a,b,c", "AWS::Region": "us-east-1", "AWS::AccountId": "000000000000",
          "AWS::Partition": "aws", "AWS::StackName": "app"}
ARNS = {"Fn": "arn:aws:lambda:us-east-1:000000000000:function:app-Fn"}


def context(conditions=None):
    return Context(PARAMS, conditions or {"IsProd": True, "IsDev": False},
                   {"Sizes": {"prod": {"Memory": 1024}}},
                   ref=lambda lid: f"app-{lid}", attribute=lambda lid, name: f"{ARNS[lid]}#{name}",
                   resources=frozenset({"Fn", "Role"}))


CASES = [
    ({"Ref": "Env"}, "prod"),
    ({"Ref": "Fn"}, "app-Fn"),
    ({"Fn::GetAtt": ["Fn", "Arn"]}, ARNS["Fn"] + "#Arn"),
    ({"Fn::GetAtt": "Fn.Arn"}, ARNS["Fn"] + "#Arn"),
    ({"Fn::Sub": "arn:${AWS::Partition}:x:${AWS::Region}:${AWS::AccountId}:${Env}"}, "arn:aws:x:us-east-1:000000000000:prod"),
    ({"Fn::Sub": "${Fn.Arn}/${Fn}"}, ARNS["Fn"] + "#Arn/app-Fn"),
    ({"Fn::Sub": ["${A}-${Env}", {"A": {"Ref": "Fn"}}]}, "app-Fn-prod"),
    ({"Fn::Sub": "literal ${!Env}"}, "literal ${Env}"),
    ({"Fn::Join": ["-", ["a", {"Ref": "Env"}, 3]]}, "a-prod-3"),
    ({"Fn::If": ["IsProd", 1024, 128]}, 1024),
    ({"Fn::If": ["IsDev", 1024, {"Ref": "AWS::NoValue"}]}, None),  # removed from its parent
    ({"Fn::Select": [1, {"Fn::Split": [",", {"Ref": "List"}]}]}, "b"),
    ({"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Memory"]}, 1024),
    ({"Fn::Base64": "hi"}, "aGk="),
    ({"Fn::Equals": [{"Ref": "Env"}, "prod"]}, True),
    ({"Fn::Not": [{"Fn::Equals": ["a", "b"]}]}, True),
    ({"Fn::And": [{"Condition": "IsProd"}, {"Condition": "IsDev"}]}, False),
    ({"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "IsDev"}]}, True),
    ({"Fn::ToJsonString": {"a": [1]}}, '{"a":[1]}'),
    ({"Plain": [1, {"Ref": "Size"}]}, {"Plain": [1, "256"]}),
]


@pytest.mark.parametrize(("value", "expected"), CASES)
def test_resolve(value, expected):
    out = resolve({"P": value}, context(), "Resources.X.Properties")
    assert out.get("P") == expected


ERRORS = [
    ({"Ref": "Nope"}, "Resources.X.Properties.P.Ref: Nope is neither a parameter nor a resource"),
    ({"Fn::GetAtt": ["Nope", "Arn"]}, "P.Fn::GetAtt: Nope is not a resource"),
    ({"Fn::Transform": {}}, "P: lamina does not evaluate Fn::Transform"),
    ({"Fn::If": ["Missing", 1, 2]}, "P.Fn::If: no condition named Missing"),
    ({"Fn::Select": [9, ["a"]]}, "index 9 is not in the list"),
    ({"Fn::Join": ["-"]}, "takes [delimiter, [values]]"),
    ({"Fn::FindInMap": ["Sizes", "dev", "Memory"]}, "Mappings has no Sizes.dev.Memory"),
]


@pytest.mark.parametrize(("value", "message"), ERRORS)
def test_errors_say_where(value, message):
    with pytest.raises(IntrinsicError) as caught:
        resolve({"P": value}, context(), "Resources.X.Properties")
    assert message in str(caught.value)


def test_references_for_ordering():
    value = {"A": {"Ref": "Fn"}, "B": {"Fn::GetAtt": "Role.Arn"},
             "C": {"Fn::Sub": ["${Other.Arn}-${Local}", {"Local": {"Ref": "Third"}}]}}
    assert references(value) == {"Fn", "Role", "Other", "Third"}


def test_conditions_use_each_other_and_cycles_are_refused():
    template = {"Conditions": {"Both": {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Equals": [{"Ref": "Size"}, "256"]}]},
                               "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
                               "Neither": {"Fn::Not": [{"Condition": "Both"}]}}}
    assert evaluate_conditions(template, context({})) == {"Both": True, "IsProd": True, "Neither": False}
    cycle = {"Conditions": {"A": {"Fn::Not": [{"Condition": "B"}]}, "B": {"Fn::Not": [{"Condition": "A"}]}}}
    with pytest.raises(IntrinsicError, match="cycle"):
        evaluate_conditions(cycle, context({}))
