"""Event invoke configs: Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s), and the retry
settings and destinations an asynchronous event of a function and qualifier runs with.

Destinations lamina cannot deliver to (SQS, SNS, EventBridge, S3) are refused here, at
configuration time, never stored and ignored. Imports lamina.store, lamina.arn, lamina.errors, lamina.events,
lamina.model and lamina.control.paging.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lamina import arn as arns
from lamina.control import paging
from lamina.errors import InvalidParameterValueException, ResourceNotFoundException
from lamina.events import EventConfigChanged
from lamina.model import LATEST, EventInvokeConfig, RetryConfig
from lamina.store.aliases import AliasStore
from lamina.store.event_configs import EventConfigStore
from lamina.store.functions import FunctionStore

_FUNCTION_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
                           r"(?P<name>[a-zA-Z0-9-_]+)(:(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]+))?$")
DEFAULTS = RetryConfig()


class EventConfigs:
    def __init__(self, store: EventConfigStore, functions: FunctionStore, aliases: AliasStore, region: str,
                 account_id: str, publish: Callable[[object], None] | None = None) -> None:
        self._store = store
        self._publish = publish  # announces EventConfigChanged (other cluster fronts drop their copies)
        self._functions = functions
        self._aliases = aliases
        self._region = region
        self._account_id = account_id
        self._cache: dict[tuple[str, str], RetryConfig] = {}

    def _target(self, function_name: str, qualifier: str | None) -> tuple[str, str]:
        ref = arns.parse_function_name(function_name, self._region, self._account_id)
        qualifier = arns.merge_qualifier(ref.qualifier, qualifier) or LATEST
        exists = self._functions.get(ref.name) is not None
        if exists and qualifier != LATEST:
            exists = (self._functions.get_version(ref.name, qualifier) is not None if qualifier.isdigit()
                      else self._aliases.get(ref.name, qualifier) is not None)
        if not exists:
            raise ResourceNotFoundException("The function doesn't exist.")
        return ref.name, qualifier

    def _arn(self, name: str, qualifier: str) -> str:
        return arns.function_arn(self._region, self._account_id, name, qualifier)

    def _check_destinations(self, name: str, config: dict) -> None:
        for kind in ("OnSuccess", "OnFailure"):
            destination = ((config.get("DestinationConfig") or {}).get(kind) or {}).get("Destination")
            if not destination:
                continue
            match = _FUNCTION_ARN.match(destination)
            if match is None:
                raise InvalidParameterValueException(
                    f"lamina cannot deliver to {destination}: only Lambda function destinations "
                    "(arn:aws:lambda:REGION:ACCOUNT:function:NAME) are supported."
                )
            if match["region"] != self._region or match["account"] != self._account_id:
                raise InvalidParameterValueException(
                    f"lamina cannot deliver to {destination}: the destination function must be in this lamina "
                    f"({self._region}, account {self._account_id})."
                )
            if match["name"] == name:
                raise InvalidParameterValueException("You can't specify the function as a destination for itself.")

    def _record(self, name: str, qualifier: str, config: dict, last_modified: float) -> EventInvokeConfig:
        return EventInvokeConfig(self._arn(name, qualifier), config, last_modified)

    def _missing(self, name: str, qualifier: str) -> ResourceNotFoundException:
        return ResourceNotFoundException(f"The function {self._arn(name, qualifier)} doesn't have an EventInvokeConfig")

    def put(self, params: dict, *, merge: bool = False) -> EventInvokeConfig:
        name, qualifier = self._target(params["FunctionName"], params.get("Qualifier"))
        given = {k: params[k] for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
                 if params.get(k) is not None}
        if not given:
            raise InvalidParameterValueException("You must specify at least one of error handling or destination setting.")
        with self._store.locked(name):  # an update merges into the stored config: one at a time
            config = given
            if merge:
                existing = self._store.get(name, qualifier)
                if existing is None:
                    raise self._missing(name, qualifier)
                config = {**existing[0], **given}
            self._check_destinations(name, config)
            last_modified = self._store.put(name, qualifier, config)
        self._cache.pop((name, qualifier), None)
        self._announce(name)
        return self._record(name, qualifier, config, last_modified)

    def get(self, params: dict) -> EventInvokeConfig:
        name, qualifier = self._target(params["FunctionName"], params.get("Qualifier"))
        found = self._store.get(name, qualifier)
        if found is None:
            raise self._missing(name, qualifier)
        return self._record(name, qualifier, *found)

    def delete(self, params: dict) -> None:
        name, qualifier = self._target(params["FunctionName"], params.get("Qualifier"))
        if self._store.get(name, qualifier) is None:
            raise self._missing(name, qualifier)
        self._store.delete(name, qualifier)
        self._cache.pop((name, qualifier), None)
        self._announce(name)

    def _announce(self, name: str) -> None:
        if self._publish is not None:
            self._publish(EventConfigChanged(name))

    def list(self, params: dict) -> tuple[list[EventInvokeConfig], str | None]:
        name, _ = self._target(params["FunctionName"], None)
        items = [self._record(name, q, c, t) for q, c, t in self._store.list(name)]
        return paging.page(items, params, key=lambda item: item.function_arn)

    def delete_all(self, function_name: str) -> None:
        """A deleted function's configs go with it."""
        self._store.delete(function_name)
        self.forget(function_name)

    def forget(self, function_name: str) -> None:
        """Drop cached settings of a function (its versions or aliases changed)."""
        for key in [key for key in self._cache if key[0] == function_name]:
            del self._cache[key]

    def retry_config(self, function_name: str, qualifier: str | None) -> RetryConfig:
        """The settings an event invoked with `qualifier` (None = unqualified) runs with."""
        key = (function_name, qualifier or LATEST)
        cached = self._cache.get(key)
        if cached is None:
            found = self._store.get(*key)
            config = found[0] if found else {}
            destinations = config.get("DestinationConfig") or {}
            cached = RetryConfig(
                maximum_retry_attempts=config.get("MaximumRetryAttempts", DEFAULTS.maximum_retry_attempts),
                maximum_event_age_s=config.get("MaximumEventAgeInSeconds", DEFAULTS.maximum_event_age_s),
                on_success=(destinations.get("OnSuccess") or {}).get("Destination"),
                on_failure=(destinations.get("OnFailure") or {}).get("Destination"),
            )
            self._cache[key] = cached
        return cached
