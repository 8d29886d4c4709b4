"""The authorize step: may this caller make this call? And may this service invoke this function?

`Authorizer.check(caller, service, operation, params)` maps the call to its action and resource
(lamina.authz.actions), builds the request context (aws:SourceIp, aws:CurrentTime, aws:EpochTime,
aws:SecureTransport, aws:RequestedRegion, aws:PrincipalArn, aws:PrincipalAccount, aws:username,
aws:userid, the lambda:* keys of the operation and its tag keys: aws:RequestTag/<key>,
aws:TagKeys and, only when a policy in play references one, aws:ResourceTag/<key>, read afresh
through `resource_tags` on each such call; lamina.authz.tag_keys), and evaluates the caller's
identity policies with the resource policy of the ARN addressed; it returns None when allowed, else a `Denial`
whose message is AWS's text. A call that hands a role to a service (CreateFunction's Role,
an EventBridge RoleArn: lamina.authz.actions.passed_roles) also needs iam:PassRole on the role,
asked after the call's own action, with iam:PassedToService and iam:AssociatedResourceArn set.
The account's root (the admin key, and every caller of an
unauthenticated deployment) is allowed everything without evaluation. `may_invoke` answers for a
service principal (events.amazonaws.com, s3.amazonaws.com), which only a resource policy can allow,
and `allows_anyone` for an unsigned caller (function URLs with AuthType NONE).

Collaborators are callables: `identity_policies(caller)` → the caller's identity policy
documents (text or dict), `identity_revision()` (optional) → a value that changes whenever any
identity policy may have changed, so they are read once per revision, `resource_policy(arn)` → (revision, document) of the resource policy of
a function/alias/version or layer version ARN, or None, `resource_tags(arn)` → the current tags of
a function, event source mapping or code signing config ARN, or None. Compiled policies are cached, identity
documents by their text and resource policies by (ARN, revision), so a changed policy is always
evaluated afresh; decisions are never cached. The caller is read by attribute (account_id,
principal_arn, source_ip, and role_arn / user_name / user_id when authentication sets them).
Imports lamina.authz only.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lamina.authz import actions, conditions, denial, tag_keys
from lamina.authz.document import Policy, PolicyError, Statement, parse_policy
from lamina.authz.evaluate import ALLOWED, Principal, Request, evaluate

log = logging.getLogger("lamina.authz")
CACHED_POLICIES = 2048
ANONYMOUS = "anonymous"  # the service name of an unsigned principal (never a real service)
GLOBAL_REGION = "us-east-1"  # IAM and STS sign and answer in us-east-1
PASS_ROLE = "iam:PassRole"

IdentityPolicies = Callable[[object], Sequence[str | dict]]
ResourcePolicy = Callable[[str], tuple[str, str | dict] | None]


DENY_ALL = Policy(version="2012-10-17", statements=(Statement(effect="Deny", actions=("*",), resources=("*",),
                                                               principal={"*": ("*",)}),))


@dataclass(frozen=True)
class Denial:
    action: str
    resource: str
    reason: str
    message: str


def no_identity_policies(caller: object) -> Sequence[str | dict]:
    """The identity policies of a deployment without IAM: none (only the root is allowed)."""
    return ()


def _session_role(principal_arn: str) -> str | None:
    """The role ARN of an assumed-role session ARN (its path is not in the session ARN)."""
    if ":assumed-role/" not in principal_arn:
        return None
    head, _, rest = principal_arn.partition(":assumed-role/")
    account = head.rsplit(":", 1)[-1]
    return f"arn:aws:iam::{account}:role/{rest.split('/', 1)[0]}"


class Authorizer:
    def __init__(self, *, region: str, account_id: str, identity_policies: IdentityPolicies = no_identity_policies,
                 resource_policy: ResourcePolicy = lambda arn: None, clock: Callable[[], float] = time.time,
                 secure_transport: bool = False, enforcing: bool = True,
                 identity_revision: Callable[[], object] | None = None,
                 resource_tags: tag_keys.Lookup = lambda arn: None) -> None:
        self._enforcing = enforcing  # False: a deployment without authentication allows everything
        self._region = region
        self._account = account_id
        self._root = f"arn:aws:iam::{account_id}:root"
        self._identity_policies = identity_policies
        self._resource_policy = resource_policy
        self._resource_tags = resource_tags
        self._clock = clock
        self._secure = "true" if secure_transport else "false"
        self._compiled: dict[object, Policy | None] = {}
        self._identity_revision = identity_revision
        self._time_strings: tuple[int, str, str] = (-1, "", "")
        self._identities: dict[object, tuple[object, list[Policy]]] = {}
        self._lock = threading.Lock()

    # -- compiled policies ------------------------------------------------------------------------
    def _compile(self, key: object, document: str | dict, kind: str) -> Policy | None:
        policy = self._compiled.get(key, False)
        if policy is not False:
            return policy  # type: ignore[return-value]
        try:
            policy = parse_policy(document, kind)
        except PolicyError as error:
            # A stored document the evaluator cannot read must not lose its Deny statements: it
            # denies everything (fail closed) until it is replaced.
            log.warning("a stored policy document cannot be evaluated (%s); it denies every request", error.reason)
            policy = DENY_ALL
        with self._lock:
            if len(self._compiled) >= CACHED_POLICIES:
                self._compiled.clear()
            self._compiled[key] = policy
        return policy

    def _identity(self, caller: object) -> list[Policy]:
        """The caller's compiled identity policies; with `identity_revision`, read once per IAM revision."""
        if self._identity_revision is None:
            return self._load_identity(caller)
        key = (getattr(caller, "principal_arn", None), getattr(caller, "kind", None),
               getattr(caller, "user_name", None), getattr(caller, "role_arn", None))
        revision = self._identity_revision()  # before reading: a write meanwhile changes it
        cached = self._identities.get(key)
        if cached is not None and cached[0] == revision:
            return cached[1]
        policies = self._load_identity(caller)
        with self._lock:
            if len(self._identities) >= CACHED_POLICIES:
                self._identities.clear()
            self._identities[key] = (revision, policies)
        return policies

    def _load_identity(self, caller: object) -> list[Policy]:
        out = []
        for document in self._identity_policies(caller):
            text = document if isinstance(document, str) else json.dumps(document, sort_keys=True)
            policy = self._compile(("identity", text), document, "any")
            if policy is not None:
                out.append(policy)
        return out

    def _resource(self, arn: str) -> Policy | None:
        if arn == "*":
            return None
        found = self._resource_policy(arn)
        if found is None:
            return None
        revision, document = found
        return self._compile(("resource", arn, revision), document, "any")

    # -- context ----------------------------------------------------------------------------------
    def _times(self) -> tuple[str, str]:
        """aws:CurrentTime and aws:EpochTime of this second (formatted once per second)."""
        second = int(self._clock())
        cached = self._time_strings
        if cached[0] != second:
            cached = self._time_strings = (
                second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), str(second))
        return cached[1], cached[2]

    def _context(self, caller: object, principal: Principal, service: str, operation: str,
                 params: Mapping) -> dict[str, object]:
        current, epoch = self._times()
        context: dict[str, object] = {
            "aws:currenttime": current,
            "aws:epochtime": epoch,
            "aws:securetransport": self._secure,
            "aws:requestedregion": GLOBAL_REGION if service in ("iam", "sts") else self._region,
            "aws:principalarn": principal.role_arn or principal.arn,
            "aws:principalaccount": principal.account,
        }
        source_ip = getattr(caller, "source_ip", None)
        if source_ip:
            context["aws:sourceip"] = source_ip
        user_name = getattr(caller, "user_name", None)
        if user_name is None and ":user/" in principal.arn:
            user_name = principal.arn.rsplit("/", 1)[-1]
        if user_name:
            context["aws:username"] = user_name
        user_id = getattr(caller, "user_id", None)
        if user_id:
            context["aws:userid"] = user_id
        org = getattr(caller, "org_id", None)
        if org:
            context["aws:principalorgid"] = org
        if service == "lambda":
            context.update(_lambda_keys(operation, params, self._region, self._account))
            context.update(tag_keys.request_keys(service, operation, params))
        return context

    def _principal(self, caller: object) -> Principal:
        arn = caller.principal_arn
        role = getattr(caller, "role_arn", None) or _session_role(arn)
        return Principal(arn=arn, account=caller.account_id, role_arn=role)

    # -- decisions --------------------------------------------------------------------------------
    def conditions_hold(self, caller: object, service: str, operation: str, params: Mapping, block: dict) -> bool:
        """Whether a Condition block holds for this caller's call (for trust policies, which STS
        matches itself): the same operators and request context as every other check; False when
        the block is malformed."""
        try:
            parsed = conditions.parse_block(block)
        except ValueError:
            return False
        principal = self._principal(caller)
        return conditions.test_all(parsed, self._context(caller, principal, service, operation, params))

    def is_root(self, caller: object) -> bool:
        return getattr(caller, "principal_arn", None) == self._root

    def check(self, caller: object, service: str, operation: str, params: Mapping) -> Denial | None:
        """None when the call is allowed, else why not."""
        if not self._enforcing or self.is_root(caller):
            return None
        principal = self._principal(caller)
        target = actions.target(service, operation, params, region=self._region, account=self._account,
                                caller_arn=principal.arn)
        if target is None:
            return None
        if not target.known:
            reason = "no identity-based policy allows"
            return Denial(target.action, target.resource, reason,
                          denial.message(principal.arn, target.action, target.resource, reason))
        context = self._context(caller, principal, service, operation, params)
        identity = self._identity(caller)
        resource_policy = self._resource(target.resource)
        if _references(identity, resource_policy, tag_keys.RESOURCE_TAG):  # else no tag is read
            context.update(tag_keys.resource_keys(service, operation, params, target.resource, self._resource_tags))
        request = Request(principal, target.action, target.resource, self._account, context)
        decision = evaluate(request, identity, resource_policy)
        if decision.reason != ALLOWED:
            return Denial(target.action, target.resource, decision.reason,
                          denial.message(principal.arn, target.action, target.resource, decision.reason))
        for passed in actions.passed_roles(service, operation, params, region=self._region, account=self._account):
            refused = self._pass_role(principal, passed, context, identity)
            if refused is not None:
                return refused
        return None

    def _pass_role(self, principal: Principal, passed: actions.PassedRole, context: Mapping[str, object],
                   identity: Sequence[Policy]) -> Denial | None:
        """iam:PassRole on a role the call hands to a service: the caller's identity policies alone
        decide (a role's trust policy is no resource policy for it), with the request's global keys
        but its tag keys (the call's and the function's tags are not the role's) and
        iam:PassedToService / iam:AssociatedResourceArn. A role of another account is never
        passed (no resource policy can allow it)."""
        keys = {key: value for key, value in context.items()
                if key.startswith("aws:") and not tag_keys.is_tag_key(key)}
        keys["iam:passedtoservice"] = passed.service
        keys["iam:associatedresourcearn"] = passed.associated_resource
        fields = passed.role_arn.split(":")
        role_account = fields[4] if len(fields) > 5 else self._account
        request = Request(principal, PASS_ROLE, passed.role_arn, role_account, keys)
        decision = evaluate(request, identity, None)
        if decision.reason == ALLOWED:
            return None
        return Denial(PASS_ROLE, passed.role_arn, decision.reason,
                      denial.message(principal.arn, PASS_ROLE, passed.role_arn, decision.reason))

    def may_invoke(self, service_principal: str, function_arn: str, source_arn: str | None = None,
                   source_account: str | None = None) -> bool:
        """Whether the function's resource policy lets `service_principal` invoke it (for
        EventBridge rules and S3 notifications), with aws:SourceArn / aws:SourceAccount set.
        Always, when not enforcing."""
        if not self._enforcing:
            return True
        current, epoch = self._times()
        context: dict[str, object] = {"aws:currenttime": current, "aws:epochtime": epoch}
        if source_arn is not None:
            context["aws:sourcearn"] = source_arn
        if source_account is not None:
            context["aws:sourceaccount"] = source_account
        principal = Principal(arn=service_principal, account=None, service=service_principal)
        request = Request(principal, "lambda:InvokeFunction", function_arn, self._account, context)
        return evaluate(request, (), self._resource(function_arn)).allowed

    def allows_anyone(self, action: str, resource: str, context: Mapping[str, object] | None = None) -> bool:
        """Whether the resource policy of `resource` lets anyone, signed or not, perform `action`
        (Principal `*`: what a function URL with AuthType NONE needs), with the `context` keys
        (lower-cased) beside the time. Only a resource policy can allow it; always, when not enforcing."""
        if not self._enforcing:
            return True
        now = self._clock()
        full: dict[str, object] = {"aws:currenttime": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                   "aws:epochtime": str(int(now)), "aws:securetransport": self._secure, **(context or {})}
        # Anonymous: no account and no identity policies; as a "service" nobody names, only a
        # statement whose Principal is `*` (or {"AWS": "*"}) matches it.
        principal = Principal(arn="*", account=None, service=ANONYMOUS)
        request = Request(principal, action, resource, self._account, full)
        return evaluate(request, (), self._resource(resource)).allowed


    def role_allows(self, session: object, action: str, resource: str) -> bool:
        """Whether a role's identity policies let it do `action` on `resource`, `session` being a
        caller of that role (an assumed-role session, as Lambda uses a function's execution role to
        read an event source). Always, when not enforcing."""
        if not self._enforcing:
            return True
        principal = self._principal(session)
        now = self._clock()
        context: dict[str, object] = {
            "aws:currenttime": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aws:epochtime": str(int(now)), "aws:requestedregion": self._region,
            "aws:principalarn": principal.role_arn or principal.arn, "aws:principalaccount": principal.account,
        }
        request = Request(principal, action, resource, self._account, context)
        return evaluate(request, self._identity(session), None).allowed


