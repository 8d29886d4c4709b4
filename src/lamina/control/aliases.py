"""Alias operations: CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases, the routing
rules, and the version one invocation through an alias runs (`pick_version`, weighted routing).

Imports lamina.store, lamina.model, lamina.errors, lamina.arn, lamina.events and lamina.control.paging
only; announces
changes by publishing lamina.events.AliasChanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from lamina import arn as arns
from lamina.control import paging
from lamina.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lamina.events import AliasChanged
from lamina.model import LATEST, Alias
from lamina.store.aliases import AliasStore
from lamina.store.functions import FunctionStore


def check_routing(primary: str, weights: dict[str, float]) -> None:
    """AWS's rules for RoutingConfig.AdditionalVersionWeights (reference 1.3, Aliases)."""
    if not weights:
        return
    if len(weights) > 1:
        raise InvalidParameterValueException("Number of items in AdditionalVersionWeights cannot be greater than 1")
    if primary == LATEST:
        raise InvalidParameterValueException("$LATEST is not supported for an alias pointing to more than 1 version")
    for version, weight in weights.items():
        if version == primary:
            raise InvalidParameterValueException(
                f"Invalid function version {version}. Function version {version} is already included in routing "
                "configuration."
            )
        if not 0.0 <= weight < 1.0:
            raise InvalidParameterValueException(
                f"Invalid weight {weight} for function version {version}: a weight must be at least 0.0 and "
                "less than 1.0."
            )


def pick_version(alias: Alias, draw: float) -> str:
    """The version one invocation through `alias` runs, given a uniform draw in [0, 1)."""
    for version, weight in alias.weights.items():
        if draw < weight:
            return version
    return alias.function_version


class Aliases:
    def __init__(self, store: AliasStore, functions: FunctionStore, region: str, account_id: str,
                 publish: Callable[[object], None]) -> None:
        self._store = store
        self._functions = functions
        self._region = region
        self._account_id = account_id
        self._publish = publish

    def arn(self, function_name: str, alias: str | None = None) -> str:
        return arns.function_arn(self._region, self._account_id, function_name, alias)

    def _function_name(self, function_name: str) -> str:
        name = arns.parse_function_name(function_name, self._region, self._account_id).name
        if self._functions.get(name) is None:
            raise ResourceNotFoundException(f"Function not found: {self.arn(name)}")
        return name

    def _check_version(self, name: str, version: str) -> None:
        if version != LATEST and (not version.isdigit() or self._functions.get_version(name, version) is None):
            raise ResourceNotFoundException(f"Function not found: {self.arn(name, version)}")

    def get(self, function_name: str, alias_name: str) -> Alias:
        name = self._function_name(function_name)
        alias = self._store.get(name, alias_name)
        if alias is None:
            raise ResourceNotFoundException(f"Cannot find alias arn: {self.arn(name, alias_name)}")
        return alias

    def create(self, params: dict) -> Alias:
        name = self._function_name(params["FunctionName"])
        weights = _weights(params)
        self._check_version(name, params["FunctionVersion"])
        check_routing(params["FunctionVersion"], weights)
        for version in weights:
            self._check_version(name, version)
        alias = Alias(function_name=name, name=params["Name"], function_version=params["FunctionVersion"],
                      description=params.get("Description") or "", weights=weights, revision_id=str(uuid.uuid4()))
        if not self._store.create(alias):
            raise ResourceConflictException(f"Alias already exists: {self.arn(name, alias.name)}")
        self._publish(AliasChanged(name, alias.name))
        return alias

    def update(self, params: dict) -> Alias:
        name = self._function_name(params["FunctionName"])
        with self._store.locked(name):  # a read-modify-write of the alias: one at a time
            updated = self._update(name, params)
        self._publish(AliasChanged(name, updated.name))
        return updated

    def _update(self, name: str, params: dict) -> Alias:
        alias = self._store.get(name, params["Name"])
        if alias is None:  # UpdateAlias words it differently from GetAlias (reference 1.3)
            raise ResourceNotFoundException(f"Alias not found: {self.arn(name, params['Name'])}")
        if params.get("RevisionId") is not None and params["RevisionId"] != alias.revision_id:
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias "
                "API to retrieve the latest Revision Id"
            )
        version = params.get("FunctionVersion", alias.function_version)
        weights = _weights(params) if "RoutingConfig" in params else alias.weights
        self._check_version(alias.function_name, version)
        check_routing(version, weights)
        for extra in weights:
            self._check_version(alias.function_name, extra)
        updated = Alias(function_name=alias.function_name, name=alias.name, function_version=version,
                        description=params.get("Description", alias.description) or "", weights=weights,
                        revision_id=str(uuid.uuid4()))
        self._store.save(updated)
        return updated

    def delete(self, function_name: str, alias_name: str) -> None:
        name = self._function_name(function_name)
        self._store.delete(name, alias_name)
        self._publish(AliasChanged(name, alias_name))

    def list(self, params: dict) -> tuple[list[Alias], str | None]:
        name = self._function_name(params["FunctionName"])
        items = self._store.list(name, function_version=params.get("FunctionVersion"))
        return paging.page(items, params, key=lambda alias: alias.name)


def _weights(params: dict) -> dict[str, float]:
    routing = params.get("RoutingConfig") or {}
    return {str(k): float(v) for k, v in (routing.get("AdditionalVersionWeights") or {}).items()}
