"""Stacks: the state `lamina deploy` keeps in lamina (which resources a SAM stack created, with what).

lamina does not interpret the document beyond checking it is a JSON object of at most 1 MB with
a `resources` mapping; the deploy (lamina.sam, a client) owns its meaning. Names follow
CloudFormation's stack-name rule. Imports lamina.store.stacks, lamina.errors and lamina.model.
"""

from __future__ import annotations

import json
import re

from lamina.errors import InvalidParameterValueException, ResourceNotFoundException
from lamina.model import lambda_timestamp
from lamina.store.stacks import StackStore

NAME = re.compile(r"[A-Za-z][-A-Za-z0-9]{0,127}")
MAX_DOCUMENT = 1024 * 1024


class Stacks:
    def __init__(self, store: StackStore) -> None:
        self._store = store

    def _check_name(self, name: str) -> None:
        if not NAME.fullmatch(name):
            raise InvalidParameterValueException(
                f"Stack name {name!r} must start with a letter and contain only letters, digits and hyphens "
                "(at most 128 characters).")

    def put(self, name: str, document: object) -> dict:
        self._check_name(name)
        if not isinstance(document, dict) or not isinstance(document.get("resources"), dict):
            raise InvalidParameterValueException("A stack document is a JSON object with a resources object.")
        text = json.dumps(document, separators=(",", ":"), sort_keys=True)
        if len(text) > MAX_DOCUMENT:
            raise InvalidParameterValueException("A stack document must be at most 1 MB.")
        updated = lambda_timestamp()
        self._store.put(name, text, updated)
        return {"StackName": name, "LastUpdated": updated, "Document": document}

    def get(self, name: str) -> dict:
        self._check_name(name)
        found = self._store.get(name)
        if found is None:
            raise ResourceNotFoundException(f"Stack not found: {name}")
        return {"StackName": name, "LastUpdated": found[1], "Document": json.loads(found[0])}

    def list(self) -> dict:
        return {"Stacks": [{"StackName": n, "LastUpdated": u} for n, u in self._store.names()]}

    def delete(self, name: str) -> None:
        self._check_name(name)
        if not self._store.delete(name):
            raise ResourceNotFoundException(f"Stack not found: {name}")
