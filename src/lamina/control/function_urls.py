"""Function URL configs: Create/Get/Update/Delete/ListFunctionUrlConfigs, and the lookup by URL id
the serving path asks on every request (kept in memory, dropped by the FunctionUrlChanged events
this object announces: server.py subscribes `changed`).

One URL per function and qualifier ($LATEST or an alias; the service model's pattern already
refuses version numbers and `$LATEST` given explicitly). Changes are announced as
FunctionUrlChanged. Imports lamina.store, lamina.arn, lamina.errors, lamina.events, lamina.model,
lamina.url_hosts and lamina.control.paging.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable
from dataclasses import replace

from lamina import arn as arns
from lamina import url_hosts
from lamina.control import paging
from lamina.errors import NOT_FOUND, ResourceConflictException, ResourceNotFoundException
from lamina.events import FunctionUrlChanged
from lamina.model import LATEST, FunctionUrlConfig
from lamina.store.aliases import AliasStore
from lamina.store.function_urls import FunctionUrlStore
from lamina.store.functions import FunctionStore

NO_FUNCTION = "Function does not exist"
_MISSING = object()


def timestamp(now: datetime.datetime | None = None) -> str:
    """CreationTime / LastModifiedTime as AWS writes them: `2021-10-11T18:23:09.727345Z`."""
    now = now or datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FunctionUrls:
    def __init__(self, store: FunctionUrlStore, functions: FunctionStore, aliases: AliasStore, region: str,
                 account_id: str, *, url_for: Callable[[str], str],
                 publish: Callable[[object], None] = lambda event: None) -> None:
        self._store = store
        self._functions = functions
        self._aliases = aliases
        self._region = region
        self._account_id = account_id
        self.url_for = url_for  # URL id → FunctionUrl
        self._publish = publish
        self._by_id: dict[str, FunctionUrlConfig] = {}
        self._lock = threading.Lock()

    def function_arn(self, config: FunctionUrlConfig) -> str:
        qualifier = None if config.qualifier == LATEST else config.qualifier
        return arns.function_arn(self._region, self._account_id, config.function_name, qualifier)

    def _target(self, params: dict) -> tuple[str, str]:
        """(function, qualifier) named by FunctionName and Qualifier; 404 when the function is missing."""
        ref = arns.parse_function_name(params["FunctionName"], self._region, self._account_id)
        qualifier = arns.merge_qualifier(ref.qualifier, params.get("Qualifier")) or LATEST
        if self._functions.get(ref.name) is None:
            raise ResourceNotFoundException(NO_FUNCTION)
        return ref.name, qualifier

    def _existing(self, name: str, qualifier: str) -> FunctionUrlConfig:
        config = self._store.get(name, qualifier)
        if config is None:
            raise ResourceNotFoundException(NOT_FOUND)
        return config

    def _changed(self, config: FunctionUrlConfig) -> None:
        self._publish(FunctionUrlChanged(config.function_name, config.qualifier))

    def changed(self, event: FunctionUrlChanged) -> None:
        """The subscriber of FunctionUrlChanged: the URL of that function and qualifier is read anew."""
        with self._lock:
            for url_id in [key for key, config in self._by_id.items()
                           if (config.function_name, config.qualifier) == (event.function, event.qualifier)]:
                del self._by_id[url_id]

    def create(self, params: dict) -> FunctionUrlConfig:
        name, qualifier = self._target(params)
        existing = self._store.get(name, qualifier)
        if existing is not None:
            raise ResourceConflictException(
                f"Failed to create function url config for [functionArn = {self.function_arn(existing)}]. "
                "Error message:  FunctionUrlConfig exists for this Lambda function")
        if qualifier != LATEST and self._aliases.get(name, qualifier) is None:
            raise ResourceNotFoundException(NO_FUNCTION)
        now = timestamp()
        config = FunctionUrlConfig(function_name=name, qualifier=qualifier, url_id=url_hosts.new_url_id(),
                                   auth_type=params["AuthType"], cors=params.get("Cors"),
                                   invoke_mode=params.get("InvokeMode"), creation_time=now, last_modified_time=now)
        if not self._store.create(config):  # a concurrent create won
            return self.create(params)
        self._changed(config)
        return config

    def get(self, params: dict) -> FunctionUrlConfig:
        ref = arns.parse_function_name(params["FunctionName"], self._region, self._account_id)
        qualifier = arns.merge_qualifier(ref.qualifier, params.get("Qualifier")) or LATEST
        return self._existing(ref.name, qualifier)

    def update(self, params: dict) -> FunctionUrlConfig:
        name, qualifier = self._target(params)
        with self._store.locked(name):  # a read-modify-write of the config: one at a time
            config = self._existing(name, qualifier)
            changes: dict = {"last_modified_time": timestamp()}
            if params.get("AuthType") is not None:
                changes["auth_type"] = params["AuthType"]
            if params.get("Cors") is not None:
                changes["cors"] = params["Cors"]
            if params.get("InvokeMode") is not None:
                changes["invoke_mode"] = params["InvokeMode"]
            config = replace(config, **changes)
            self._store.save(config)
        self._changed(config)
        return config

    def delete(self, params: dict) -> None:
        ref = arns.parse_function_name(params["FunctionName"], self._region, self._account_id)
        qualifier = arns.merge_qualifier(ref.qualifier, params.get("Qualifier")) or LATEST
        config = self._existing(ref.name, qualifier)
        self._store.delete(ref.name, qualifier)
        self._changed(config)

    def list(self, params: dict) -> tuple[list[FunctionUrlConfig], str | None]:
        name, _ = self._target(params)
        return paging.page(self._store.list(name), params, key=lambda config: config.qualifier)

    def delete_all(self, function_name: str) -> None:
        """A deleted function's URLs go with it."""
        self._store.delete(function_name)
        with self._lock:
            for url_id in [key for key, config in self._by_id.items() if config.function_name == function_name]:
                del self._by_id[url_id]

    def by_id(self, url_id: str) -> FunctionUrlConfig | None:
        """The config a URL id serves (the serving path's lookup; a miss reads the store)."""
        config = self._by_id.get(url_id, _MISSING)
        if config is _MISSING:
            config = self._store.by_id(url_id)
            if config is not None:
                with self._lock:
                    self._by_id[url_id] = config
        return config  # type: ignore[return-value]

    def cached(self, url_id: str) -> FunctionUrlConfig | None:
        """The config of `url_id` if it is in memory (no store read: safe on the event loop)."""
        return self._by_id.get(url_id)
