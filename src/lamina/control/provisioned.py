"""Provisioned concurrency: Put/Get/Delete/ListProvisionedConcurrencyConfig(s), and the number of
environments each function version must keep initialised.

A config names an alias or a published version. Its environments come out of the function's
reservation, or else out of the account's unreserved pool, which must keep UNRESERVED_MINIMUM
free (so no request can make the engine start more environments than the account may run). The
engine keeps that many environments of the version it resolves to initialised ahead (`targets`),
and `status` reports them READY once they are. Imports lamina.store, lamina.model, lamina.arn,
lamina.errors, lamina.control and lamina.events only; announces changes by publishing
lamina.events.ProvisionedConcurrencyChanged.
"""

from __future__ import annotations

from collections.abc import Callable

from lamina import arn as arns
from lamina.control import paging
from lamina.control.concurrency import UNRESERVED_MINIMUM
from lamina.errors import (
    InvalidParameterValueException,
    ProvisionedConcurrencyConfigNotFoundException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lamina.events import ProvisionedConcurrencyChanged
from lamina.model import LATEST, ProvisionedConfig, lambda_timestamp
from lamina.store.aliases import AliasStore
from lamina.store.functions import FunctionStore
from lamina.store.provisioned import ProvisionedStore


def leaves_unreserved_minimum(unreserved: int, pooled: int, requested: int) -> bool:
    """Whether provisioning `requested` more environments out of the account's unreserved pool, which
    already provisions `pooled`, keeps UNRESERVED_MINIMUM of it free for on-demand use, as AWS requires."""
    return unreserved - pooled - requested >= UNRESERVED_MINIMUM


class ProvisionedConcurrency:
    def __init__(self, store: ProvisionedStore, functions: FunctionStore, aliases: AliasStore, region: str,
                 account_id: str, *, reserved: Callable[[str], int | None],
                 unreserved: Callable[[], int], ready: Callable[[str, str], int],
                 publish: Callable[[object], None]) -> None:
        self._store = store
        self._functions = functions
        self._aliases = aliases
        self._region = region
        self._account_id = account_id
        self._reserved = reserved
        self._unreserved = unreserved
        self._ready = ready
        self._publish = publish

    def _arn(self, name: str, qualifier: str | None = None) -> str:
        return arns.function_arn(self._region, self._account_id, name, qualifier)

    def _target(self, function_name: str, qualifier: str | None, *, putting: bool) -> tuple[str, str]:
        ref = arns.parse_function_name(function_name, self._region, self._account_id)
        qualifier = arns.merge_qualifier(ref.qualifier, qualifier)
        if self._functions.get(ref.name) is None:
            raise ResourceNotFoundException(f"Function not found: {self._arn(ref.name)}")
        if qualifier in (None, "", LATEST):
            raise InvalidParameterValueException(
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions." if putting
                else "The function resource provided must be an alias or a published version.")
        exists = (self._functions.get_version(ref.name, qualifier) is not None if qualifier.isdigit()
                  else self._aliases.get(ref.name, qualifier) is not None)
        if not exists:
            raise ResourceNotFoundException(f"Function not found: {self._arn(ref.name, qualifier)}")
        return ref.name, qualifier

    def version_of(self, name: str, qualifier: str) -> str | None:
        if qualifier.isdigit():
            return qualifier
        alias = self._aliases.get(name, qualifier)
        return alias.function_version if alias else None

    def _record(self, name: str, qualifier: str, requested: int, last_modified: str) -> ProvisionedConfig:
        version = self.version_of(name, qualifier)
        ready = min(self._ready(name, version), requested) if version else 0
        return ProvisionedConfig(self._arn(name, qualifier), requested, ready, last_modified)

    def put(self, params: dict) -> ProvisionedConfig:
        name, qualifier = self._target(params["FunctionName"], params.get("Qualifier"), putting=True)
        requested = params["ProvisionedConcurrentExecutions"]
        with self._store.locked():  # checked against the account's configs as stored
            return self._put(name, qualifier, requested)

    def _put(self, name: str, qualifier: str, requested: int) -> ProvisionedConfig:
        reserved = self._reserved(name)
        others = sum(n for fn, q, n, _ in self._store.all(name) if q != qualifier)
        if reserved is not None and others + requested > reserved:
            raise InvalidParameterValueException(
                f"Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution "
                f"for function: {reserved}"
            )
        if reserved is None:
            pooled = sum(n for fn, q, n, _ in self._store.all()
                         if (fn, q) != (name, qualifier) and self._reserved(fn) is None)
            if not leaves_unreserved_minimum(self._unreserved(), pooled, requested):
                raise InvalidParameterValueException(
                    "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
                    f"below its minimum value of [{UNRESERVED_MINIMUM}]."
                )
        if self.version_of(name, qualifier) == LATEST:
            raise ResourceConflictException(
                "Provisioned Concurrency Configs cannot be applied to an alias pointing to $LATEST.")
        last_modified = lambda_timestamp()
        self._store.put(name, qualifier, requested, last_modified)
        self._publish(ProvisionedConcurrencyChanged(name))
        return ProvisionedConfig(self._arn(name, qualifier), requested, 0, last_modified)  # none ready yet

    def _find(self, name: str, qualifier: str) -> tuple[str, str, int, str]:
        for row in self._store.all(name):
            if row[1] == qualifier:
                return row
        raise ProvisionedConcurrencyConfigNotFoundException("No Provisioned Concurrency Config found for this function")

    def get(self, params: dict) -> ProvisionedConfig:
        name, qualifier = self._target(params["FunctionName"], params.get("Qualifier"), putting=False)
        _, _, requested, last_modified = self._find(name, qualifier)
        return self._record(name, qualifier, requested, last_modified)

    def delete(self, params: dict) -> None:
        name, qualifier = self._target(params["FunctionName"], params.get("Qualifier"), putting=False)
        self._find(name, qualifier)
        self._store.delete(name, qualifier)
        self._publish(ProvisionedConcurrencyChanged(name))

    def list(self, params: dict) -> tuple[list[ProvisionedConfig], str | None]:
        ref = arns.parse_function_name(params["FunctionName"], self._region, self._account_id)
        if self._functions.get(ref.name) is None:
            raise ResourceNotFoundException(f"Function not found: {self._arn(ref.name)}")
        items = [self._record(name, q, n, t) for name, q, n, t in self._store.all(ref.name)]
        return paging.page(items, params, key=lambda item: item.function_arn)

    def targets(self) -> dict[tuple[str, str], int]:
        """How many environments each (function, version) must keep initialised."""
        wanted: dict[tuple[str, str], int] = {}
        for name, qualifier, requested, _ in self._store.all():
            version = self.version_of(name, qualifier)
            if version is not None and version != LATEST:
                wanted[(name, version)] = wanted.get((name, version), 0) + requested
        return wanted

    def forget(self, function_name: str) -> None:
        """A deleted function's configs go with it."""
        self._store.delete(function_name)
