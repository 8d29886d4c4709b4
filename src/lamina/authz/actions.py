"""Which IAM action an operation needs, on which resource ARN (AWS's service authorization
reference for Lambda, CloudWatch Logs, IAM, STS, EventBridge and AWS Signer; reference section 4.12),
and for lamina's own endpoints the actions of the AWS services they stand in for: CloudWatch's
GetMetricData (/metrics, /system/*), CloudFormation's stack actions (lamina deploy's stack state)
and the EventBridge schema registry where the Lambda console keeps shareable test events
(`lambda-testevent-schemas`, schema `_<function>-schema`).

The map is data: per service, operation → (action, resource scope); `target(...)` turns an
operation and its parsed input into a `Target(action, resource)`. An operation AWS never denies
(sts:GetCallerIdentity) has no target (None); an operation missing from the map is `known=False`,
and the authorizer denies it. Function names in any accepted form (name, partial ARN, ARN, with
a qualifier) are resolved here without lamina.arn, so this package stays pure.
Imports nothing from lamina.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

# Resource scopes
ADDRESSED = "function as addressed"  # function, version or alias ARN (qualifier kept)
FUNCTION = "unqualified function"  # qualifier ignored
LAYER = "layer"
LAYER_VERSION = "layer version"
LAYER_VERSION_ARN = "layer version by Arn"
ESM = "event source mapping"
TAGGED = "tagged resource"
CODE_SIGNING = "code signing config"
ANY = "*"

LAMBDA: dict[str, tuple[str, str]] = {
    "Invoke": ("lambda:InvokeFunction", ADDRESSED),
    "InvokeAsync": ("lambda:InvokeFunction", ADDRESSED),
    "InvokeWithResponseStream": ("lambda:InvokeFunction", ADDRESSED),
    "AddPermission": ("lambda:AddPermission", ADDRESSED),
    "RemovePermission": ("lambda:RemovePermission", ADDRESSED),
    "GetPolicy": ("lambda:GetPolicy", FUNCTION),
    "InvokeFunctionUrl": ("lambda:InvokeFunctionUrl", ADDRESSED),
    "CreateFunctionUrlConfig": ("lambda:CreateFunctionUrlConfig", ADDRESSED),
    "GetFunctionUrlConfig": ("lambda:GetFunctionUrlConfig", ADDRESSED),
    "UpdateFunctionUrlConfig": ("lambda:UpdateFunctionUrlConfig", ADDRESSED),
    "DeleteFunctionUrlConfig": ("lambda:DeleteFunctionUrlConfig", ADDRESSED),
    "ListFunctionUrlConfigs": ("lambda:ListFunctionUrlConfigs", FUNCTION),
    "CreateFunction": ("lambda:CreateFunction", FUNCTION),
    "GetFunction": ("lambda:GetFunction", FUNCTION),
    "GetFunctionConfiguration": ("lambda:GetFunctionConfiguration", FUNCTION),
    "UpdateFunctionCode": ("lambda:UpdateFunctionCode", FUNCTION),
    "UpdateFunctionConfiguration": ("lambda:UpdateFunctionConfiguration", FUNCTION),
    "DeleteFunction": ("lambda:DeleteFunction", FUNCTION),
    "PublishVersion": ("lambda:PublishVersion", FUNCTION),
    "ListVersionsByFunction": ("lambda:ListVersionsByFunction", FUNCTION),
    "CreateAlias": ("lambda:CreateAlias", FUNCTION),
    "GetAlias": ("lambda:GetAlias", FUNCTION),
    "UpdateAlias": ("lambda:UpdateAlias", FUNCTION),
    "DeleteAlias": ("lambda:DeleteAlias", FUNCTION),
    "ListAliases": ("lambda:ListAliases", FUNCTION),
    "PutFunctionConcurrency": ("lambda:PutFunctionConcurrency", FUNCTION),
    "GetFunctionConcurrency": ("lambda:GetFunctionConcurrency", FUNCTION),
    "DeleteFunctionConcurrency": ("lambda:DeleteFunctionConcurrency", FUNCTION),
    "PutProvisionedConcurrencyConfig": ("lambda:PutProvisionedConcurrencyConfig", ADDRESSED),
    "GetProvisionedConcurrencyConfig": ("lambda:GetProvisionedConcurrencyConfig", ADDRESSED),
    "DeleteProvisionedConcurrencyConfig": ("lambda:DeleteProvisionedConcurrencyConfig", ADDRESSED),
    "ListProvisionedConcurrencyConfigs": ("lambda:ListProvisionedConcurrencyConfigs", FUNCTION),
    "PutFunctionEventInvokeConfig": ("lambda:PutFunctionEventInvokeConfig", FUNCTION),
    "UpdateFunctionEventInvokeConfig": ("lambda:UpdateFunctionEventInvokeConfig", FUNCTION),
    "GetFunctionEventInvokeConfig": ("lambda:GetFunctionEventInvokeConfig", FUNCTION),
    "DeleteFunctionEventInvokeConfig": ("lambda:DeleteFunctionEventInvokeConfig", FUNCTION),
    "ListFunctionEventInvokeConfigs": ("lambda:ListFunctionEventInvokeConfigs", FUNCTION),
    "GetFunctionCodeSigningConfig": ("lambda:GetFunctionCodeSigningConfig", FUNCTION),
    "PutFunctionCodeSigningConfig": ("lambda:PutFunctionCodeSigningConfig", FUNCTION),
    "DeleteFunctionCodeSigningConfig": ("lambda:DeleteFunctionCodeSigningConfig", FUNCTION),
    "ListTags": ("lambda:ListTags", TAGGED),
    "TagResource": ("lambda:TagResource", TAGGED),
    "UntagResource": ("lambda:UntagResource", TAGGED),
    "CreateEventSourceMapping": ("lambda:CreateEventSourceMapping", ANY),
    "GetEventSourceMapping": ("lambda:GetEventSourceMapping", ANY),
    "ListEventSourceMappings": ("lambda:ListEventSourceMappings", ANY),
    "UpdateEventSourceMapping": ("lambda:UpdateEventSourceMapping", ESM),
    "DeleteEventSourceMapping": ("lambda:DeleteEventSourceMapping", ESM),
    "PublishLayerVersion": ("lambda:PublishLayerVersion", LAYER),
    "ListLayerVersions": ("lambda:ListLayerVersions", LAYER),
    "GetLayerVersion": ("lambda:GetLayerVersion", LAYER_VERSION),
    "GetLayerVersionByArn": ("lambda:GetLayerVersion", LAYER_VERSION_ARN),
    "DeleteLayerVersion": ("lambda:DeleteLayerVersion", LAYER_VERSION),
    "AddLayerVersionPermission": ("lambda:AddLayerVersionPermission", LAYER_VERSION),
    "RemoveLayerVersionPermission": ("lambda:RemoveLayerVersionPermission", LAYER_VERSION),
    "GetLayerVersionPolicy": ("lambda:GetLayerVersionPolicy", LAYER_VERSION),
    "ListLayers": ("lambda:ListLayers", ANY),
    "ListFunctions": ("lambda:ListFunctions", ANY),
    "GetAccountSettings": ("lambda:GetAccountSettings", ANY),
    "CreateCodeSigningConfig": ("lambda:CreateCodeSigningConfig", ANY),
    "ListCodeSigningConfigs": ("lambda:ListCodeSigningConfigs", ANY),
    "GetCodeSigningConfig": ("lambda:GetCodeSigningConfig", CODE_SIGNING),
    "UpdateCodeSigningConfig": ("lambda:UpdateCodeSigningConfig", CODE_SIGNING),
    "DeleteCodeSigningConfig": ("lambda:DeleteCodeSigningConfig", CODE_SIGNING),
    "ListFunctionsByCodeSigningConfig": ("lambda:ListFunctionsByCodeSigningConfig", CODE_SIGNING),
}

# CloudWatch Logs: AWS names log groups as `log-group:NAME:log-stream:` (group-level actions, the
# form of the well-known "logs:CreateLogGroup on resource: ...:log-group:/aws/lambda/f:log-stream:"
# denial) and streams as `log-group:NAME:log-stream:STREAM`; DescribeLogGroups names no group.
LOG_ACCOUNT, LOG_GROUP, LOG_STREAM = "log account", "log group", "log stream"
LOGS: dict[str, tuple[str, str]] = {
    "DescribeLogGroups": ("logs:DescribeLogGroups", LOG_ACCOUNT),
    "CreateLogGroup": ("logs:CreateLogGroup", LOG_GROUP),
    "DeleteLogGroup": ("logs:DeleteLogGroup", LOG_GROUP),
    "PutRetentionPolicy": ("logs:PutRetentionPolicy", LOG_GROUP),
    "DeleteRetentionPolicy": ("logs:DeleteRetentionPolicy", LOG_GROUP),
    "DescribeLogStreams": ("logs:DescribeLogStreams", LOG_GROUP),
    "FilterLogEvents": ("logs:FilterLogEvents", LOG_GROUP),
    "StartLiveTail": ("logs:StartLiveTail", LOG_GROUP),
    "CreateLogStream": ("logs:CreateLogStream", LOG_STREAM),
    "DeleteLogStream": ("logs:DeleteLogStream", LOG_STREAM),
    "PutLogEvents": ("logs:PutLogEvents", LOG_STREAM),
    "GetLogEvents": ("logs:GetLogEvents", LOG_STREAM),
}

ROLE, USER, POLICY, NEW_ROLE, NEW_USER, NEW_POLICY, ROLE_ARN = (
    "role", "user", "policy", "new role", "new user", "new policy", "role arn")
IAM: dict[str, tuple[str, str]] = {
    **{op: (f"iam:{op}", ROLE) for op in (
        "GetRole", "DeleteRole", "UpdateRole", "UpdateAssumeRolePolicy", "AttachRolePolicy", "DetachRolePolicy",
        "ListAttachedRolePolicies", "PutRolePolicy", "GetRolePolicy", "DeleteRolePolicy", "ListRolePolicies",
        "TagRole", "UntagRole", "ListRoleTags", "UpdateRoleDescription")},
    "CreateRole": ("iam:CreateRole", NEW_ROLE),
    **{op: (f"iam:{op}", USER) for op in (
        "GetUser", "DeleteUser", "CreateAccessKey", "DeleteAccessKey", "ListAccessKeys", "UpdateAccessKey",
        "AttachUserPolicy", "DetachUserPolicy", "ListAttachedUserPolicies", "PutUserPolicy", "GetUserPolicy",
        "DeleteUserPolicy", "ListUserPolicies", "TagUser", "UntagUser", "ListUserTags")},
    "CreateUser": ("iam:CreateUser", NEW_USER),
    **{op: (f"iam:{op}", POLICY) for op in (
        "GetPolicy", "DeletePolicy", "GetPolicyVersion", "CreatePolicyVersion", "DeletePolicyVersion",
        "ListPolicyVersions", "SetDefaultPolicyVersion", "ListEntitiesForPolicy")},
    "CreatePolicy": ("iam:CreatePolicy", NEW_POLICY),
    **{op: (f"iam:{op}", ANY) for op in ("ListRoles", "ListUsers", "ListPolicies", "GetAccountSummary")},
}

STS: dict[str, tuple[str, str] | None] = {
    "AssumeRole": ("sts:AssumeRole", ROLE_ARN),
    "GetCallerIdentity": None,  # never denied: AWS answers it whatever the policies say
}

RULE, BUS, ARN_PARAM = "rule", "event bus", "resource arn"
EVENTS: dict[str, tuple[str, str]] = {
    **{op: (f"events:{op}", RULE) for op in (
        "PutRule", "DeleteRule", "DescribeRule", "EnableRule", "DisableRule", "PutTargets", "RemoveTargets",
        "ListTargetsByRule")},
    **{op: (f"events:{op}", BUS) for op in ("PutEvents", "CreateEventBus", "DeleteEventBus", "DescribeEventBus")},
    **{op: (f"events:{op}", ANY) for op in ("ListRules", "ListEventBuses", "ListRuleNamesByTarget",
                                            "TestEventPattern")},
    **{op: (f"events:{op}", ARN_PARAM) for op in ("TagResource", "UntagResource", "ListTagsForResource")},
}

# AWS Signer (the signing profiles lamina serves; lamina's own signing call is StartSigningJob's
# counterpart): profiles are `arn:aws:signer:REGION:ACCOUNT:/signing-profiles/NAME`.
PROFILE = "signing profile"
SIGNER: dict[str, tuple[str, str]] = {
    **{op: (f"signer:{op}", PROFILE) for op in (
        "PutSigningProfile", "GetSigningProfile", "CancelSigningProfile", "RevokeSigningProfile", "StartSigningJob")},
    "ListSigningProfiles": ("signer:ListSigningProfiles", ANY),
}

CLOUDWATCH: dict[str, tuple[str, str]] = {"GetMetricData": ("cloudwatch:GetMetricData", ANY)}
STACK = "stack"
CLOUDFORMATION: dict[str, tuple[str, str]] = {
    "ListStacks": ("cloudformation:ListStacks", ANY),
    **{op: (f"cloudformation:{op}", STACK) for op in ("DescribeStacks", "CreateStack", "UpdateStack", "DeleteStack")},
}
TEST_EVENTS = "test event schema"
SCHEMAS: dict[str, tuple[str, str]] = {
    op: (f"schemas:{op}", TEST_EVENTS) for op in ("DescribeSchema", "CreateSchema", "UpdateSchema", "DeleteSchema")}

SERVICES: dict[str, Mapping[str, tuple[str, str] | None]] = {
    "lambda": LAMBDA, "logs": LOGS, "iam": IAM, "sts": STS, "events": EVENTS, "signer": SIGNER,
    "cloudwatch": CLOUDWATCH, "cloudformation": CLOUDFORMATION, "schemas": SCHEMAS,
}


class Target(NamedTuple):
    action: str
    resource: str
    known: bool = True


def function_parts(function_name: str, qualifier: str | None) -> tuple[str, str | None]:
    """(name, qualifier) of a FunctionName in any accepted form, merged with Qualifier."""
    if function_name.startswith("arn:"):
        fields = function_name.split(":")
        name = fields[6] if len(fields) > 6 else function_name
        derived = fields[7] if len(fields) > 7 else None
    elif ":function:" in function_name:
        fields = function_name.split(":")
        name, derived = fields[2], (fields[3] if len(fields) > 3 else None)
    else:
        name, _, derived_text = function_name.partition(":")
        derived = derived_text or None
    return name, derived or qualifier


def _lambda_resource(scope: str, params: Mapping, region: str, account: str) -> str:
    base = f"arn:aws:lambda:{region}:{account}"
    if scope in (ADDRESSED, FUNCTION):
        name, qualifier = function_parts(str(params.get("FunctionName", "")), params.get("Qualifier"))
        arn = f"{base}:function:{name}"
        return f"{arn}:{qualifier}" if qualifier and scope == ADDRESSED else arn
    if scope == LAYER:
        return f"{base}:layer:{_last(params.get('LayerName', ''))}"
    if scope == LAYER_VERSION:
        return f"{base}:layer:{_last(params.get('LayerName', ''))}:{params.get('VersionNumber')}"
    if scope == LAYER_VERSION_ARN:
        return str(params.get("Arn", "*"))
    if scope == ESM:
        return f"{base}:event-source-mapping:{params.get('UUID')}"
    if scope == TAGGED:
        resource = str(params.get("Resource", "*"))
        fields = resource.split(":")
        return ":".join(fields[:7]) if len(fields) > 7 and fields[5] == "function" else resource
    if scope == CODE_SIGNING:
        arn = str(params.get("CodeSigningConfigArn", "*"))
        return arn
    return "*"


def _last(name: object) -> str:
    """A layer named by its name or its ARN: the name."""
    text = str(name)
    return text.split(":")[6] if text.startswith("arn:") and text.count(":") >= 6 else text


def _logs_resource(scope: str, params: Mapping, region: str, account: str) -> str:
    base = f"arn:aws:logs:{region}:{account}:log-group:"
    if scope == LOG_ACCOUNT:
        return f"{base}:log-stream:"
    group = params.get("logGroupName") or params.get("logGroupIdentifier") or ""
    if scope == LOG_GROUP:
        return f"{base}{group}:log-stream:"
    return f"{base}{group}:log-stream:{params.get('logStreamName', '')}"


def _iam_resource(scope: str, params: Mapping, account: str, caller_arn: str) -> str:
    base = f"arn:aws:iam::{account}"
    path = str(params.get("Path") or "/")
    if scope == NEW_ROLE:
        return f"{base}:role{path}{params.get('RoleName')}"
    if scope == NEW_USER:
        return f"{base}:user{path}{params.get('UserName')}"
    if scope == NEW_POLICY:
        return f"{base}:policy{path}{params.get('PolicyName')}"
    if scope == ROLE:
        return f"{base}:role/{params.get('RoleName')}"
    if scope == USER:
        user = params.get("UserName")
        return f"{base}:user/{user}" if user else caller_arn  # no UserName: the caller's own user
    if scope == POLICY:
        return str(params.get("PolicyArn", "*"))
    if scope == ROLE_ARN:
        return str(params.get("RoleArn", "*"))
    return "*"


def _events_resource(scope: str, params: Mapping, region: str, account: str) -> str:
    base = f"arn:aws:events:{region}:{account}"
    if scope == RULE:
        bus = _last_slash(params.get("EventBusName") or "default")
        name = params.get("Name") or params.get("Rule")
        return f"{base}:rule/{name}" if bus == "default" else f"{base}:rule/{bus}/{name}"
    if scope == BUS:
        entries = params.get("Entries")
        bus = params.get("Name") or (entries[0].get("EventBusName") if entries and isinstance(entries[0], dict)
                                     else None) or "default"
        return str(bus) if str(bus).startswith("arn:") else f"{base}:event-bus/{bus}"
    if scope == ARN_PARAM:
        return str(params.get("ResourceARN", "*"))
    return "*"


def _last_slash(name: object) -> str:
    text = str(name)
    return text.rsplit("/", 1)[-1] if text.startswith("arn:") else text


def target(service: str, operation: str, params: Mapping, *, region: str, account: str,
           caller_arn: str = "") -> Target | None:
    """The action and resource the call needs; None if AWS never denies it."""
    table = SERVICES.get(service, {})
    if operation not in table:
        return Target(f"{service}:{operation}", "*", known=False)
    entry = table[operation]
    if entry is None:
        return None
    action, scope = entry
    if scope == ANY:
        return Target(action, "*")
    if service == "lambda":
        return Target(action, _lambda_resource(scope, params, region, account))
    if service == "logs":
        return Target(action, _logs_resource(scope, params, region, account))
    if service in ("iam", "sts"):
        return Target(action, _iam_resource(scope, params, account, caller_arn))
    if service == "cloudformation":  # lamina's stacks have no stack id: any id matches
        return Target(action, f"arn:aws:cloudformation:{region}:{account}:stack/{params.get('StackName', '')}/*")
    if service == "schemas":
        name, _ = function_parts(str(params.get("FunctionName", "")), None)
        return Target(action, f"arn:aws:schemas:{region}:{account}:schema/lambda-testevent-schemas/_{name}-schema")
    if service == "signer":
        return Target(action, f"arn:aws:signer:{region}:{account}:/signing-profiles/{params.get('profileName', '')}")
    return Target(action, _events_resource(scope, params, region, account))


# -- roles handed to a service ----------------------------------------------------------------
# A call that hands a role to a service (which assumes it later) also needs iam:PassRole on that
# role, with iam:PassedToService naming the service and iam:AssociatedResourceArn the resource the
# role goes with (IAM user guide, "Grant a user permissions to pass a role to an AWS service").
# Event source mappings take no role (the function's own reads the source); EventBridge's Lambda
# targets need none to run, but a RoleArn given to PutRule or PutTargets is still passed.
LAMBDA_SERVICE = "lambda.amazonaws.com"
EVENTS_SERVICE = "events.amazonaws.com"


class PassedRole(NamedTuple):
    role_arn: str
    service: str  # iam:PassedToService
    associated_resource: str  # iam:AssociatedResourceArn


def passed_roles(service: str, operation: str, params: Mapping, *, region: str,
                 account: str) -> tuple[PassedRole, ...]:
    """The roles a call hands to a service, each once, in the order the call names them."""
    found: list[tuple[str, str, str]] = []
    if service == "lambda" and operation in ("CreateFunction", "UpdateFunctionConfiguration"):
        if params.get("Role"):
            found.append((str(params["Role"]), LAMBDA_SERVICE, _lambda_resource(FUNCTION, params, region, account)))
    elif service == "events" and operation in ("PutRule", "PutTargets"):
        rule = _events_resource(RULE, params, region, account)
        if operation == "PutRule" and params.get("RoleArn"):
            found.append((str(params["RoleArn"]), EVENTS_SERVICE, rule))
        targets = params.get("Targets") if operation == "PutTargets" else None
        for entry in targets or ():
            if isinstance(entry, Mapping) and entry.get("RoleArn"):
                found.append((str(entry["RoleArn"]), EVENTS_SERVICE, rule))
    return tuple(PassedRole(*entry) for entry in dict.fromkeys(found))
