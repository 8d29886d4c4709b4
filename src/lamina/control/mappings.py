"""Event source mappings: Create/Get/Update/Delete/ListEventSourceMapping(s), and what the pollers
read and report about them (their state, StateTransitionReason, LastProcessingResult).

The checks and defaults are lamina.control.mapping_rules'; facts about the source that only the
source knows (an SQS queue's existence and visibility timeout) come from the `probe` callable the
server hands in (lamina.pollers.sources), MQ brokers from the configured AMQP URLs. Every change is
announced as events.MappingChanged. Imports lamina.store, lamina.arn, lamina.errors, lamina.events,
lamina.model and lamina.control (mapping_rules, paging, source_access, tags). A mapping's Tags
(Create only; TagResource after) are kept on its row, and go when it is deleted.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid as uuids
from collections.abc import Callable, Collection

from lamina import arn as arns
from lamina.control import mapping_rules as rules
from lamina.control import paging, source_access
from lamina.control.tags import check_count
from lamina.errors import (
    NOT_FOUND,
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lamina.events import MappingChanged
from lamina.model import LATEST, EventSourceMapping, FunctionVersion
from lamina.store.aliases import AliasStore
from lamina.store.functions import FunctionStore
from lamina.store.mappings import MappingStore

log = logging.getLogger("lamina.mappings")
LIST_CAP = 100

# probe(kind, event source ARN) → facts about the source ({"VisibilityTimeout": 30} for SQS) or None when
# they cannot be learnt now; raises InvalidParameterValueException when the source does not exist.
Probe = Callable[[str, str], dict | None]
# role_may(role ARN, action, resource ARN) → whether the role's identity policies allow it (auth on).
RoleMay = Callable[[str, str, str], bool]


class EventSourceMappings:
    def __init__(self, store: MappingStore, functions: FunctionStore, aliases: AliasStore, region: str,
                 account_id: str, *, publish: Callable[[object], None], probe: Probe | None = None,
                 mq_brokers: Collection[str] = (), compile_pattern: Callable[[dict], object] | None = None,
                 role_may: RoleMay | None = None) -> None:
        self._store = store
        self._functions = functions
        self._aliases = aliases
        self._region = region
        self._account_id = account_id
        self._publish = publish
        self._probe = probe
        self._mq_brokers = frozenset(mq_brokers)
        self._compile_pattern = compile_pattern
        self._role_may = role_may
        self._lock = threading.Lock()

    # -- the API --------------------------------------------------------------------------
    def arn(self, mapping: EventSourceMapping) -> str:
        return arns.mapping_arn(self._region, self._account_id, mapping.uuid)

    def function_arn(self, mapping: EventSourceMapping) -> str:
        return arns.function_arn(self._region, self._account_id, mapping.function_name, mapping.qualifier)

    def _target(self, function_name: str) -> tuple[str, str | None, FunctionVersion]:
        """The function (name, qualifier) a mapping invokes, and the version it names now."""
        try:
            ref = arns.parse_function_name(function_name, self._region, self._account_id)
        except ResourceNotFoundException:
            raise InvalidParameterValueException("Function does not exist") from None
        version = self._functions.get_version(ref.name, LATEST) if self._functions.get(ref.name) else None
        qualifier = ref.qualifier
        if version is not None and qualifier not in (None, LATEST):
            if not qualifier.isdigit():
                alias = self._aliases.get(ref.name, qualifier)
                version = self._functions.get_version(ref.name, alias.function_version) if alias else None
            else:
                version = self._functions.get_version(ref.name, qualifier)
        if version is None:
            raise InvalidParameterValueException("Function does not exist")
        return ref.name, qualifier, version

    def _access_problem(self, kind: str, arn: str, config: dict, role: str) -> str | None:
        """AWS's text when the execution role may not read the source (None: it may, or auth is off)."""
        if self._role_may is None:
            return None
        role_may = self._role_may
        return source_access.problem(kind, arn, config, lambda action, resource: role_may(role, action, resource))

    def access_problem(self, mapping: EventSourceMapping) -> str | None:
        """Whether the mapping's function's execution role may read its source now (for its poller);
        None too when the function is gone (the poller meets that on its own)."""
        if self._role_may is None:
            return None
        try:
            _, _, version = self._target(self.function_arn(mapping))
        except InvalidParameterValueException:
            return None
        return self._access_problem(mapping.kind, mapping.event_source_arn, mapping.config, version.role)

    def _check_source(self, kind: str, arn: str, timeout: int) -> None:
        if kind == rules.MQ and arn not in self._mq_brokers:
            raise InvalidParameterValueException(
                f"lamina has no AMQP URL for the broker {arn}: add '{arn}=amqp://USER:PASSWORD@HOST:5672/' "
                "to LAMINA_MQ_BROKERS.")
        facts = self._probe(kind, arn) if self._probe is not None else None
        visibility = (facts or {}).get("VisibilityTimeout")
        if kind == rules.SQS and visibility is not None and visibility < timeout:
            raise InvalidParameterValueException(
                f"Queue visibility timeout: {visibility} seconds is less than Function timeout: {timeout} seconds")

    def _check_duplicate(self, kind: str, arn: str, name: str, qualifier: str | None, uuid: str | None) -> None:
        if kind == rules.MQ:
            return
        for other in self._store.list(event_source_arn=arn):
            if other.uuid != uuid and other.function_name == name and other.qualifier == qualifier:
                if kind == rules.SQS:
                    text = f'An event source mapping with SQS arn (" {arn} ") and function (" {name} ") already exists.'
                else:
                    text = f'The event source arn (" {arn} ") and function (" {name} ") provided mapping already exists.'
                raise ResourceConflictException(
                    f"{text} Please update or delete the existing mapping with UUID {other.uuid}")

    def create(self, params: dict) -> EventSourceMapping:
        arn = params.get("EventSourceArn")
        kind = rules.source_kind(arn, params.get("SelfManagedEventSource"))
        rules.check_create(kind, arn, params)
        tags = dict(params.get("Tags") or {})
        check_count(tags)
        config = rules.defaults(kind, params)
        rules.check_values(kind, arn, config)
        rules.check_filters(config.get("FilterCriteria"), self._compile_pattern)
        name, qualifier, version = self._target(params["FunctionName"])
        problem = self._access_problem(kind, arn, config, version.role)
        if problem:
            raise InvalidParameterValueException(problem)
        self._check_source(kind, arn, version.timeout)
        enabled = params.get("Enabled", True) is not False
        with self._store.locked(), self._lock:
            self._check_duplicate(kind, arn, name, qualifier, None)
            mapping = EventSourceMapping(
                uuid=str(uuids.uuid4()), function_name=name, qualifier=qualifier, event_source_arn=arn, kind=kind,
                config=config, enabled=enabled, state=rules.after_user_action("create", False, enabled),
                state_reason=rules.USER_REASON[kind], last_processing_result=rules.FIRST_RESULT[kind],
                last_modified=time.time(), tags=tags)
            self._store.put(mapping)
        log.info("event source mapping %s created: %s -> %s (%s)", mapping.uuid, arn, self.function_arn(mapping),
                 mapping.state)
        self._publish(MappingChanged(mapping.uuid))
        return mapping

    def get(self, uuid: str) -> EventSourceMapping:
        mapping = self._store.get(uuid)
        if mapping is None:  # the generic text; only the Tag* calls name the mapping's ARN (triggers reference §1.8)
            raise ResourceNotFoundException(NOT_FOUND)
        return mapping

    def update(self, params: dict) -> EventSourceMapping:
        with self._store.locked(), self._lock:
            current = self.get(params["UUID"])
            kind, arn = current.kind, current.event_source_arn
            rules.check_members(kind, params)
            config = rules.merged(current.config, params)
            rules.check_values(kind, arn, config)
            rules.check_filters(config.get("FilterCriteria"), self._compile_pattern)
            name, qualifier = current.function_name, current.qualifier
            if params.get("FunctionName") is not None:
                name, qualifier, version = self._target(params["FunctionName"])
                self._check_source(kind, arn, version.timeout)
                self._check_duplicate(kind, arn, name, qualifier, current.uuid)
            enabled = current.enabled if params.get("Enabled") is None else bool(params["Enabled"])
            if self._role_may is not None and enabled:  # a mapping can always be disabled
                _, _, version = self._target(arns.function_arn(self._region, self._account_id, name, qualifier))
                problem = self._access_problem(kind, arn, config, version.role)
                if problem:
                    raise InvalidParameterValueException(problem)
            mapping = EventSourceMapping(
                uuid=current.uuid, function_name=name, qualifier=qualifier, event_source_arn=arn, kind=kind,
                config=config, enabled=enabled, state=rules.after_user_action("update", current.enabled, enabled),
                state_reason=rules.USER_REASON[kind], last_processing_result=current.last_processing_result,
                last_modified=time.time(), tags=current.tags)
            self._store.put(mapping)
        log.info("event source mapping %s updated (%s)", mapping.uuid, mapping.state)
        self._publish(MappingChanged(mapping.uuid))
        return mapping

    def delete(self, uuid: str) -> EventSourceMapping:
        with self._store.locked(), self._lock:
            current = self.get(uuid)
            self._store.delete(uuid)
        log.info("event source mapping %s deleted", uuid)
        self._publish(MappingChanged(uuid))
        return EventSourceMapping(**{**current.__dict__, "state": rules.DELETING,
                                     "state_reason": rules.USER_REASON[current.kind]})

    def list(self, params: dict) -> tuple[list[EventSourceMapping], str | None]:
        name = qualifier = None
        if params.get("FunctionName"):
            try:
                ref = arns.parse_function_name(params["FunctionName"], self._region, self._account_id)
            except ResourceNotFoundException:
                return [], None
            name, qualifier = ref.name, ref.qualifier
        items = self._store.list(function_name=name, event_source_arn=params.get("EventSourceArn") or None)
        if qualifier is not None:
            items = [item for item in items if item.qualifier == qualifier]
        return paging.page(items, params, key=lambda item: item.uuid, cap=LIST_CAP)

    # -- what the pollers read and report ----------------------------------------------------
    def all(self) -> list[EventSourceMapping]:
        return self._store.list()

    def find(self, uuid: str) -> EventSourceMapping | None:
        return self._store.get(uuid)

    def settle(self, uuid: str) -> EventSourceMapping | None:
        """The pollers applied the mapping: a passing state (Creating, Updating...) comes to rest."""
        mapping = self._store.get(uuid)
        if mapping is None:
            return None
        state = rules.settled(mapping.state, mapping.enabled)
        if state != mapping.state:
            self._store.set_status(uuid, state=state)
            log.info("event source mapping %s is %s", uuid, state)
        return self._store.get(uuid)

    def report(self, uuid: str, result: str | None, problem: str | None = None) -> None:
        """A poller's news: LastProcessingResult (None: unchanged) and the problem it meets, shown in
        StateTransitionReason until it ends (problem None: back to the user's reason)."""
        mapping = self._store.get(uuid)
        if mapping is None:
            return
        changes: dict = {}
        if result is not None and result != mapping.last_processing_result:
            changes["last_processing_result"] = result
        reason = problem or rules.USER_REASON[mapping.kind]
        if reason != mapping.state_reason:
            changes["state_reason"] = reason
            if problem:
                log.warning("event source mapping %s: %s", uuid, problem)
            else:
                log.info("event source mapping %s recovered", uuid)
        self._store.set_status(uuid, **changes)

    def counts(self) -> dict[str, int]:
        return self._store.count()
