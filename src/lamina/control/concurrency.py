"""Reserved concurrency: Put/Get/DeleteFunctionConcurrency, with the account's unreserved minimum.

Imports lamina.store, lamina.arn, lamina.errors and lamina.events only; announces changes by
publishing lamina.events.ReservedConcurrencyChanged.
"""

from __future__ import annotations

from collections.abc import Callable

from lamina import arn as arns
from lamina.errors import InvalidParameterValueException, ResourceNotFoundException
from lamina.events import ReservedConcurrencyChanged
from lamina.store.event_configs import EventConfigStore
from lamina.store.functions import FunctionStore

UNRESERVED_MINIMUM = 100


class ReservedConcurrency:
    def __init__(self, store: EventConfigStore, functions: FunctionStore, region: str, account_id: str,
                 account_limit: int, publish: Callable[[object], None]) -> None:
        self._store = store
        self._functions = functions
        self._region = region
        self._account_id = account_id
        self._limit = account_limit
        self._publish = publish

    def _name(self, function_name: str) -> str:
        ref = arns.parse_function_name(function_name, self._region, self._account_id)
        if ref.qualifier is not None:
            raise InvalidParameterValueException(
                "This operation is permitted on Lambda functions only. Aliases and versions do not support this "
                "operation. Please specify either a function name or an unqualified function ARN."
            )
        if self._functions.get(ref.name) is None:
            raise ResourceNotFoundException(
                f"Function not found: {arns.function_arn(self._region, self._account_id, ref.name)}")
        return ref.name

    def put(self, function_name: str, reserved: int) -> int:
        name = self._name(function_name)
        with self._store.concurrency_locked():  # checked against the others' reservations as stored
            others = sum(value for fn, value in self._store.reserved().items() if fn != name)
            if self._limit - others - reserved < UNRESERVED_MINIMUM:
                raise InvalidParameterValueException(
                    "Specified ReservedConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of [{UNRESERVED_MINIMUM}]."
                )
            self._store.set_reserved(name, reserved)
        self._publish(ReservedConcurrencyChanged(name))
        return reserved

    def get(self, function_name: str) -> int | None:
        return self._store.reserved().get(self._name(function_name))

    def delete(self, function_name: str) -> None:
        name = self._name(function_name)
        self._store.set_reserved(name, None)
        self._publish(ReservedConcurrencyChanged(name))

    def forget(self, function_name: str) -> None:
        """A deleted function gives its reservation back."""
        if function_name in self._store.reserved():
            self._store.set_reserved(function_name, None)
            self._publish(ReservedConcurrencyChanged(function_name))

    def all(self) -> dict[str, int]:
        return self._store.reserved()

    def unreserved(self) -> int:
        return self._limit - sum(self._store.reserved().values())
