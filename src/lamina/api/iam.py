"""IAM and STS at `POST /` (and `GET /`) in the query protocol: the Action picks the operation of the
service the Version names (2010-05-08 IAM, 2011-06-15 STS), lamina.api.query decodes its input and
writes its XML answer, lamina.control.iam / lamina.control.sts do the work.
Imports lamina.api (query, pipeline, body, authorization), lamina.control (iam, sts), lamina.identity, lamina.errors.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from lamina.api import authorization, query
from lamina.api.authorization import Authorize, allow_all
from lamina.api.pipeline import caller_of
from lamina.control.iam import ROLE, USER, Iam
from lamina.control.sts import Sts
from lamina.errors import IamError, LambdaError
from lamina.identity import USER as USER_KIND
from lamina.identity import Caller

Handler = Callable[[Caller, dict], dict]


def _own_user(caller: Caller, params: dict) -> str:
    """The UserName member, or the calling user's name when it is omitted (GetUser, CreateAccessKey ...)."""
    if params.get("UserName"):
        return params["UserName"]
    if caller.kind == USER_KIND and caller.user_name:
        return caller.user_name
    raise IamError("ValidationError", "Must specify userName when calling with non-User credentials")


def handlers(iam: Iam, sts: Sts) -> dict[str, dict[str, Handler]]:
    """Action → handler, per service."""
    def per(kind: str, key: str) -> dict[str, Handler]:
        noun = "Role" if kind == ROLE else "User"
        name = (lambda c, p: p[key]) if kind == ROLE else _own_user
        return {
            f"Attach{noun}Policy": lambda c, p: iam.attach(kind, name(c, p), p["PolicyArn"]),
            f"Detach{noun}Policy": lambda c, p: iam.detach(kind, name(c, p), p["PolicyArn"]),
            f"ListAttached{noun}Policies": lambda c, p: iam.list_attached(kind, name(c, p), p),
            f"Put{noun}Policy": lambda c, p: iam.put_inline(kind, name(c, p), p["PolicyName"], p["PolicyDocument"]),
            f"Get{noun}Policy": lambda c, p: iam.get_inline(kind, name(c, p), p["PolicyName"]),
            f"Delete{noun}Policy": lambda c, p: iam.delete_inline(kind, name(c, p), p["PolicyName"]),
            f"List{noun}Policies": lambda c, p: iam.list_inline(kind, name(c, p), p),
        }

    return {
        "iam": {
            "CreateRole": lambda c, p: iam.create_role(p),
            "GetRole": lambda c, p: iam.get_role(p),
            "ListRoles": lambda c, p: iam.list_roles(p),
            "DeleteRole": lambda c, p: iam.delete_role(p),
            "UpdateAssumeRolePolicy": lambda c, p: iam.update_assume_role_policy(p),
            **per(ROLE, "RoleName"),
            **per(USER, "UserName"),
            "CreatePolicy": lambda c, p: iam.create_policy(p),
            "GetPolicy": lambda c, p: iam.get_policy(p),
            "GetPolicyVersion": lambda c, p: iam.get_policy_version(p),
            "ListPolicies": lambda c, p: iam.list_policies(p),
            "DeletePolicy": lambda c, p: iam.delete_policy(p),
            "CreatePolicyVersion": lambda c, p: iam.create_policy_version(p),
            "ListPolicyVersions": lambda c, p: iam.list_policy_versions(p),
            "DeletePolicyVersion": lambda c, p: iam.delete_policy_version(p),
            "SetDefaultPolicyVersion": lambda c, p: iam.set_default_policy_version(p),
            "CreateUser": lambda c, p: iam.create_user(p),
            "GetUser": lambda c, p: iam.get_user(_own_user(c, p)),
            "ListUsers": lambda c, p: iam.list_users(p),
            "DeleteUser": lambda c, p: iam.delete_user(p),
            "CreateAccessKey": lambda c, p: iam.create_access_key(_own_user(c, p)),
            "DeleteAccessKey": lambda c, p: iam.delete_access_key(_own_user(c, p), p["AccessKeyId"]),
            "ListAccessKeys": lambda c, p: iam.list_access_keys(_own_user(c, p), p),
            "UpdateAccessKey": lambda c, p: iam.update_access_key(_own_user(c, p), p["AccessKeyId"], p["Status"]),
        },
        "sts": {
            "GetCallerIdentity": lambda c, p: sts.get_caller_identity(c),
            "AssumeRole": sts.assume_role,
        },
    }


def form_pairs(query_string: bytes, content_type: str, body: bytes) -> list[tuple[str, str]]:
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    if body and (not content_type or content_type.startswith("application/x-www-form-urlencoded")):
        pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return pairs


def query_endpoint(iam: Iam, sts: Sts, authorize: Authorize = allow_all):
    """The endpoint of every IAM and STS action, each after `authorize` allowed it."""
    table = handlers(iam, sts)

    async def endpoint(request: Request):
        pairs = form_pairs(request.scope["query_string"], request.headers.get("content-type", ""),
                           await request.body())
        fields = dict(pairs)
        service = query.VERSIONS.get(fields.get("Version", ""), "iam")
        action = fields.get("Action", "")
        try:
            op = query.operation(service, action)
            handler = table[service].get(action)
            if op is None or handler is None:
                supported = "" if op is None else " (lamina does not implement it)"
                raise IamError("InvalidAction", f"Could not find operation {action} for version "
                               f"{fields.get('Version', '')}{supported}")
            params = query.decode(op, pairs)
            denial = authorize(caller_of(request.scope), service, action, params)
            if denial is not None:
                return authorization.query_denied(denial, service)
            result = await run_in_threadpool(handler, caller_of(request.scope), params)
        except LambdaError as failure:
            return query.error(service, failure)
        return query.ok(service, op, result)

    return endpoint
