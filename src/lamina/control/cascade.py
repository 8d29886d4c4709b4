"""The delete cascade: keeps a function's settings in step with the function itself.

Any change to a function, its aliases or its provisioned concurrency drops its cached async-invoke
settings; deleting a function gives back its reserved concurrency and removes its async-invoke and
provisioned-concurrency configs and its function URLs. Subscribes to lamina.events; imports lamina.events and lamina.control only.
"""

from __future__ import annotations

from lamina.control.concurrency import ReservedConcurrency
from lamina.control.event_configs import EventConfigs
from lamina.control.function_urls import FunctionUrls
from lamina.control.provisioned import ProvisionedConcurrency
from lamina.events import AliasChanged, FunctionChanged, FunctionDeleted, ProvisionedConcurrencyChanged


class Cascade:
    def __init__(self, event_configs: EventConfigs, concurrency: ReservedConcurrency,
                 provisioned: ProvisionedConcurrency, function_urls: FunctionUrls | None = None) -> None:
        self._event_configs = event_configs
        self._concurrency = concurrency
        self._provisioned = provisioned
        self._function_urls = function_urls

    def changed(self, event: FunctionChanged | AliasChanged | ProvisionedConcurrencyChanged) -> None:
        self._event_configs.forget(event.function)

    def deleted(self, event: FunctionDeleted) -> None:
        self._event_configs.forget(event.function)
        self._concurrency.forget(event.function)
        self._event_configs.delete_all(event.function)
        self._provisioned.forget(event.function)
        if self._function_urls is not None:
            self._function_urls.delete_all(event.function)
