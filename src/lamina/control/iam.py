"""IAM: roles, users, customer managed policies (with versions), inline and attached policies and
access keys, one method per IAM operation, taking and returning the members of botocore's `iam`
input and output shapes; AWS's errors and texts (reference 4.4). AWS managed policies come from
lamina.managed_policies and are read-only.

`policies_of(kind, name)` gives the documents that apply to a user or a role (inline + attached),
for `identity_policies`. `changed` is called after every change of keys (the credential cache).
Imports lamina.store.iam, lamina.errors, lamina.tokens (identifiers), lamina.policy_documents, lamina.authz and
lamina.managed_policies.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable

from lamina import managed_policies
from lamina.authz.document import PolicyError, parse_policy
from lamina.errors import IamError
from lamina.policy_documents import Malformed, entities_named, identity_policy, trust_policy
from lamina.store.iam import IamStore
from lamina.tokens import random_id

ROLE, USER, POLICY = "role", "user", "policy"
MAX_ATTACHED = 10  # managed policies per role or user (AWS's default quota)
MAX_VERSIONS = 5
MAX_KEYS = 2
TRUST_POLICY_LIMIT = 2048
INLINE_LIMIT = {ROLE: 10240, USER: 2048}  # aggregate inline policy size per role / user
MANAGED_LIMIT = 6144
_ENTITY = {ROLE: "role", USER: "user"}


def _when(epoch: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC)


def _iso(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


def _no_entity(message: str) -> IamError:
    return IamError("NoSuchEntity", message, 404)


def _page(items: list, params: dict, key: str) -> dict:
    """List pagination: Marker is the index to resume at, MaxItems 1–1000 (default 100)."""
    start = int(params["Marker"]) if str(params.get("Marker", "")).isdigit() else 0
    size = params.get("MaxItems") or 100
    chunk = items[start:start + size]
    out: dict = {key: chunk, "IsTruncated": start + size < len(items)}
    if out["IsTruncated"]:
        out["Marker"] = str(start + size)
    return out


def _document(text: str, parse: Callable[[str], dict], limit: int, kind: str,
              check: Callable[[dict], None] | None = None) -> str:
    if len(text) > limit:
        raise IamError("LimitExceeded", f"Cannot exceed quota for {kind}: {limit}", 409)
    try:
        document = parse(text)
        # What the policy evaluator must read, it must be able to read (unknown condition operators ...).
        parse_policy(text, "trust" if parse is trust_policy else "identity")
    except Malformed as error:
        raise IamError("MalformedPolicyDocument", error.message) from None
    except PolicyError as error:
        raise IamError("MalformedPolicyDocument", error.reason) from None
    if check is not None:
        check(document)
    return text


def _stable_id(prefix: str, seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return prefix + "".join("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[b % 32] for b in digest[:17])


def _locked(method):
    """A change is a read-modify-write of an entity's document: one at a time, in this process and
    across every front sharing the database (the store's lock is taken first, lamina.store.locks)."""
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self.store.locked(), self._lock:
            return method(self, *args, **kwargs)
    return locked


class Iam:
    def __init__(self, store: IamStore, account_id: str, changed: Callable[[], None] = lambda: None) -> None:
        self._lock = threading.RLock()
        self.store = store
        self.account_id = account_id
        self._changed = changed

    # -- shapes -----------------------------------------------------------------------------------
    def _arn(self, kind: str, path: str, name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:{kind}{path}{name}"

    @staticmethod
    def _role_shape(data: dict) -> dict:
        out = {k: data[k] for k in ("Path", "RoleName", "RoleId", "Arn") if k in data}
        out["CreateDate"] = _when(data["CreateDate"])
        out["AssumeRolePolicyDocument"] = data["AssumeRolePolicyDocument"]
        if data.get("Description") is not None:
            out["Description"] = data["Description"]
        out["MaxSessionDuration"] = data["MaxSessionDuration"]
        if data.get("Tags"):
            out["Tags"] = data["Tags"]
        return out

    @staticmethod
    def _user_shape(data: dict) -> dict:
        out = {k: data[k] for k in ("Path", "UserName", "UserId", "Arn")}
        out["CreateDate"] = _when(data["CreateDate"])
        if data.get("Tags"):
            out["Tags"] = data["Tags"]
        return out

    def _entity(self, kind: str, name: str) -> dict:
        data = self.store.get(kind, name)
        if data is None:
            raise _no_entity(f"The {_ENTITY[kind]} with name {name} cannot be found.")
        return data

    # -- roles ------------------------------------------------------------------------------------
    def create_role(self, params: dict) -> dict:
        name, path = params["RoleName"], params.get("Path", "/")
        document = _document(params["AssumeRolePolicyDocument"], trust_policy, TRUST_POLICY_LIMIT,
                             "ACLSizePerRole", self._principals_exist)
        duration = params.get("MaxSessionDuration", 3600)
        if not 3600 <= duration <= 43200:
            raise IamError("ValidationError", f"1 validation error detected: Value '{duration}' at "
                           "'maxSessionDuration' failed to satisfy constraint: Member must have value less than or "
                           "equal to 43200")
        data = {"RoleName": name, "Path": path, "RoleId": random_id("AROA", 21), "Arn": self._arn("role", path, name), "CreateDate": time.time(),
                "AssumeRolePolicyDocument": document, "Description": params.get("Description"),
                "MaxSessionDuration": duration, "Tags": params.get("Tags", []), "Inline": {}, "Attached": []}
        if not self.store.insert(ROLE, name, data):
            raise IamError("EntityAlreadyExists", f"Role with name {name} already exists.", 409)
        return {"Role": self._role_shape(data)}

    def _principals_exist(self, document: dict) -> None:
        """IAM checks that the users and roles of its own account a trust policy names exist (a role
        cannot name itself before it is made)."""
        for kind, name, written in entities_named(document, self.account_id):
            data = self.store.get(USER if kind == "user" else ROLE, name)
            if data is None or data["Arn"] != written:
                raise IamError("MalformedPolicyDocument", f'Invalid principal in policy: "AWS":"{written}"')

    def get_role(self, params: dict) -> dict:
        shape = self._role_shape(self._entity(ROLE, params["RoleName"]))
        shape["RoleLastUsed"] = {}
        return {"Role": shape}

    def role(self, name: str) -> dict | None:
        """A role's stored document (None when there is none)."""
        return self.store.get(ROLE, name)

    def list_roles(self, params: dict) -> dict:
        prefix = params.get("PathPrefix", "/")
        # As on AWS, listings leave out tags (GetRole shows them).
        roles = [self._role_shape(dict(r, Tags=[])) for r in self.store.all(ROLE) if r["Path"].startswith(prefix)]
        return _page(roles, params, "Roles")

    @_locked
    def delete_role(self, params: dict) -> dict:
        data = self._entity(ROLE, params["RoleName"])
        if data["Attached"]:
            raise IamError("DeleteConflict", "Cannot delete entity, must detach all policies first.", 409)
        if data["Inline"]:
            raise IamError("DeleteConflict", "Cannot delete entity, must delete policies first.", 409)
        self.store.delete(ROLE, params["RoleName"])
        return {}

    @_locked
    def update_assume_role_policy(self, params: dict) -> dict:
        data = self._entity(ROLE, params["RoleName"])
        data["AssumeRolePolicyDocument"] = _document(params["PolicyDocument"], trust_policy, TRUST_POLICY_LIMIT,
                                                     "ACLSizePerRole", self._principals_exist)
        self.store.put(ROLE, params["RoleName"], data)
        return {}

    # -- managed policies -------------------------------------------------------------------------
    def _managed(self, arn: str) -> dict | None:
        """A policy's stored form: customer managed from the store, AWS managed from the data."""
        name = managed_policies.BY_ARN.get(arn)
        if name is not None:
            policy = managed_policies.MANAGED_POLICIES[name]
            return {"PolicyName": name, "PolicyId": _stable_id("ANPA", arn), "Arn": arn, "Path": policy["Path"],
                    "DefaultVersionId": policy["DefaultVersionId"], "CreateDate": _iso(policy["CreateDate"]).timestamp(),
                    "UpdateDate": _iso(policy["UpdateDate"]).timestamp(), "Description": None, "Tags": [],
                    "Versions": [{"VersionId": policy["DefaultVersionId"], "Document": json.dumps(policy["Document"]),
                                  "CreateDate": _iso(policy["UpdateDate"]).timestamp()}], "AwsManaged": True}
        return self.store.get(POLICY, arn)

    def _policy(self, arn: str) -> dict:
        data = self._managed(arn)
        if data is None:
            raise _no_entity(f"Policy {arn} was not found.")
        return data

    def _attachments(self, arn: str) -> int:
        return sum(arn in entity["Attached"] for kind in (ROLE, USER) for entity in self.store.all(kind))

    def _policy_shape(self, data: dict, count: int | None = None) -> dict:
        out = {k: data[k] for k in ("PolicyName", "PolicyId", "Arn", "Path", "DefaultVersionId")}
        out["AttachmentCount"] = self._attachments(data["Arn"]) if count is None else count
        out["PermissionsBoundaryUsageCount"] = 0
        out["IsAttachable"] = True
        if data.get("Description") is not None:
            out["Description"] = data["Description"]
        out["CreateDate"] = _when(data["CreateDate"])
        out["UpdateDate"] = _when(data["UpdateDate"])
        if data.get("Tags"):
            out["Tags"] = data["Tags"]
        return out

    @staticmethod
    def _version_shape(data: dict, version: dict, with_document: bool = True) -> dict:
        out = {"VersionId": version["VersionId"], "IsDefaultVersion": version["VersionId"] == data["DefaultVersionId"],
               "CreateDate": _when(version["CreateDate"])}
        if with_document:
            out["Document"] = version["Document"]
        return out

    def create_policy(self, params: dict) -> dict:
        name, path = params["PolicyName"], params.get("Path", "/")
        document = _document(params["PolicyDocument"], identity_policy, MANAGED_LIMIT, "PolicySize")
        arn = self._arn("policy", path, name)
        now = time.time()
        data = {"PolicyName": name, "PolicyId": random_id("ANPA", 21), "Arn": arn, "Path": path,
                "DefaultVersionId": "v1", "CreateDate": now, "UpdateDate": now,
                "Description": params.get("Description"), "Tags": params.get("Tags", []), "NextVersion": 2,
                "Versions": [{"VersionId": "v1", "Document": document, "CreateDate": now}]}
        if not self.store.insert(POLICY, arn, data):
            raise IamError("EntityAlreadyExists", f"A policy called {name} already exists. Duplicate names are not "
                           "allowed.", 409)
        return {"Policy": self._policy_shape(data, 0)}

    def get_policy(self, params: dict) -> dict:
        return {"Policy": self._policy_shape(self._policy(params["PolicyArn"]))}

    def get_policy_version(self, params: dict) -> dict:
        data = self._policy(params["PolicyArn"])
        for version in data["Versions"]:
            if version["VersionId"] == params["VersionId"]:
                return {"PolicyVersion": self._version_shape(data, version)}
        raise _no_entity(f"Policy {params['PolicyArn']} version {params['VersionId']} does not exist or is not "
                         "attachable.")

    def list_policy_versions(self, params: dict) -> dict:
        data = self._policy(params["PolicyArn"])
        versions = [self._version_shape(data, v, False) for v in reversed(data["Versions"])]
        return _page(versions, params, "Versions")

    @_locked
    def create_policy_version(self, params: dict) -> dict:
        arn = params["PolicyArn"]
        data = self._customer_policy(arn)
        document = _document(params["PolicyDocument"], identity_policy, MANAGED_LIMIT, "PolicySize")
        if len(data["Versions"]) >= MAX_VERSIONS:
            raise IamError("LimitExceeded", f"A managed policy can have up to {MAX_VERSIONS} versions. Before you "
                           "create a new version, you must delete an existing version.", 409)
        now = time.time()
        version = {"VersionId": f"v{data['NextVersion']}", "Document": document, "CreateDate": now}
        data["NextVersion"] += 1
        data["Versions"].append(version)
        if params.get("SetAsDefault"):
            data["DefaultVersionId"] = version["VersionId"]
        data["UpdateDate"] = now
        self.store.put(POLICY, arn, data)
        return {"PolicyVersion": self._version_shape(data, version, False)}

    @_locked
    def set_default_policy_version(self, params: dict) -> dict:
        data = self._customer_policy(params["PolicyArn"])
        if not any(v["VersionId"] == params["VersionId"] for v in data["Versions"]):
            raise _no_entity(f"Policy {params['PolicyArn']} version {params['VersionId']} does not exist or is not "
                             "attachable.")
        data["DefaultVersionId"] = params["VersionId"]
        self.store.put(POLICY, params["PolicyArn"], data)
        return {}

    @_locked
    def delete_policy_version(self, params: dict) -> dict:
        data = self._customer_policy(params["PolicyArn"])
        if params["VersionId"] == data["DefaultVersionId"]:
            raise IamError("DeleteConflict", "Cannot delete the default version of a policy.", 409)
        remaining = [v for v in data["Versions"] if v["VersionId"] != params["VersionId"]]
        if len(remaining) == len(data["Versions"]):
            raise _no_entity(f"Policy {params['PolicyArn']} version {params['VersionId']} does not exist or is not "
                             "attachable.")
        data["Versions"] = remaining
        self.store.put(POLICY, params["PolicyArn"], data)
        return {}

    def _customer_policy(self, arn: str) -> dict:
        data = self._policy(arn)
        if data.get("AwsManaged"):
            raise IamError("UnmodifiableEntity", f"Policy {arn} is an AWS managed policy and cannot be modified.")
        return data

    def list_policies(self, params: dict) -> dict:
        scope = params.get("Scope", "All")
        prefix = params.get("PathPrefix", "/")
        found = []
        if scope in ("All", "AWS"):
            found += [self._managed(arn) for arn in managed_policies.BY_ARN]
        if scope in ("All", "Local"):
            found += self.store.all(POLICY)
        counts: dict[str, int] = {}
        for kind in (ROLE, USER):
            for entity in self.store.all(kind):
                for arn in entity["Attached"]:
                    counts[arn] = counts.get(arn, 0) + 1
        shapes = [self._policy_shape(p, counts.get(p["Arn"], 0)) for p in found if p and p["Path"].startswith(prefix)]
        if params.get("OnlyAttached"):
            shapes = [s for s in shapes if s["AttachmentCount"]]
        return _page(shapes, params, "Policies")

    @_locked
    def delete_policy(self, params: dict) -> dict:
        arn = params["PolicyArn"]
        data = self._customer_policy(arn)
        if self._attachments(arn):
            raise IamError("DeleteConflict", "Cannot delete a policy attached to entities.", 409)
        if len(data["Versions"]) > 1:
            raise IamError("DeleteConflict", "This policy has more than one version. Before you delete a policy, you "
                           "must delete the policy's versions. The default version is deleted with the policy.", 409)
        self.store.delete(POLICY, arn)
        return {}

    # -- attached and inline policies of roles and users --------------------------------------------
    @_locked
    def attach(self, kind: str, name: str, arn: str) -> dict:
        data = self._entity(kind, name)
        if self._managed(arn) is None:
            raise _no_entity(f"Policy {arn} does not exist or is not attachable.")
        if arn not in data["Attached"]:
            if len(data["Attached"]) >= MAX_ATTACHED:
                quota = "PoliciesPerRole" if kind == ROLE else "PoliciesPerUser"
                raise IamError("LimitExceeded", f"Cannot exceed quota for {quota}: {MAX_ATTACHED}", 409)
            data["Attached"].append(arn)
            self.store.put(kind, name, data)
        return {}

    @_locked
    def detach(self, kind: str, name: str, arn: str) -> dict:
        data = self._entity(kind, name)
        if arn not in data["Attached"]:
            raise _no_entity(f"Policy {arn} was not found.")
        data["Attached"].remove(arn)
        self.store.put(kind, name, data)
        return {}

    def list_attached(self, kind: str, name: str, params: dict) -> dict:
        data = self._entity(kind, name)
        prefix = params.get("PathPrefix", "/")
        attached = []
        for arn in data["Attached"]:
            policy = self._managed(arn)
            if policy and policy["Path"].startswith(prefix):
                attached.append({"PolicyName": policy["PolicyName"], "PolicyArn": arn})
        return _page(attached, params, "AttachedPolicies")

    @_locked
    def put_inline(self, kind: str, name: str, policy_name: str, document: str) -> dict:
        data = self._entity(kind, name)
        _document(document, identity_policy, 131072, "PolicySize")
        inline = dict(data["Inline"], **{policy_name: document})
        limit = INLINE_LIMIT[kind]
        if sum(len(text) for text in inline.values()) > limit:
            quota = "PolicySize" if kind == ROLE else "UserPolicySize"
            raise IamError("LimitExceeded", f"Maximum policy size of {limit} bytes exceeded for {kind} {name}"
                           if kind == ROLE else f"Cannot exceed quota for {quota}: {limit}", 409)
        data["Inline"] = inline
        self.store.put(kind, name, data)
        return {}

    def get_inline(self, kind: str, name: str, policy_name: str) -> dict:
        data = self._entity(kind, name)
        if policy_name not in data["Inline"]:
            raise _no_entity(f"The {_ENTITY[kind]} policy with name {policy_name} cannot be found.")
        key = "RoleName" if kind == ROLE else "UserName"
        return {key: name, "PolicyName": policy_name, "PolicyDocument": data["Inline"][policy_name]}

    @_locked
    def delete_inline(self, kind: str, name: str, policy_name: str) -> dict:
        data = self._entity(kind, name)
        if policy_name not in data["Inline"]:
            raise _no_entity(f"The {_ENTITY[kind]} policy with name {policy_name} cannot be found.")
        del data["Inline"][policy_name]
        self.store.put(kind, name, data)
        return {}

    def list_inline(self, kind: str, name: str, params: dict) -> dict:
        return _page(sorted(self._entity(kind, name)["Inline"]), params, "PolicyNames")

    def policies_of(self, kind: str, name: str) -> list[dict]:
        """The documents of a role's or user's inline and attached policies (attached: default version)."""
        data = self.store.get(kind, name)
        if data is None:
            return []
        documents = [json.loads(text) for text in data["Inline"].values()]
        for arn in data["Attached"]:
            policy = self._managed(arn)
            if policy is not None:
                default = next(v for v in policy["Versions"] if v["VersionId"] == policy["DefaultVersionId"])
                documents.append(json.loads(default["Document"]))
        return documents

    # -- users and access keys -----------------------------------------------------------------------
    def create_user(self, params: dict) -> dict:
        name, path = params["UserName"], params.get("Path", "/")
        data = {"UserName": name, "Path": path, "UserId": random_id("AIDA", 21), "Arn": self._arn("user", path, name),
                "CreateDate": time.time(), "Tags": params.get("Tags", []), "Inline": {}, "Attached": []}
        if not self.store.insert(USER, name, data):
            raise IamError("EntityAlreadyExists", f"User with name {name} already exists.", 409)
        return {"User": self._user_shape(data)}

    def get_user(self, name: str) -> dict:
        return {"User": self._user_shape(self._entity(USER, name))}

    def user(self, name: str) -> dict | None:
        return self.store.get(USER, name)

    def list_users(self, params: dict) -> dict:
        prefix = params.get("PathPrefix", "/")
        return _page([self._user_shape(dict(u, Tags=[])) for u in self.store.all(USER) if u["Path"].startswith(prefix)],
                     params, "Users")

    @_locked
    def delete_user(self, params: dict) -> dict:
        name = params["UserName"]
        data = self._entity(USER, name)
        if self.store.keys(name):
            raise IamError("DeleteConflict", "Cannot delete entity, must delete access keys first.", 409)
        if data["Attached"]:
            raise IamError("DeleteConflict", "Cannot delete entity, must detach all policies first.", 409)
        if data["Inline"]:
            raise IamError("DeleteConflict", "Cannot delete entity, must delete policies first.", 409)
        self.store.delete(USER, name)
        return {}

    @_locked
    def create_access_key(self, name: str) -> dict:
        self._entity(USER, name)
        if len(self.store.keys(name)) >= MAX_KEYS:
            raise IamError("LimitExceeded", f"Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS}", 409)
        row = self.store.add_key(random_id("AKIA"), name, secrets.token_urlsafe(30)[:40])
        self._changed()
        return {"AccessKey": {"UserName": name, "AccessKeyId": row.access_key_id, "Status": row.status,
                              "SecretAccessKey": row.secret, "CreateDate": _when(row.created_at)}}

    @_locked
    def delete_access_key(self, name: str, access_key_id: str) -> dict:
        self._entity(USER, name)
        row = self.store.key(access_key_id)
        if row is None or row.user_name != name:
            raise _no_entity(f"The Access Key with id {access_key_id} cannot be found.")
        self.store.delete_key(access_key_id)
        self._changed()
        return {}

    @_locked
    def update_access_key(self, name: str, access_key_id: str, status: str) -> dict:
        """Active or Inactive: an inactive key signs nothing (refused as unknown) until made active again."""
        self._entity(USER, name)
        row = self.store.key(access_key_id)
        if row is None or row.user_name != name:
            raise _no_entity(f"The Access Key with id {access_key_id} cannot be found.")
        self.store.set_key_status(access_key_id, status)
        self._changed()
        return {}

    def list_access_keys(self, name: str, params: dict) -> dict:
        self._entity(USER, name)
        keys = [{"UserName": name, "AccessKeyId": row.access_key_id, "Status": row.status,
                 "CreateDate": _when(row.created_at)} for row in self.store.keys(name)]
        return _page(keys, params, "AccessKeyMetadata")