def _references(identity: Sequence[Policy], resource_policy: Policy | None, prefix: str) -> bool:
    """Whether a policy in play references a context key starting with `prefix`."""
    return any(policy.references(prefix) for policy in identity) or (
        resource_policy is not None and resource_policy.references(prefix))


def _lambda_keys(operation: str, params: Mapping, region: str, account: str) -> dict[str, object]:
    """The lambda:* condition keys an operation carries (IAM: actions defined by AWS Lambda)."""
    keys: dict[str, object] = {}
    if operation in ("CreateEventSourceMapping", "UpdateEventSourceMapping") and params.get("FunctionName"):
        name, qualifier = actions.function_parts(str(params["FunctionName"]), None)
        arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
        keys["lambda:functionarn"] = f"{arn}:{qualifier}" if qualifier else arn
    if operation in ("CreateFunction", "UpdateFunctionConfiguration") and params.get("Layers") is not None:
        keys["lambda:layer"] = list(params["Layers"])
    if operation in ("AddPermission", "RemovePermission") and params.get("Principal"):
        keys["lambda:principal"] = params["Principal"]
    if params.get("FunctionUrlAuthType"):
        keys["lambda:functionurlauthtype"] = params["FunctionUrlAuthType"]
    elif operation in ("CreateFunctionUrlConfig", "UpdateFunctionConfiguration", "UpdateFunctionUrlConfig",
                       "InvokeFunctionUrl") and params.get("AuthType"):
        keys["lambda:functionurlauthtype"] = params["AuthType"]
    return keys
