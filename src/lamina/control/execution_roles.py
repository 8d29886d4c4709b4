"""A function's execution role as Lambda uses it on the function's behalf (event source mappings):
`may` asks whether the role's identity policies let the session Lambda assumes for it take an
action on a resource (reading the event source), `of` names the role a mapping's function runs
with. Imports lamina.control.sts, lamina.identity, lamina.authz and lamina.store only.
"""

from __future__ import annotations

from lamina.authz.authorizer import Authorizer
from lamina.control.sts import role_name_of
from lamina.identity import ASSUMED_ROLE, Caller
from lamina.model import LATEST
from lamina.store.functions import FunctionStore

SESSION_NAME = "lamina-event-source"


class ExecutionRoles:
    def __init__(self, store: FunctionStore, authorizer: Authorizer, account_id: str) -> None:
        self._store = store
        self._authorizer = authorizer
        self._account_id = account_id

    def may(self, role_arn: str, action: str, resource: str) -> bool:
        """Whether an execution role's identity policies allow `action` on `resource` (Lambda reading
        an event source with the function's role)."""
        name = role_name_of(role_arn, self._account_id)
        if name is None:
            return False
        session = Caller(account_id=self._account_id, kind=ASSUMED_ROLE, role_name=name, session_name=SESSION_NAME,
                         principal_arn=f"arn:aws:sts::{self._account_id}:assumed-role/{name}/{SESSION_NAME}")
        return self._authorizer.role_allows(session, action, resource)

    def of(self, name: str, qualifier: str | None) -> str:
        """The execution role of a mapping's function (its version's, else $LATEST's)."""
        version = (self._store.get_version(name, qualifier) if qualifier else None) or self._store.get_version(name, LATEST)
        return version.role if version else ""
