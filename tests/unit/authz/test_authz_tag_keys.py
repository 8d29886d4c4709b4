"""The tag condition keys (aws:ResourceTag/<key>, aws:RequestTag/<key>, aws:TagKeys): which calls
carry them, whose tags they are, which keys a compiled policy references, and the authorizer's
decisions on them (the resource's tags are read only for a policy that references them)."""

import json

import pytest

from lamina.authz import matching, tag_keys
from lamina.authz.authorizer import Authorizer
from lamina.authz.document import parse_policy
from lamina.authz.evaluate import EXPLICIT_DENY_IDENTITY, NO_IDENTITY_ALLOW

R, A = "us-east-1", "123456789012"
FN = f"arn:aws:lambda:{R}:{A}:function:f"
ESM = f"arn:aws:lambda:{R}:{A}:event-source-mapping:0b1c2d3e-0000-4000-8000-000000000001"
CSC = f"arn:aws:lambda:{R}:{A}:code-signing-config:csc-0123456789abcdefg"
LAYER = f"arn:aws:lambda:{R}:{A}:layer:l:1"
ME = f"arn:aws:iam::{A}:user/alice"


# -- the keys a compiled policy references ----------------------------------------------------------
def document(*statements) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


@pytest.mark.parametrize("statements, keys", [
    ([{"Effect": "Allow", "Action": "*", "Resource": "*"}], set()),
    ([{"Effect": "Allow", "Action": "*", "Resource": "*",
       "Condition": {"StringEquals": {"aws:ResourceTag/Team": "blue"}}}], {"aws:resourcetag/team"}),
    ([{"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {
        "Null": {"aws:RequestTag/env": "true"}, "ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}}}],
     {"aws:requesttag/env", "aws:tagkeys"}),
    # a policy variable names a key too, in a condition value and in a resource
    ([{"Effect": "Allow", "Action": "*", "Resource": "*",
       "Condition": {"StringEquals": {"aws:RequestTag/project": "${aws:ResourceTag/Project}"}}}],
     {"aws:requesttag/project", "aws:resourcetag/project"}),
    ([{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:lambda:*:*:function:${aws:username}-*"}],
     {"aws:username"}),
    ([{"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:lambda:*:*:function:${aws:ResourceTag/x, 'y'}"}],
     {"aws:resourcetag/x"}),
    ([{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/${*}"}], set()),  # an escape names none
    ([{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "1.2.3.4/32"}}},
      {"Effect": "Allow", "Action": "*", "Resource": "*",
       "Condition": {"ForAnyValue:StringLike": {"aws:TagKeys": "t-*"}}}], {"aws:sourceip", "aws:tagkeys"}),
])
def test_referenced_keys(statements, keys):
    policy = parse_policy(document(*statements))
    assert policy.keys == keys
    assert policy.references(tag_keys.RESOURCE_TAG) == any(k.startswith("aws:resourcetag/") for k in keys)


@pytest.mark.parametrize("text, names", [
    ("plain", ()),
    ("${aws:username}", ("aws:username",)),
    ("a-${aws:PrincipalTag/Team}-${aws:userid, 'x'}", ("aws:principaltag/team", "aws:userid")),
    ("${*}${?}${$}", ()),
])
def test_variables(text, names):
    assert matching.variables(text) == names


# -- which calls carry which keys -------------------------------------------------------------------
@pytest.mark.parametrize("service, operation, params, keys", [
    ("lambda", "CreateFunction", {"FunctionName": "f", "Tags": {"Team": "blue", "env": "prod"}},
     {"aws:requesttag/team": "blue", "aws:requesttag/env": "prod", "aws:tagkeys": ["Team", "env"]}),
    ("lambda", "CreateFunction", {"FunctionName": "f"}, {}),  # no Tags: neither key
    ("lambda", "TagResource", {"Resource": FN, "Tags": {"k": "v"}}, {"aws:requesttag/k": "v", "aws:tagkeys": ["k"]}),
    ("lambda", "CreateEventSourceMapping", {"FunctionName": "f", "Tags": {"k": "v"}},
     {"aws:requesttag/k": "v", "aws:tagkeys": ["k"]}),
    ("lambda", "CreateCodeSigningConfig", {"Tags": {"k": "v"}}, {"aws:requesttag/k": "v", "aws:tagkeys": ["k"]}),
    ("lambda", "UntagResource", {"Resource": FN, "TagKeys": ["a", "B"]}, {"aws:tagkeys": ["a", "B"]}),
    ("lambda", "UpdateFunctionConfiguration", {"FunctionName": "f", "Tags": {"k": "v"}}, {}),  # carries none
    ("lambda", "Invoke", {"FunctionName": "f"}, {}),
    ("events", "TagResource", {"ResourceARN": "arn:aws:events:r:a:rule/x", "Tags": {"k": "v"}}, {}),
    # keys differing only in case: the one key gets both values
    ("lambda", "TagResource", {"Resource": FN, "Tags": {"Env": "a", "env": "b"}},
     {"aws:requesttag/env": ["a", "b"], "aws:tagkeys": ["Env", "env"]}),
])
def test_request_keys(service, operation, params, keys):
    assert tag_keys.request_keys(service, operation, params) == keys


@pytest.mark.parametrize("service, resource, arn", [
    ("lambda", FN, FN),
    ("lambda", f"{FN}:1", FN),  # a version carries its function's tags
    ("lambda", f"{FN}:live", FN),  # so does an alias
    ("lambda", ESM, ESM),
    ("lambda", CSC, CSC),
    ("lambda", LAYER, None),  # layers have no tags
    ("lambda", f"arn:aws:lambda:{R}:{A}:layer:l", None),
    ("lambda", "*", None),
    ("schemas", f"arn:aws:schemas:{R}:{A}:schema/lambda-testevent-schemas/_f-schema", None),
    ("events", f"arn:aws:events:{R}:{A}:rule/r", None),
])
def test_tagged_arn(service, resource, arn):
    assert tag_keys.tagged_arn(service, resource) == arn


def test_resource_keys_read_the_tags_of_the_tagged_arn():
    asked = []

    def lookup(arn):
        asked.append(arn)
        return {FN: {"Team": "blue"}, ESM: {"Owner": "ops"}}.get(arn)

    assert tag_keys.resource_keys("lambda", "Invoke", {}, f"{FN}:live", lookup) == {"aws:resourcetag/team": "blue"}
    assert tag_keys.resource_keys("lambda", "DeleteEventSourceMapping", {}, ESM, lookup) == \
        {"aws:resourcetag/owner": "ops"}
    assert tag_keys.resource_keys("lambda", "GetFunction", {}, f"arn:aws:lambda:{R}:{A}:function:gone", lookup) == {}
    assert tag_keys.resource_keys("lambda", "GetLayerVersion", {}, LAYER, lookup) == {}
    assert asked == [FN, ESM, f"arn:aws:lambda:{R}:{A}:function:gone"]
    # CreateFunction: the tags it creates the function with, no lookup
    assert tag_keys.resource_keys("lambda", "CreateFunction", {"Tags": {"Team": "red"}}, FN, lookup) == \
        {"aws:resourcetag/team": "red"}
    assert tag_keys.resource_keys("lambda", "CreateFunction", {}, FN, lookup) == {}
    assert len(asked) == 3


# -- decisions --------------------------------------------------------------------------------------
class Caller:
    def __init__(self, arn=ME):
        self.principal_arn, self.account_id, self.source_ip = arn, A, "127.0.0.1"


class Tagged:
    """The tags of each ARN (changed by the test), counting the reads."""

    def __init__(self, tags):
        self.tags, self.reads = tags, 0

    def __call__(self, arn):
        self.reads += 1
        return self.tags.get(arn)


def authorizer(tags: Tagged, *statements) -> Authorizer:
    return Authorizer(region=R, account_id=A, identity_policies=lambda caller: [json.dumps(document(*statements))],
                      resource_tags=tags)


def reason(auth: Authorizer, operation: str, params: dict) -> str | None:
    denial = auth.check(Caller(), "lambda", operation, params)
    return None if denial is None else denial.reason


BLUE_INVOKE = {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*",
               "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}}}


def test_resource_tag_allows_by_the_current_tags():
    tags = Tagged({FN: {"Team": "blue"}})  # the key's case differs from the policy's: still the same key
    auth = authorizer(tags, BLUE_INVOKE)
    assert reason(auth, "Invoke", {"FunctionName": "f"}) is None
    assert reason(auth, "Invoke", {"FunctionName": "f", "Qualifier": "live"}) is None  # an alias: the function's
    tags.tags[FN] = {"Team": "Blue"}  # values compare as the operator does: StringEquals is case-sensitive
    assert reason(auth, "Invoke", {"FunctionName": "f"}) == NO_IDENTITY_ALLOW
    tags.tags[FN] = {"Team": "blue"}  # retagged: the next decision sees it (nothing cached)
    assert reason(auth, "Invoke", {"FunctionName": "f"}) is None
    tags.tags[FN] = {}
    assert reason(auth, "Invoke", {"FunctionName": "f"}) == NO_IDENTITY_ALLOW
    assert reason(auth, "Invoke", {"FunctionName": "other"}) == NO_IDENTITY_ALLOW  # no such function: no tags
    assert tags.reads == 6


def test_tags_are_read_only_for_a_policy_that_references_them():
    tags = Tagged({FN: {"team": "blue"}})
    plain = authorizer(tags, {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*",
                              "Condition": {"StringEquals": {"aws:RequestTag/team": "blue"}}},
                       {"Effect": "Allow", "Action": "lambda:GetFunction", "Resource": FN})
    reason(plain, "Invoke", {"FunctionName": "f"})
    reason(plain, "GetFunction", {"FunctionName": "f"})
    assert tags.reads == 0
    tagged = authorizer(tags, BLUE_INVOKE)
    reason(tagged, "ListFunctions", {})  # resource `*`: no resource to read
    reason(tagged, "GetLayerVersion", {"LayerName": "l", "VersionNumber": 1})
    assert tags.reads == 0


def test_a_resource_policy_referencing_resource_tags_reads_them():
    tags = Tagged({FN: {"team": "red"}})
    resource_policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "lambda:InvokeFunction", "Resource": FN,
        "Condition": {"StringEquals": {"aws:ResourceTag/team": "red"}}}]}
    auth = Authorizer(region=R, account_id=A, resource_tags=tags,
                      identity_policies=lambda caller: [document({"Effect": "Allow", "Action": "*", "Resource": "*"})],
                      resource_policy=lambda arn: ("1", resource_policy) if arn == FN else None)
    assert auth.check(Caller(), "lambda", "Invoke", {"FunctionName": "f"}).reason == "explicit deny in a resource-based policy"
    assert tags.reads == 1


def test_event_source_mapping_and_tag_operations_read_the_addressed_resource():
    tags = Tagged({ESM: {"owner": "ops"}, FN: {"team": "blue"}})
    auth = authorizer(tags, {"Effect": "Allow", "Action": ["lambda:DeleteEventSourceMapping", "lambda:TagResource",
                                                           "lambda:ListTags"], "Resource": "*",
                             "Condition": {"StringEquals": {"aws:ResourceTag/owner": "ops"}}})
    assert reason(auth, "DeleteEventSourceMapping", {"UUID": ESM.rsplit(":", 1)[1]}) is None
    assert reason(auth, "ListTags", {"Resource": ESM}) is None
    assert reason(auth, "TagResource", {"Resource": FN, "Tags": {"owner": "ops"}}) == NO_IDENTITY_ALLOW  # FN's own


@pytest.mark.parametrize("operation, params", [
    ("GetCodeSigningConfig", {"CodeSigningConfigArn": CSC}),
    ("UpdateCodeSigningConfig", {"CodeSigningConfigArn": CSC, "Description": "d"}),
    ("DeleteCodeSigningConfig", {"CodeSigningConfigArn": CSC}),
    ("ListFunctionsByCodeSigningConfig", {"CodeSigningConfigArn": CSC}),
    ("ListTags", {"Resource": CSC}),
    ("TagResource", {"Resource": CSC, "Tags": {"x": "y"}}),
    ("UntagResource", {"Resource": CSC, "TagKeys": ["x"]}),
])
def test_code_signing_config_operations_read_the_configs_tags(operation, params):
    """aws:ResourceTag/<key> on an action on a code signing config is the config's current tags."""
    tags = Tagged({CSC: {"Owner": "ops"}, FN: {"owner": "dev"}})
    auth = authorizer(tags, {"Effect": "Allow", "Action": f"lambda:{operation}", "Resource": "*",
                             "Condition": {"StringEquals": {"aws:ResourceTag/owner": "ops"}}})
    assert reason(auth, operation, params) is None
    tags.tags[CSC] = {"owner": "dev"}  # retagged: the next decision sees it
    assert reason(auth, operation, params) == NO_IDENTITY_ALLOW
    del tags.tags[CSC]  # deleted (or never made): no tags, so no allow
    assert reason(auth, operation, params) == NO_IDENTITY_ALLOW
    assert tags.reads == 3


NULL_DENY = {"Effect": "Deny", "Action": "lambda:CreateFunction", "Resource": "*",
             "Condition": {"Null": {"aws:RequestTag/env": "true"}}}
ALLOW_ALL = {"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}


@pytest.mark.parametrize("statements, operation, params, expected", [
    ([ALLOW_ALL, NULL_DENY], "CreateFunction", {"FunctionName": "f"}, EXPLICIT_DENY_IDENTITY),
    ([ALLOW_ALL, NULL_DENY], "CreateFunction", {"FunctionName": "f", "Tags": {"team": "x"}}, EXPLICIT_DENY_IDENTITY),
    ([ALLOW_ALL, NULL_DENY], "CreateFunction", {"FunctionName": "f", "Tags": {"ENV": "dev"}}, None),
    ([ALLOW_ALL, NULL_DENY], "UpdateFunctionCode", {"FunctionName": "f"}, None),  # another action
    # ForAllValues on aws:TagKeys limits the keys TagResource and UntagResource may use
    ([{"Effect": "Allow", "Action": ["lambda:TagResource", "lambda:UntagResource"], "Resource": "*",
       "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}}],
     "TagResource", {"Resource": FN, "Tags": {"team": "a", "env": "b"}}, None),
    ([{"Effect": "Allow", "Action": ["lambda:TagResource", "lambda:UntagResource"], "Resource": "*",
       "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}}],
     "TagResource", {"Resource": FN, "Tags": {"team": "a", "owner": "b"}}, NO_IDENTITY_ALLOW),
    ([{"Effect": "Allow", "Action": ["lambda:TagResource", "lambda:UntagResource"], "Resource": "*",
       "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}}],
     "UntagResource", {"Resource": FN, "TagKeys": ["owner"]}, NO_IDENTITY_ALLOW),
    ([{"Effect": "Allow", "Action": ["lambda:TagResource", "lambda:UntagResource"], "Resource": "*",
       "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}}],
     "UntagResource", {"Resource": FN, "TagKeys": ["env"]}, None),
    # ForAnyValue needs one of the keys
    ([{"Effect": "Allow", "Action": "lambda:CreateEventSourceMapping", "Resource": "*",
       "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": "cost-center"}}}],
     "CreateEventSourceMapping", {"FunctionName": "f", "Tags": {"cost-center": "1"}}, None),
    ([{"Effect": "Allow", "Action": "lambda:CreateEventSourceMapping", "Resource": "*",
       "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": "cost-center"}}}],
     "CreateEventSourceMapping", {"FunctionName": "f"}, NO_IDENTITY_ALLOW),
    # CreateCodeSigningConfig (on `*`) carries its Tags as aws:RequestTag/<key> and aws:TagKeys
    ([ALLOW_ALL, {"Effect": "Deny", "Action": "lambda:CreateCodeSigningConfig", "Resource": "*",
                  "Condition": {"Null": {"aws:RequestTag/env": "true"}}}],
     "CreateCodeSigningConfig", {"AllowedPublishers": {}}, EXPLICIT_DENY_IDENTITY),
    ([ALLOW_ALL, {"Effect": "Deny", "Action": "lambda:CreateCodeSigningConfig", "Resource": "*",
                  "Condition": {"Null": {"aws:RequestTag/env": "true"}}}],
     "CreateCodeSigningConfig", {"AllowedPublishers": {}, "Tags": {"env": "dev"}}, None),
    ([{"Effect": "Allow", "Action": "lambda:CreateCodeSigningConfig", "Resource": "*",
       "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}}}],
     "CreateCodeSigningConfig", {"AllowedPublishers": {}, "Tags": {"env": "dev", "team": "x"}}, NO_IDENTITY_ALLOW),
    ([{"Effect": "Allow", "Action": "lambda:CreateCodeSigningConfig", "Resource": "*",
       "Condition": {"StringEquals": {"aws:RequestTag/env": "dev"}}}],
     "CreateCodeSigningConfig", {"AllowedPublishers": {}, "Tags": {"env": "dev"}}, None),
    # CreateFunction's resource tags are the tags it creates the function with (Lambda's ABAC example)
    ([{"Effect": "Allow", "Action": "lambda:CreateFunction", "Resource": "*",
       "Condition": {"StringEquals": {"aws:RequestTag/project": "p", "aws:ResourceTag/project": "p"}}}],
     "CreateFunction", {"FunctionName": "f", "Tags": {"project": "p"}}, None),
    ([{"Effect": "Allow", "Action": "lambda:CreateFunction", "Resource": "*",
       "Condition": {"StringEquals": {"aws:RequestTag/project": "p", "aws:ResourceTag/project": "p"}}}],
     "CreateFunction", {"FunctionName": "f", "Tags": {"project": "q"}}, NO_IDENTITY_ALLOW),
])
def test_request_tag_decisions(statements, operation, params, expected):
    tags = Tagged({})
    assert reason(authorizer(tags, *statements), operation, params) == expected
    assert tags.reads == 0  # none of these reads a stored resource's tags


def test_pass_role_does_not_see_the_calls_tags():
    """iam:PassRole is decided on the role: the function's tags are not the role's."""
    tags = Tagged({})
    auth = authorizer(tags, ALLOW_ALL, {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
                                        "Condition": {"StringEquals": {"aws:RequestTag/team": "blue"}}})
    role = f"arn:aws:iam::{A}:role/exec"
    denial = auth.check(Caller(), "lambda", "CreateFunction", {"FunctionName": "f", "Role": role,
                                                                "Tags": {"team": "blue"}})
    assert denial is not None and denial.action == "iam:PassRole"
