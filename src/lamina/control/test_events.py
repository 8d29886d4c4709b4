"""Saved test events: the console's Test tab's shareable events, per function.

Not an AWS Lambda operation (AWS keeps shareable test events in an EventBridge schema registry); a
small lamina API, `/_lamina/test-events/...` (lamina.api.test_events), so a script can list, save
and delete the same events the console does. An event is JSON text up to the synchronous Invoke
payload limit, named as the AWS console names them. The function must exist; its events go with it
(`forget`, on FunctionDeleted). Imports lamina.errors only; the store and the function lookup are
handed in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Protocol

from lamina.errors import InvalidParameterValueException, ResourceNotFoundException

NAME = re.compile(r"[A-Za-z0-9._-]{1,25}")
EVENT_LIMIT = 6_291_456  # bytes: what a synchronous Invoke accepts
MAX_EVENTS = 100  # per function


class Store(Protocol):
    def list(self, function_name: str) -> list[tuple[str, str, float]]: ...
    def count(self, function_name: str) -> int: ...
    def put(self, function_name: str, name: str, event: str) -> float: ...
    def delete(self, function_name: str, name: str | None = None) -> bool: ...


def check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise InvalidParameterValueException(
            "The test event name must be 1 to 25 letters, digits, dots, hyphens or underscores.")


def check_event(event: object) -> str:
    """The event's JSON text, or InvalidParameterValueException."""
    if not isinstance(event, str):
        raise InvalidParameterValueException("Event must be a string holding a JSON document.")
    if len(event.encode()) > EVENT_LIMIT:
        raise InvalidParameterValueException(f"Event must be at most {EVENT_LIMIT} bytes.")
    try:
        json.loads(event)
    except ValueError:
        raise InvalidParameterValueException("Event is not a valid JSON document.") from None
    return event


def _item(name: str, event: str, last_modified: float) -> dict:
    return {"Name": name, "Event": event, "LastModified": last_modified}


class TestEvents:
    __test__ = False  # not a pytest class

    def __init__(self, store: Store, function_name: Callable[[str], str]) -> None:
        self._store = store
        self._function_name = function_name  # a name or ARN → the function's name; ResourceNotFound if none

    def list(self, function: str) -> dict:
        name = self._function_name(function)
        return {"TestEvents": [_item(*row) for row in self._store.list(name)]}

    def put(self, function: str, event_name: str, document: object) -> dict:
        name = self._function_name(function)
        check_name(event_name)
        if not isinstance(document, dict):
            raise InvalidParameterValueException("The body must be a JSON object with an Event member.")
        event = check_event(document.get("Event"))
        known = {row[0] for row in self._store.list(name)}
        if event_name not in known and len(known) >= MAX_EVENTS:
            raise InvalidParameterValueException(f"A function can have at most {MAX_EVENTS} test events.")
        return _item(event_name, event, self._store.put(name, event_name, event))

    def delete(self, function: str, event_name: str) -> None:
        name = self._function_name(function)
        check_name(event_name)
        if not self._store.delete(name, event_name):
            raise ResourceNotFoundException(f"Test event not found: {event_name}")

    def forget(self, function_name: str) -> None:
        """The function is gone: so are its events."""
        self._store.delete(function_name)
