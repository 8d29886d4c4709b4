"""lamina.sam.changes: dependency order and the change set against the previous deploy."""

from __future__ import annotations

import pytest

from lamina.sam.changes import ADD, MODIFY, REMOVE, Change, OrderError, changes, needing, order
from lamina.sam.deploy import plan

RESOURCES = {
    "Alias": {"Type": "AWS::Lambda::Alias", "Properties": {"FunctionName": {"Ref": "Fn"},
                                                           "FunctionVersion": {"Fn::GetAtt": ["Version", "Version"]}}},
    "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Role": {"Fn::GetAtt": "Role.Arn"}}},
    "Version": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "Fn"}}},
    "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
    "Url": {"Type": "AWS::Lambda::Url", "Properties": {"TargetFunctionArn": {"Fn::Sub": "${Alias}"}},
            "DependsOn": "Role"},
}


def test_order_puts_each_resource_after_what_it_needs():
    assert order(RESOURCES) == ["Role", "Fn", "Version", "Alias", "Url"]


def test_cycles_and_unknown_depends_on_are_refused():
    cycle = {"A": {"Type": "X", "Properties": {"P": {"Ref": "B"}}}, "B": {"Type": "X", "Properties": {"P": {"Ref": "A"}}}}
    with pytest.raises(OrderError, match="A, B refer to each other in a cycle"):
        order(cycle)
    with pytest.raises(OrderError, match="Resources.A.DependsOn: Nope is not a resource"):
        order({"A": {"Type": "X", "DependsOn": ["Nope"]}})


def entry(kind, properties, position):
    return {"type": kind, "properties": properties, "order": position}


def test_change_set():
    previous = {
        "Role": entry("AWS::IAM::Role", {}, 0),
        "Fn": entry("AWS::Lambda::Function", {"Role": "arn:role"}, 1),
        "Old": entry("AWS::Lambda::Permission", {}, 2),
        "Older": entry("AWS::Lambda::Permission", {}, 3),
        "Url": entry("AWS::Events::Rule", {}, 4),
    }
    resolved = {"Role": {}, "Fn": {"Role": "arn:role", "MemorySize": 256}, "Version": {}, "Alias": {}, "Url": {}}
    out = changes(order(RESOURCES), RESOURCES, previous, lambda lid: resolved[lid])
    assert out == [
        Change(MODIFY, "Fn", "AWS::Lambda::Function"),
        Change(ADD, "Version", "AWS::Lambda::Version"),
        Change(ADD, "Alias", "AWS::Lambda::Alias"),
        Change(REMOVE, "Url", "AWS::Events::Rule"),  # the type changed: replaced
        Change(ADD, "Url", "AWS::Lambda::Url"),
        Change(REMOVE, "Older", "AWS::Lambda::Permission"),  # removals last, newest first
        Change(REMOVE, "Old", "AWS::Lambda::Permission"),
    ]


def test_nothing_changed_means_no_changes():
    previous = {lid: entry(r["Type"], {}, i) for i, (lid, r) in enumerate(RESOURCES.items())}
    assert changes(order(RESOURCES), RESOURCES, previous, lambda lid: {}) == []


API = {
    "Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {}},
    "Fn": {"Type": "AWS::Lambda::Function", "Properties": {}},
    "FnHPermission": {"Type": "AWS::Lambda::Permission", "Properties": {
        "FunctionName": {"Ref": "Fn"}, "SourceArn": {"Fn::Sub": ["arn:${a}/*", {"a": {"Ref": "Api"}}]}}},
    "Downstream": {"Type": "AWS::Lambda::Permission", "Properties": {"FunctionName": {"Fn::GetAtt": "FnHPermission.Id"}}},
    "Ordered": {"Type": "AWS::Lambda::Url", "Properties": {"TargetFunctionArn": {"Ref": "Fn"}}, "DependsOn": "Api"},
}


def test_what_refers_to_a_resource_lamina_does_not_deploy_is_not_deployed_either():
    assert needing(API, {"Api"}) == {"FnHPermission": "Api", "Downstream": "Api"}
    assert needing(API, set()) == {}


def test_a_depends_on_naming_a_skipped_resource_only_orders():
    active = {lid: r for lid, r in API.items() if lid in ("Fn", "Ordered")}
    assert order(active, frozenset({"Api"})) == ["Fn", "Ordered"]


def test_a_sam_http_api_event_deploys_its_function_without_the_api():
    """SAM's HttpApi event makes an API Gateway API (skipped) and a Permission whose SourceArn names it:
    the plan skips the Permission too instead of failing the deploy on an unresolvable Ref."""
    the_plan = plan("s", {"Resources": API}, {}, None, strict=False)
    assert the_plan.skipped == {"Api": "AWS::ApiGatewayV2::Api"}
    assert the_plan.blocked == {"FnHPermission": ("AWS::Lambda::Permission", "Api"),
                                "Downstream": ("AWS::Lambda::Permission", "Api")}
    assert the_plan.ordered == ["Fn", "Ordered"]
