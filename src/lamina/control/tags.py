"""Tags on functions, event source mappings and code signing configs: TagResource, UntagResource,
ListTags.

`of(arn)` answers the current tags of an ARN for the authorizer's aws:ResourceTag keys.
A tag change is a mutation of the function, so it gives $LATEST a new RevisionId (reference 1.3).
lamina's own control tags (`lamina:network`, `lamina:debug-port`) change how environments start, so
a change of one announces FunctionChanged (environments are then replaced). A mapping's tags (its
ARN `...:event-source-mapping:UUID`) live on its row and go with it; they change nothing it does.
So do a code signing config's (`...:code-signing-config:csc-...`; an unknown one is AWS's
CodeSigningConfigNotFoundException), read and changed under the lock its update and delete take.
The 50-tag limit (`check_count`) holds for all three, on create and on TagResource; key and value
limits are the model's (lamina.api.validation). Imports lamina.store, lamina.model, lamina.arn,
lamina.errors and lamina.events only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from lamina import arn as arns
from lamina.errors import (
    CodeSigningConfigNotFoundException,
    InvalidParameterValueException,
    ResourceNotFoundException,
)
from lamina.events import FunctionChanged
from lamina.model import EventSourceMapping
from lamina.store.code_signing import CodeSigningStore
from lamina.store.functions import FunctionStore
from lamina.store.mappings import MappingStore

MAX_TAGS = 50
CONTROL_PREFIX = "lamina:"
TOO_MANY = "Number of tags exceeds resource tag limit."
QUALIFIED = "Tags on function aliases and versions are not supported. Please specify a function ARN."


def _qualified(resource: str, region: str, account_id: str) -> bool:
    """Whether a Resource is a function ARN carrying a version or alias qualifier."""
    if not resource.startswith("arn:"):
        return False
    try:
        return arns.parse_function_name(resource, region, account_id).qualifier is not None
    except ResourceNotFoundException:  # not a function ARN here: tagged_function_name says why
        return False


def check_count(tags: dict[str, str]) -> None:
    """A resource holds at most MAX_TAGS tags (AWS's text)."""
    if len(tags) > MAX_TAGS:
        raise InvalidParameterValueException(TOO_MANY)


class Tags:
    def __init__(self, store: FunctionStore, region: str, account_id: str,
                 publish: Callable[[object], None] = lambda event: None,
                 mappings: MappingStore | None = None, code_signing: CodeSigningStore | None = None) -> None:
        self._store = store
        self._mappings = mappings
        self._code_signing = code_signing
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

    def _mapping(self, resource: str) -> EventSourceMapping | None:
        """The existing mapping `resource` names; None when it names no mapping."""
        uuid = arns.tagged_mapping_uuid(resource, self._region, self._account_id)
        if uuid is None or self._mappings is None:
            return None
        mapping = self._mappings.get(uuid)
        if mapping is None:
            raise arns.mapping_not_found(resource)
        return mapping

    def _config_id(self, resource: str) -> str | None:
        """The id of the code signing config `resource` names; None when it names no config. Whether
        it exists is the caller's to ask (under the config's lock for a change)."""
        if self._code_signing is None:
            return None
        return arns.tagged_code_signing_config_id(resource, self._region, self._account_id)

    def _config_tags(self, resource: str, csc_id: str) -> dict[str, str]:
        assert self._code_signing is not None
        tags = self._code_signing.tags_of(csc_id)
        if tags is None:
            raise arns.code_signing_config_not_found(resource)
        return tags

    def of(self, resource: str) -> dict[str, str] | None:
        """The current tags of the function (unqualified ARN), event source mapping or code signing
        config an ARN names; None when it names none of them, or nothing that exists. Never raises:
        the authorizer's aws:ResourceTag keys come from here, asked before the call itself finds out
        what is wrong."""
        try:
            uuid = arns.tagged_mapping_uuid(resource, self._region, self._account_id)
            if uuid is not None:
                mapping = self._mappings.get(uuid) if self._mappings is not None else None
                return None if mapping is None else dict(mapping.tags)
            csc_id = arns.tagged_code_signing_config_id(resource, self._region, self._account_id)
            if csc_id is not None:
                return self._code_signing.tags_of(csc_id) if self._code_signing is not None else None
            if ":function:" not in resource:
                return None
            return self._store.tags(arns.tagged_function_name(resource, self._region, self._account_id))
        except (InvalidParameterValueException, ResourceNotFoundException, CodeSigningConfigNotFoundException):
            return None

    def list(self, resource: str) -> dict[str, str]:
        csc_id = self._config_id(resource)
        if csc_id is not None:
            return self._config_tags(resource, csc_id)
        mapping = self._mapping(resource)
        if mapping is not None:
            return dict(mapping.tags)
        return dict(self._function(resource).tags)

    def tag(self, resource: str, tags: dict[str, str]) -> None:
        csc_id = self._config_id(resource)
        if csc_id is not None:
            self._change_config(resource, csc_id, lambda current: {**current, **tags})
            return
        mapping = self._mapping(resource)
        if mapping is not None:
            self._change_mapping(resource, mapping.uuid, lambda current: {**current, **tags})
            return
        function = self._function(resource)
        with self._store.locked(function.name):  # a read-modify-write of the tags: one at a time
            function = self._function(resource)
            merged = {**function.tags, **tags}
            check_count(merged)
            self._save(function, merged)

    def untag(self, resource: str, keys: list[str]) -> None:
        csc_id = self._config_id(resource)
        if csc_id is not None:
            self._change_config(resource, csc_id,
                                lambda current: {k: v for k, v in current.items() if k not in set(keys)})
            return
        mapping = self._mapping(resource)
        if mapping is not None:
            self._change_mapping(resource, mapping.uuid,
                                 lambda current: {k: v for k, v in current.items() if k not in set(keys)})
            return
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

    def _change_mapping(self, resource: str, uuid: str,
                        change: Callable[[dict[str, str]], dict[str, str]]) -> None:
        """A read-modify-write of a mapping's tags, under the lock its create/update/delete take."""
        assert self._mappings is not None
        with self._mappings.locked():
            mapping = self._mappings.get(uuid)
            if mapping is None:  # deleted meanwhile
                raise arns.mapping_not_found(resource)
            tags = change(dict(mapping.tags))
            check_count(tags)
            self._mappings.set_tags(uuid, tags)

    def _change_config(self, resource: str, csc_id: str,
                       change: Callable[[dict[str, str]], dict[str, str]]) -> None:
        """A read-modify-write of a code signing config's tags, under the lock its update/delete take
        (lamina.control.code_signing locks the config's ARN as lamina writes it)."""
        assert self._code_signing is not None
        with self._code_signing.locked("config", arns.code_signing_config_arn(self._region, self._account_id, csc_id)):
            tags = change(self._config_tags(resource, csc_id))
            check_count(tags)
            if not self._code_signing.set_tags(csc_id, tags):
                raise arns.code_signing_config_not_found(resource)
