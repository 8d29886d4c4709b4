"""STS and the identities IAM gives callers: GetCallerIdentity, AssumeRole (the trust policy checked
with lamina.principals), execution-role credentials for functions, `identity_policies` (which
documents apply to a caller, for the policy evaluator) and `credentials` (which secret and caller go
with an access key id, for SigV4 verification: long-term keys cached until a key changes, temporary
ones read from their sealed session token).

Imports lamina.control.iam, lamina.tokens, lamina.principals, lamina.identity and lamina.errors.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable
from typing import NamedTuple

from lamina import principals
from lamina.control.iam import ROLE, USER, Iam
from lamina.errors import AuthenticationError, IamError
from lamina.identity import ASSUMED_ROLE, Caller
from lamina.identity import USER as USER_KIND
from lamina.tokens import TokenError, Tokens

DEFAULT_DURATION = 3600
CHAINED_LIMIT = 3600
INVALID_TOKEN = "The security token included in the request is invalid."
EXPIRED_TOKEN = "The security token included in the request is expired"
LAMBDA_SERVICE = "lambda.amazonaws.com"


class Identity(NamedTuple):
    """What an access key id stands for: its secret and the caller (without source IP) it signs as."""

    secret: str
    caller: Caller


def role_name_of(arn: str, account_id: str) -> str | None:
    """The role name of `arn:aws:iam::ACCOUNT:role/PATH/NAME` in this account, else None."""
    prefix = f"arn:aws:iam::{account_id}:role/"
    if not arn.startswith(prefix) or arn.endswith("/"):
        return None
    return arn[len(prefix):].rsplit("/", 1)[-1]


def _unrecognized() -> AuthenticationError:
    return AuthenticationError("UnrecognizedClientException", "InvalidClientTokenId", INVALID_TOKEN)


class Sts:
    def __init__(self, iam: Iam, tokens: Tokens, account_id: str, clock: Callable[[], float] = time.time,
                 trust_conditions: Callable[[Caller, dict, dict], bool] | None = None) -> None:
        # (caller, AssumeRole input, Condition block) -> whether the block holds: the policy evaluator's,
        # when it is wired; without it, trust statements with conditions never match.
        self._trust_conditions = trust_conditions
        self._iam = iam
        self._tokens = tokens
        self._account_id = account_id
        self._clock = clock
        self._keys: dict[str, Identity] = {}

    # -- which credentials sign as whom ------------------------------------------------------------
    def keys_changed(self) -> None:
        self._keys.clear()

    def credentials(self, access_key_id: str, session_token: str | None) -> Identity:
        """The secret and caller of an access key id (with its session token for temporary
        credentials); AuthenticationError when lamina issued no such key or the session expired."""
        if session_token is not None or access_key_id.startswith("ASIA"):
            return self._session(access_key_id, session_token)
        identity = self._keys.get(access_key_id)
        if identity is None:
            row = self._iam.store.key(access_key_id)
            user = self._iam.user(row.user_name) if row is not None and row.status == "Active" else None
            if user is None:
                raise _unrecognized()
            caller = Caller(self._account_id, user["Arn"], access_key_id, authenticated=True, kind=USER_KIND,
                            user_name=user["UserName"], user_id=user["UserId"])
            identity = self._keys[access_key_id] = Identity(row.secret, caller)
        return identity

    def _session(self, access_key_id: str, token: str | None) -> Identity:
        if token is None:
            raise _unrecognized()
        try:
            session = self._tokens.open(token)
        except TokenError:
            raise _unrecognized() from None
        if session.access_key_id != access_key_id or session.account_id != self._account_id:
            raise _unrecognized()
        if session.expiration <= self._clock():
            raise AuthenticationError("ExpiredTokenException", "ExpiredToken", EXPIRED_TOKEN)
        arn = f"arn:aws:sts::{self._account_id}:assumed-role/{session.role_name}/{session.session_name}"
        caller = Caller(self._account_id, arn, access_key_id, authenticated=True, kind=ASSUMED_ROLE,
                        role_name=session.role_name, session_name=session.session_name,
                        user_id=f"{session.role_id}:{session.session_name}")
        return Identity(self._tokens.secret(token), caller)

    # -- which policies apply ----------------------------------------------------------------------
    def identity_policies(self, caller: Caller) -> list[dict]:
        """The identity-based policy documents of a caller: a user's inline and attached policies, an
        assumed-role session's role's. The root and unsigned callers have none (root is not limited
        by policies)."""
        if caller.kind == USER_KIND and caller.user_name:
            return self._iam.policies_of(USER, caller.user_name)
        if caller.kind == ASSUMED_ROLE and caller.role_name:
            return self._iam.policies_of(ROLE, caller.role_name)
        return []

    def trust_policy(self, role_arn: str) -> tuple[str, str] | None:
        """(revision, document) of a role's trust policy: the resource policy the authorizer weighs
        for sts:AssumeRole (a trust naming the caller itself allows without an identity policy)."""
        name = role_name_of(role_arn, self._account_id)
        role = self._iam.role(name) if name else None
        if role is None:
            return None
        return f"iam-{self._iam.store.revision}", role["AssumeRolePolicyDocument"]

    # -- STS operations ----------------------------------------------------------------------------
    def get_caller_identity(self, caller: Caller) -> dict:
        return {"UserId": caller.user_id or caller.account_id, "Account": caller.account_id,
                "Arn": caller.principal_arn}

    def assume_role(self, caller: Caller, params: dict) -> dict:
        role_arn, session_name = params["RoleArn"], params["RoleSessionName"]
        denied = IamError("AccessDenied", f"User: {caller.principal_arn} is not authorized to perform: sts:AssumeRole "
                          f"on resource: {role_arn}", 403)
        name = role_name_of(role_arn, self._account_id)
        role = self._iam.role(name) if name else None
        if role is None:
            raise denied
        if caller.authenticated:
            trust = json.loads(role["AssumeRolePolicyDocument"])
            holds = None
            if self._trust_conditions is not None:
                def holds(block: dict) -> bool:
                    return self._trust_conditions(caller, params, block)
            if not principals.trusts(trust, principals.identifiers(caller.account_id, caller.principal_arn,
                                                                    caller.role_arn), conditions_hold=holds):
                raise denied
        duration = params.get("DurationSeconds", DEFAULT_DURATION)
        if duration > role["MaxSessionDuration"]:
            raise IamError("ValidationError",
                           "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        if caller.kind == ASSUMED_ROLE and duration > CHAINED_LIMIT:
            raise IamError("ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for "
                           "roles assumed by role chaining.")
        expiration = self._clock() + duration
        key_id, secret, token, _ = self._tokens.mint(self._account_id, role["RoleName"], role["RoleId"], session_name,
                                                     expiration)
        return {
            "Credentials": {"AccessKeyId": key_id, "SecretAccessKey": secret, "SessionToken": token,
                            "Expiration": datetime.datetime.fromtimestamp(int(expiration), datetime.UTC)},
            "AssumedRoleUser": {"AssumedRoleId": f"{role['RoleId']}:{session_name}",
                                "Arn": f"arn:aws:sts::{self._account_id}:assumed-role/{role['RoleName']}/{session_name}"},
            "PackedPolicySize": 0,
        }

    # -- Lambda's use of roles ---------------------------------------------------------------------
    def lambda_may_assume(self, role_arn: str) -> bool:
        """Whether the role exists in this account and its trust policy lets Lambda assume it."""
        name = role_name_of(role_arn, self._account_id)
        role = self._iam.role(name) if name else None
        return role is not None and principals.trusts(json.loads(role["AssumeRolePolicyDocument"]),
                                                      service=LAMBDA_SERVICE)

    def execution_credentials(self, role_arn: str, function_name: str, expiration: float) -> tuple[str, str, str] | None:
        """Temporary credentials of the session `assumed-role/ROLE/FUNCTION` (as AWS names Lambda's),
        valid until `expiration`; None when the role ARN is not one of this account's."""
        name = role_name_of(role_arn, self._account_id)
        if name is None:
            return None
        role = self._iam.role(name)
        role_id = role["RoleId"] if role else "AROA" + "0" * 17
        key_id, secret, token, _ = self._tokens.mint(self._account_id, name, role_id, function_name, expiration)
        return key_id, secret, token
