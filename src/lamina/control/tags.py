"""Tags on functions: TagResource, UntagResource, ListTags.

A tag change is a mutation of the function, so it gives $LATEST a new RevisionId (reference 1.3).
lamina's own control tags (`lamina:network`, `lamina:debug-port`) change how environments start, so
a change of one announces FunctionChanged (environments are then replaced). Imports lamina.store,
lamina.arn, lamina.errors and lamina.events only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from lamina import arn as arns
from lamina.errors import InvalidParameterValueException, ResourceNotFoundException
from lamina.events import FunctionChanged
from lamina.store.functions import FunctionStore

MAX_TAGS = 50
CONTROL_PREFIX = "lamina:"
QUALIFIED = "Tags on function aliases and versions are not supported. Please specify a function ARN."


def _qualified(resource: str, region: str, account_id: str) -> bool:
    """Whether a Resource is a function ARN carrying a version or alias qualifier."""
    if not resource.startswith("arn:"):
        return False
    try:
        return arns.parse_function_name(resource, region, account_id).qualifier is not None
    except ResourceNotFoundException:  # not a function ARN here: tagged_function_name says why
        return False


class Tags:
    def __init__(self, store: FunctionStore, region: str, account_id: str,
                 publish: Callable[[object], None] = lambda event: None) -> None:
        self._store = store
        self._publish = publish
        self._region = region
        self._account_id = account_id

    def _function(self, resource: str):
        if _qualified(resource, self._region, self._account_id):
            raise InvalidParameterValueException(QUALIFIED)
        name = arns.tagged_function_name(resource, self._region, self._account_id)
        function = self._store.get(name)
        if function is None:
            raise ResourceNotFoundException(
                f"Function not found: {arns.function_arn(self._region, self._account_id, name)}"
            )
        return function

    def list(self, resource: str) -> dict[str, str]:
        return dict(self._function(resource).tags)

    def tag(self, resource: str, tags: dict[str, str]) -> None:
        function = self._function(resource)
        with self._store.locked(function.name):  # a read-modify-write of the tags: one at a time
            function = self._function(resource)
            merged = {**function.tags, **tags}
            if len(merged) > MAX_TAGS:
                raise InvalidParameterValueException("Number of tags exceeds resource tag limit.")
            self._save(function, merged)

    def untag(self, resource: str, keys: list[str]) -> None:
        function = self._function(resource)
        with self._store.locked(function.name):
            function = self._function(resource)
            self._save(function, {k: v for k, v in function.tags.items() if k not in set(keys)})

    def _save(self, function, tags: dict[str, str]) -> None:
        self._store.set_tags(function.name, tags)
        self._store.save_version(function.latest.copy(revision_id=str(uuid.uuid4())))
        control = {k: v for k, v in tags.items() if k.startswith(CONTROL_PREFIX)}
        if control != {k: v for k, v in function.tags.items() if k.startswith(CONTROL_PREFIX)}:
            self._publish(FunctionChanged(function.name))
