"""Resource-based policies: AddPermission / RemovePermission / GetPolicy on functions (per
qualifier) and AddLayerVersionPermission / RemoveLayerVersionPermission / GetLayerVersionPolicy.

Statements are built as AWS builds them (reference: Permissions), e.g.
`{"Sid":"s3","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"lambda:InvokeFunction",
"Resource":"arn:...:function:f","Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::b"}}}`, and the
document is `{"Version":"2012-10-17","Id":"default","Statement":[...]}`. A change gives the function,
version or alias a new RevisionId (GetPolicy reports it; RevisionId preconditions check it); a layer
version's policy has a revision of its own. `policy_for(arn)` serves the authorizer from memory (the
hot path reads no database); `forget_*` drop a deleted function's, version's, alias's or layer
version's policies. Imports lamina.store, lamina.errors, lamina.model, lamina.events and
lamina.control only.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable

from lamina.control.functions import Functions
from lamina.control.layers import Layers
from lamina.errors import (
    NOT_FOUND,
    InvalidParameterValueException,
    PolicyLengthExceededException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lamina.events import AliasChanged, FunctionDeleted, PolicyChanged, VersionDeleted
from lamina.model import LATEST
from lamina.store.policies import Key, PolicyStore

POLICY_SIZE_LIMIT = 20480  # bytes per qualifier
CACHED_POLICIES = 8192  # policies (or their absence) kept in memory
NO_POLICY = "No policy is associated with the given resource."
INVALID_PRINCIPAL = "The provided principal was invalid. Please check the principal and try again."
_ACCOUNT = re.compile(r"^\d{12}$")
_IAM_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:(iam|sts)::\d{12}:(root|user/.+|role/.+|assumed-role/.+|federated-user/.+)$")
_SERVICE = re.compile(r"^[a-z0-9][a-z0-9.-]*\.(amazonaws\.com|amazonaws\.com\.cn|amazon\.com)$")
_FUNCTION_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:lambda:[^:]+:\d{12}:function:([^:]+)(?::([^:]+))?$")
_LAYER_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:lambda:[^:]+:\d{12}:layer:([^:]+):(\d+)$")


def principal_element(principal: str) -> str | dict:
    """AddPermission's Principal as the statement names it; InvalidParameterValue if it is none."""
    if principal == "*":
        return "*"
    if _ACCOUNT.match(principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if _IAM_ARN.match(principal):
        return {"AWS": principal}
    if _SERVICE.match(principal):
        return {"Service": principal}
    raise InvalidParameterValueException(INVALID_PRINCIPAL)


def function_statement(params: dict, resource: str) -> dict:
    """The statement AddPermission adds, keys in AWS's order."""
    statement: dict = {"Sid": params["StatementId"], "Effect": "Allow",
                       "Principal": principal_element(params["Principal"]), "Action": params["Action"],
                       "Resource": resource}
    condition: dict = {}
    equals = {}
    if params.get("SourceAccount"):
        equals["AWS:SourceAccount"] = params["SourceAccount"]
    if params.get("PrincipalOrgID"):
        equals["aws:PrincipalOrgID"] = params["PrincipalOrgID"]
    if params.get("FunctionUrlAuthType"):
        equals["lambda:FunctionUrlAuthType"] = params["FunctionUrlAuthType"]
    if params.get("EventSourceToken"):
        equals["lambda:EventSourceToken"] = params["EventSourceToken"]
    if equals:
        condition["StringEquals"] = equals
    if params.get("SourceArn"):
        condition["ArnLike"] = {"AWS:SourceArn": params["SourceArn"]}
    if params.get("InvokedViaFunctionUrl"):
        condition["Bool"] = {"lambda:InvokedViaFunctionUrl": "true"}
    if condition:
        statement["Condition"] = condition
    return statement


def layer_statement(params: dict, resource: str) -> dict:
    principal = params["Principal"]
    statement: dict = {"Sid": params["StatementId"], "Effect": "Allow",
                       "Principal": "*" if principal == "*" else {"AWS": principal if principal.startswith("arn:")
                                                                  else f"arn:aws:iam::{principal}:root"},
                       "Action": params["Action"], "Resource": resource}
    if params.get("OrganizationId"):
        statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": params["OrganizationId"]}}
    return statement


def document(statements: list[dict]) -> str:
    return json.dumps({"Version": "2012-10-17", "Id": "default", "Statement": statements}, separators=(",", ":"))


def _compact(value: dict) -> str:
    return json.dumps(value, separators=(",", ":"))


class Permissions:
    def __init__(self, store: PolicyStore, functions: Functions, layers: Layers,
                 publish: Callable[[object], None] | None = None) -> None:
        self._store = store
        self._publish = publish  # announces PolicyChanged (other cluster fronts drop their copies)
        self._functions = functions
        self._layers = layers
        self._lock = threading.RLock()
        self._cache: dict[Key, tuple[list[dict], str] | None] = {}

    # -- storage with the in-memory copy ---------------------------------------------------------
    def _get(self, key: Key) -> tuple[list[dict], str] | None:
        try:
            return self._cache[key]
        except KeyError:
            pass
        with self._lock:  # a load never overwrites a newer write's entry
            if key in self._cache:
                return self._cache[key]
            if len(self._cache) >= CACHED_POLICIES:
                self._cache.clear()
            found = self._cache[key] = self._store.get(key)
            return found

    def _current(self, key: Key) -> tuple[list[dict], str] | None:
        """The policy as stored now (another front may have changed it since it was cached): what a
        change reads, under the store's lock for `key`."""
        found = self._store.get(key)
        with self._lock:
            self._cache[key] = found
        return found

    def _put(self, key: Key, statements: list[dict], revision: str) -> None:
        with self._lock:
            self._store.put(key, statements, revision)
            self._cache[key] = (statements, revision) if statements else None
        if self._publish is not None:
            self._publish(PolicyChanged(key[0], key[1]))

    def policy_changed(self, event: PolicyChanged) -> None:
        """Drop the in-memory copies of a resource's policies (it changed, maybe through another front)."""
        with self._lock:
            for key in [k for k in self._cache if k[0] == event.kind and k[1] == event.name]:
                del self._cache[key]

    # -- functions ------------------------------------------------------------------------------
    def _function_key(self, function_name: str, qualifier: str | None, *, adding: bool = False) -> tuple[Key, str]:
        ref = self._functions.ref(function_name, qualifier)
        if ref.qualifier == LATEST and adding:
            raise InvalidParameterValueException("We currently do not support adding policies for $LATEST.")
        qualifier = None if ref.qualifier == LATEST else ref.qualifier
        self._functions.get(ref.name, qualifier)  # 404 for an unknown function, version or alias
        return ("function", ref.name, qualifier or ""), self._functions.arn(ref.name, qualifier)

    def add(self, params: dict) -> dict:
        key, resource = self._function_key(params["FunctionName"], params.get("Qualifier"), adding=True)
        statement = function_statement(params, resource)
        with self._store.locked(key):
            statements = _appended((self._current(key) or ([], ""))[0], statement, params["StatementId"])
            revision = self._functions.revise(key[1], key[2] or None, params.get("RevisionId"))
            self._put(key, statements, revision)
        return statement

    def remove(self, params: dict) -> None:
        key, _ = self._function_key(params["FunctionName"], params.get("Qualifier"))
        with self._store.locked(key):
            found = self._current(key)
            if found is None:
                raise ResourceNotFoundException(NO_POLICY)
            statements = [s for s in found[0] if s.get("Sid") != params["StatementId"]]
            if len(statements) == len(found[0]):
                raise ResourceNotFoundException(f"Statement {params['StatementId']} is not found in resource policy.")
            revision = self._functions.revise(key[1], key[2] or None, params.get("RevisionId"))
            self._put(key, statements, revision)

    def get(self, function_name: str, qualifier: str | None = None) -> tuple[str, str]:
        """GetPolicy: (the policy document as JSON text, RevisionId)."""
        key, _ = self._function_key(function_name, qualifier)
        found = self._get(key)
        if found is None:
            raise ResourceNotFoundException(NOT_FOUND)
        return document(found[0]), found[1]

    # -- layer versions -------------------------------------------------------------------------
    def _layer_key(self, layer_name: str, version: int) -> tuple[Key, str]:
        layer = self._layers.get(layer_name, version)  # 404 for an unknown layer version
        return ("layer", layer.name, str(layer.version)), self._layers.layer_arn(layer.name, layer.version)

    def add_layer(self, params: dict) -> tuple[dict, str]:
        key, resource = self._layer_key(params["LayerName"], params["VersionNumber"])
        principal = params["Principal"]
        if not (principal == "*" or _ACCOUNT.match(principal) or re.match(r"^arn:aws[a-zA-Z-]*:iam::\d{12}:root$",
                                                                           principal)):
            raise InvalidParameterValueException(INVALID_PRINCIPAL)
        statement = layer_statement(params, resource)
        with self._store.locked(key):
            found = self._current(key)
            statements, current = (found[0], found[1]) if found else ([], "")
            _check_revision(params.get("RevisionId"), current)
            statements = _appended(statements, statement, params["StatementId"])
            revision = str(uuid.uuid4())
            self._put(key, statements, revision)
        return statement, revision

    def remove_layer(self, params: dict) -> None:
        key, _ = self._layer_key(params["LayerName"], params["VersionNumber"])
        with self._store.locked(key):
            found = self._current(key)
            if found is None:
                raise ResourceNotFoundException(NO_POLICY)
            _check_revision(params.get("RevisionId"), found[1])
            statements = [s for s in found[0] if s.get("Sid") != params["StatementId"]]
            if len(statements) == len(found[0]):
                raise ResourceNotFoundException(f"Statement {params['StatementId']} is not found in resource policy.")
            self._put(key, statements, str(uuid.uuid4()))

    def get_layer(self, layer_name: str, version: int) -> tuple[str, str]:
        key, _ = self._layer_key(layer_name, version)
        found = self._get(key)
        if found is None:
            raise ResourceNotFoundException(NO_POLICY)
        return document(found[0]), found[1]

    # -- the authorizer's view ------------------------------------------------------------------
    def policy_for(self, arn: str) -> tuple[str, str] | None:
        """(revision, document) of the resource policy of a function/version/alias or layer
        version ARN, or None."""
        match = _FUNCTION_ARN.match(arn)
        if match:
            qualifier = match[2] if match[2] not in (None, LATEST) else ""
            key: Key = ("function", match[1], qualifier)
        else:
            match = _LAYER_ARN.match(arn)
            if match is None:
                return None
            key = ("layer", match[1], match[2])
        found = self._get(key)
        if found is None:
            return None
        return found[1], document(found[0])

    # -- cascades ------------------------------------------------------------------------------
    def _forget(self, kind: str, name: str, qualifier: str | None = None) -> None:
        with self._lock:
            self._store.delete(kind, name, qualifier)
            for key in [k for k in self._cache if k[0] == kind and k[1] == name
                        and (qualifier is None or k[2] == qualifier)]:
                del self._cache[key]

    def function_deleted(self, event: FunctionDeleted) -> None:
        self._forget("function", event.function)

    def version_deleted(self, event: VersionDeleted) -> None:
        self._forget("function", event.function, event.version)

    def alias_changed(self, event: AliasChanged, exists: Callable[[str, str], bool]) -> None:
        if not exists(event.function, event.alias):
            self._forget("function", event.function, event.alias)

    def layer_version_deleted(self, name: str, version: int) -> None:
        self._forget("layer", name, str(version))


def _appended(statements: list[dict], statement: dict, sid: str) -> list[dict]:
    """The statements with `statement` added: its StatementId must be new and the policy stay in size."""
    if any(s.get("Sid") == sid for s in statements):
        raise ResourceConflictException(
            f"The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the "
            "existing statement.")
    added = [*statements, statement]
    _check_size(document(added))
    return added


def _check_size(text: str) -> None:
    size = len(text.encode())
    if size > POLICY_SIZE_LIMIT:
        raise PolicyLengthExceededException(
            f"The final policy size ({size}) is bigger than the limit ({POLICY_SIZE_LIMIT}).")


def _check_revision(expected: str | None, current: str) -> None:
    if expected is not None and expected != current:
        raise PreconditionFailedException(
            "The Revision Id provided does not match the latest Revision Id. Call the GetLayerPolicy API to "
            "retrieve the latest Revision Id")


def compact_statement(statement: dict) -> str:
    """AddPermission's answer carries the statement as compact JSON text."""
    return _compact(statement)
