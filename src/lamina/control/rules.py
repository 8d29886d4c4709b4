"""The EventBridge API (JSON 1.1, target prefix AWSEvents): event buses, rules, targets, PutEvents,
tags, and the firing of scheduled rules.

One method per operation: the request dict in, the response dict out, `EventsError` (HTTP 400,
`{"__type", "message"}`, AWS's codes and texts of reference 3.3) on failure. Model-level checks
(required members, types, lengths, patterns) are the HTTP layer's. A matched event or a fired
schedule becomes one `Delivery` per target (the target's input shaped by
lamina.control.target_input), handed to the `deliver` callable, which returns once they are
durably queued as asynchronous (Event) invokes. Event patterns are lamina.patterns'; schedule
expressions lamina.schedule_expression's. The clock that decides when a schedule fires is
lamina.schedules; here are its reads (`scheduled`) and its one action (`fire`).
Changes are announced as lamina.events.RuleChanged.
Imports lamina.store.rules, lamina.events, lamina.patterns, lamina.schedule_expression and lamina.control
(event_envelope, target_input); never lamina.api, the engine or the queue.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from lamina import patterns
from lamina.control import event_envelope as envelopes
from lamina.control import target_input
from lamina.control.event_envelope import DEFAULT_BUS
from lamina.events import RuleChanged
from lamina.schedule_expression import InvalidSchedule, Schedule, datetime_of
from lamina.schedule_expression import parse as parse_schedule
from lamina.store.rules import RuleRow, RuleStore

log = logging.getLogger("lamina.control.rules")

MAX_TARGETS = 5
MAX_PUT_EVENTS_BYTES = 262_144
LIST_LIMIT = 100
ENABLED = "ENABLED"
DISABLED = "DISABLED"
_LAMBDA_ARN = re.compile(r"arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:[a-zA-Z0-9-_.]+(:[a-zA-Z0-9-_$]+)?")
_BUS_ARN = re.compile(r"arn:aws[\w-]*:events:[^:]*:\d{12}:event-bus/(.+)")
_RULE_ARN = re.compile(r"arn:aws[\w-]*:events:[^:]*:\d{12}:rule/(?:(.+)/)?([^/]+)")
_RULE_FIELDS = ("EventPattern", "ScheduleExpression", "State", "Description", "RoleArn")


class EventsError(Exception):
    """An error answered with AWS's JSON 1.1 body (written by lamina.api.responses)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def validation(message: str) -> EventsError:
    return EventsError("ValidationException", message)


@dataclass(frozen=True)
class Delivery:
    """One asynchronous invoke of a rule's target."""

    rule_arn: str
    function_arn: str
    payload: bytes
    target: dict = field(default_factory=dict)  # the Target as stored (its RetryPolicy, DeadLetterConfig)


@dataclass(frozen=True)
class ScheduledRule:
    """What the schedule clock reads of a rule with a schedule."""

    bus: str
    name: str
    schedule: Schedule
    anchor: int  # the minute a rate counts from
    last_fired: int | None
    enabled: bool


Deliver = Callable[[list[Delivery]], None]


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> patterns.Pattern:
    return patterns.compile_pattern(pattern)


def _token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def _after_token(params: dict) -> str | None:
    token = params.get("NextToken")
    if not token:
        return None
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise validation("The NextToken provided is invalid.") from None


def _page(items: list, params: dict, key: Callable) -> tuple[list, dict]:
    after = _after_token(params)
    if after is not None:
        items = [item for item in items if key(item) > after]
    limit = params.get("Limit") or LIST_LIMIT
    more = {"NextToken": _token(key(items[limit - 1]))} if len(items) > limit else {}
    return items[:limit], more



def _changes(method):
    """A change reads what is stored and writes it back: one at a time across every front
    (RuleStore.locked)."""
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._store.locked():
            return method(self, *args, **kwargs)
    return locked

class Rules:
    OPERATIONS = {
        "PutRule": "put_rule", "DescribeRule": "describe_rule", "ListRules": "list_rules",
        "EnableRule": "enable_rule", "DisableRule": "disable_rule", "DeleteRule": "delete_rule",
        "PutTargets": "put_targets", "RemoveTargets": "remove_targets", "ListTargetsByRule": "list_targets_by_rule",
        "ListRuleNamesByTarget": "list_rule_names_by_target", "CreateEventBus": "create_event_bus",
        "DeleteEventBus": "delete_event_bus", "ListEventBuses": "list_event_buses",
        "DescribeEventBus": "describe_event_bus", "PutEvents": "put_events", "TagResource": "tag_resource",
        "UntagResource": "untag_resource", "ListTagsForResource": "list_tags_for_resource",
    }

    def __init__(self, store: RuleStore, region: str, account_id: str, *, deliver: Deliver,
                 now_minute: Callable[[], int], publish: Callable[[object], None] = lambda _: None,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._publish = publish
        self._region = region
        self._account = account_id
        self._deliver = deliver
        self._now_minute = now_minute
        self._clock = clock
        self._store.create_bus(DEFAULT_BUS, {}, {})  # the default bus always exists

    def call(self, operation: str, request: dict) -> dict:
        method = self.OPERATIONS.get(operation)
        if method is None:
            raise EventsError("UnknownOperationException", f"lamina does not implement the operation {operation}.")
        return getattr(self, method)(request) or {}

    # -- names and lookups ----------------------------------------------------------------------
    def _bus_name(self, request: dict, key: str = "EventBusName") -> str:
        name = request.get(key) or DEFAULT_BUS
        match = _BUS_ARN.fullmatch(name)
        return match[1] if match else name

    def _existing_bus(self, name: str) -> None:
        if self._store.bus(name) is None:
            raise EventsError("ResourceNotFoundException", f"Event bus {name} does not exist.")

    def _rule(self, request: dict, key: str = "Name") -> RuleRow:
        bus = self._bus_name(request)
        self._existing_bus(bus)
        row = self._store.rule(bus, request[key])
        if row is None:
            raise EventsError("ResourceNotFoundException", f"Rule {request[key]} does not exist on EventBus {bus}.")
        return row

    def rule_arn(self, bus: str, name: str) -> str:
        return envelopes.rule_arn(self._region, self._account, bus, name)

    def _rule_view(self, row: RuleRow) -> dict:
        view = {"Name": row.name, "Arn": self.rule_arn(row.bus, row.name)}
        view.update({key: row.config[key] for key in _RULE_FIELDS if row.config.get(key) is not None})
        view["EventBusName"] = row.bus
        return view

    # -- rules ----------------------------------------------------------------------------------
    @_changes
    def put_rule(self, request: dict) -> dict:
        bus = self._bus_name(request)
        schedule, pattern = request.get("ScheduleExpression"), request.get("EventPattern")
        if not schedule and not pattern:
            raise validation("Parameter(s) EventPattern or ScheduleExpression must be specified.")
        self._existing_bus(bus)
        if schedule:
            if bus != DEFAULT_BUS:
                raise validation("ScheduleExpression is supported only on the default event bus.")
            try:
                parse_schedule(schedule)
            except InvalidSchedule:
                raise validation("Parameter ScheduleExpression is not valid.") from None
        if pattern:
            try:
                _compiled(pattern)
            except patterns.PatternError as error:
                raise EventsError("InvalidEventPatternException", f"Event pattern is not valid. Reason: {error.reason}") \
                    from None
        previous = self._store.rule(bus, request["Name"])
        config = {key: request[key] for key in _RULE_FIELDS if request.get(key) is not None}
        config.setdefault("State", ENABLED)
        tags = dict(previous.tags) if previous else {}
        tags.update({tag["Key"]: tag["Value"] for tag in request.get("Tags") or []})
        anchor = last_fired = None
        if schedule:
            now = self._now_minute()
            unchanged = previous is not None and previous.config.get("ScheduleExpression") == schedule
            anchor = previous.schedule_anchor if unchanged and previous.schedule_anchor is not None else now
            last_fired = previous.last_fired if unchanged else now
            if previous is not None and previous.config.get("State") == DISABLED and config["State"] != DISABLED:
                last_fired = max(last_fired or now, now)  # minutes while disabled are not fired later
        self._store.put_rule(RuleRow(bus, request["Name"], config, tags, anchor, last_fired))
        self._publish(RuleChanged(bus, request["Name"]))
        return {"RuleArn": self.rule_arn(bus, request["Name"])}

    def describe_rule(self, request: dict) -> dict:
        row = self._rule(request)
        return {**self._rule_view(row), "CreatedBy": self._account}

    def list_rules(self, request: dict) -> dict:
        bus = self._bus_name(request)
        self._existing_bus(bus)
        rows, more = _page(self._store.rules(bus, request.get("NamePrefix") or ""), request, key=lambda r: r.name)
        return {"Rules": [self._rule_view(row) for row in rows], **more}

    @_changes
    def _set_state(self, request: dict, state: str) -> None:
        row = self._rule(request)
        last_fired = row.last_fired
        if state == ENABLED and row.config.get("State") == DISABLED and row.schedule_anchor is not None:
            last_fired = max(last_fired or 0, self._now_minute())
        self._store.put_rule(RuleRow(row.bus, row.name, {**row.config, "State": state}, row.tags,
                                     row.schedule_anchor, last_fired))
        self._publish(RuleChanged(row.bus, row.name))

    def enable_rule(self, request: dict) -> None:
        self._set_state(request, ENABLED)

    def disable_rule(self, request: dict) -> None:
        self._set_state(request, DISABLED)

    @_changes
    def delete_rule(self, request: dict) -> None:
        bus = self._bus_name(request)
        self._existing_bus(bus)
        if self._store.rule(bus, request["Name"]) is None:
            return  # deleting a missing rule succeeds
        if self._store.targets(bus, request["Name"]) and not request.get("Force"):
            raise validation("Rule can't be deleted since it has targets.")
        self._store.delete_rule(bus, request["Name"])
        self._publish(RuleChanged(bus, request["Name"]))

    # -- targets --------------------------------------------------------------------------------
    @_changes
    def put_targets(self, request: dict) -> dict:
        row = self._rule(request, "Rule")
        for target in request["Targets"]:
            problem = target_input.check(target)
            if problem:
                raise validation(problem)
        accepted, failed = [], []
        for target in request["Targets"]:
            foreign = [key for key in target if key.endswith("Parameters")]
            if not _LAMBDA_ARN.fullmatch(target["Arn"]):
                failed.append({"TargetId": target["Id"], "ErrorCode": "ValidationException",
                               "ErrorMessage": f"lamina supports Lambda function targets only: {target['Arn']} "
                                               "is not a Lambda function ARN."})
            elif foreign:
                failed.append({"TargetId": target["Id"], "ErrorCode": "ValidationException",
                               "ErrorMessage": f"{foreign[0]} does not apply to a Lambda function target."})
            else:
                accepted.append(target)
        existing = {target["Id"] for target in self._store.targets(row.bus, row.name)}
        if len(existing | {target["Id"] for target in accepted}) > MAX_TARGETS:
            raise EventsError("LimitExceededException", "The requested resource exceeds the maximum number allowed.")
        self._store.put_targets(row.bus, row.name, accepted)
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    @_changes
    def remove_targets(self, request: dict) -> dict:
        row = self._rule(request, "Rule")
        existing = {target["Id"] for target in self._store.targets(row.bus, row.name)}
        failed = [{"TargetId": i, "ErrorCode": "ResourceNotFoundException",
                   "ErrorMessage": f"Rule '{row.name}' does not have a target with the Id '{i}'."}
                  for i in request["Ids"] if i not in existing]
        self._store.remove_targets(row.bus, row.name, [i for i in request["Ids"] if i in existing])
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    def list_targets_by_rule(self, request: dict) -> dict:
        row = self._rule(request, "Rule")
        targets, more = _page(self._store.targets(row.bus, row.name), request, key=lambda t: t["Id"])
        return {"Targets": targets, **more}

    def list_rule_names_by_target(self, request: dict) -> dict:
        bus = self._bus_name(request)
        self._existing_bus(bus)
        names, more = _page(self._store.rules_by_target(bus, request["TargetArn"]), request, key=lambda n: n)
        return {"RuleNames": names, **more}

    # -- buses ----------------------------------------------------------------------------------
    def _bus_view(self, name: str) -> dict:
        row = self._store.bus(name)
        if row is None:
            raise EventsError("ResourceNotFoundException", f"Event bus {name} does not exist.")
        view = {"Name": row.name, "Arn": envelopes.bus_arn(self._region, self._account, row.name)}
        if row.config.get("Description") is not None:
            view["Description"] = row.config["Description"]
        return {**view, "CreationTime": row.created_at, "LastModifiedTime": row.created_at}

    def create_event_bus(self, request: dict) -> dict:
        name = request["Name"]
        if request.get("EventSourceName"):
            raise validation("lamina does not support partner event sources (EventSourceName).")
        for key in ("KmsKeyIdentifier", "DeadLetterConfig", "LogConfig"):
            if request.get(key):
                raise validation(f"lamina does not support {key} on event buses.")
        if name == DEFAULT_BUS or "/" in name:
            raise validation(f"Event bus name {name} is not valid: '/' is reserved for partner event buses "
                             "and 'default' names the default event bus.")
        config = {key: request[key] for key in ("Description",) if request.get(key) is not None}
        tags = {tag["Key"]: tag["Value"] for tag in request.get("Tags") or []}
        if not self._store.create_bus(name, config, tags):
            raise EventsError("ResourceAlreadyExistsException", f"Event bus {name} already exists.")
        return {"EventBusArn": envelopes.bus_arn(self._region, self._account, name), **config}

    def delete_event_bus(self, request: dict) -> None:
        name = self._bus_name(request, "Name")
        if name == DEFAULT_BUS:
            raise validation("Cannot delete event bus default.")
        self._store.delete_bus(name)  # deleting a missing bus succeeds
        self._publish(RuleChanged(name, None))

    def describe_event_bus(self, request: dict) -> dict:
        return self._bus_view(self._bus_name(request, "Name"))

    def list_event_buses(self, request: dict) -> dict:
        rows, more = _page(self._store.buses(request.get("NamePrefix") or ""), request, key=lambda b: b.name)
        return {"EventBuses": [self._bus_view(row.name) for row in rows], **more}

    # -- tags -----------------------------------------------------------------------------------
    def _tagged(self, arn: str) -> tuple[str, str | None, dict]:
        """(bus, rule or None, tags) of a bus or rule ARN."""
        bus_match, rule_match = _BUS_ARN.fullmatch(arn), _RULE_ARN.fullmatch(arn)
        if bus_match:
            row = self._store.bus(bus_match[1])
            if row is None:
                raise EventsError("ResourceNotFoundException", f"Event bus {bus_match[1]} does not exist.")
            return row.name, None, row.tags
        if rule_match:
            bus, name = rule_match[1] or DEFAULT_BUS, rule_match[2]
            rule = self._store.rule(bus, name)
            if rule is None:
                raise EventsError("ResourceNotFoundException", f"Rule {name} does not exist on EventBus {bus}.")
            return bus, name, rule.tags
        raise validation(f"Resource {arn} is not an event bus or rule ARN; lamina tags those only.")

    def _set_tags(self, bus: str, rule: str | None, tags: dict) -> None:
        if rule is None:
            self._store.set_bus_tags(bus, tags)
        else:
            self._store.set_rule_tags(bus, rule, tags)

    @_changes
    def tag_resource(self, request: dict) -> None:
        bus, rule, tags = self._tagged(request["ResourceARN"])
        self._set_tags(bus, rule, {**tags, **{tag["Key"]: tag["Value"] for tag in request["Tags"]}})

    @_changes
    def untag_resource(self, request: dict) -> None:
        bus, rule, tags = self._tagged(request["ResourceARN"])
        self._set_tags(bus, rule, {k: v for k, v in tags.items() if k not in set(request["TagKeys"])})

    def list_tags_for_resource(self, request: dict) -> dict:
        _, _, tags = self._tagged(request["ResourceARN"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}

    # -- events ---------------------------------------------------------------------------------
    def put_events(self, request: dict) -> dict:
        if request.get("EndpointId"):
            raise validation("lamina does not support global endpoints (EndpointId).")
        entries = request["Entries"]
        if sum(_entry_size(entry) for entry in entries) > MAX_PUT_EVENTS_BYTES:
            raise validation("Total size of the entries in the request is over the limit.")
        received = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
        results, deliveries = [], []
        for entry in entries:
            problem = _entry_problem(entry)
            if problem is not None:
                results.append({"ErrorCode": problem[0], "ErrorMessage": problem[1]})
                continue
            event_id = str(uuid.uuid4())
            try:
                event = envelopes.entry_envelope(entry, json.loads(entry["Detail"]), event_id=event_id,
                                                 account=self._account, region=self._region, received=received)
            except (ValueError, OverflowError, OSError):
                results.append({"ErrorCode": "InvalidArgument",
                                "ErrorMessage": "Parameter Time is not valid. Reason: Time is not a valid timestamp."})
                continue
            results.append({"EventId": event_id})
            deliveries += self._route(self._bus_name(entry), event, envelopes.timestamp(received))
        if deliveries:
            self._deliver(deliveries)
        failed = sum(1 for result in results if "ErrorCode" in result)
        return {"FailedEntryCount": failed, "Entries": results}

    def _route(self, bus: str, event: dict, ingestion_time: str) -> list[Delivery]:
        """The deliveries of one event to the targets of the enabled pattern rules it matches (none
        on a bus that does not exist: AWS accepts the event and drops it)."""
        out: list[Delivery] = []
        for row in self._store.rules(bus):
            pattern = row.config.get("EventPattern")
            if not pattern or row.config.get("State") == DISABLED:
                continue
            try:
                matched = _compiled(pattern).matches(event)
            except patterns.PatternError:  # stored before a grammar change: never matches
                matched = False
            if matched:
                out += self._deliveries(row, event, ingestion_time)
        return out

    def _deliveries(self, row: RuleRow, event: dict, ingestion_time: str) -> list[Delivery]:
        arn = self.rule_arn(row.bus, row.name)
        context = target_input.Context(rule_arn=arn, rule_name=row.name, ingestion_time=ingestion_time)
        return [Delivery(arn, target["Arn"], target_input.render(target, event, context), target)
                for target in self._store.targets(row.bus, row.name)]

    # -- schedules (lamina.schedules is the clock) ----------------------------------------------
    def scheduled(self) -> list[ScheduledRule]:
        out = []
        for row in self._store.scheduled():
            try:
                schedule = parse_schedule(row.config["ScheduleExpression"])
            except (InvalidSchedule, KeyError):
                continue
            out.append(ScheduledRule(row.bus, row.name, schedule, row.schedule_anchor or 0, row.last_fired,
                                     row.config.get("State") != DISABLED))
        return out

    def claim(self, rule: ScheduledRule, minute: int) -> bool:
        """Record `minute` as fired for `rule`; False if it already was (or the rule is gone)."""
        return self._store.mark_fired(rule.bus, rule.name, minute)

    def rewind(self, rule: ScheduledRule, minute: int) -> None:
        """Set the rule's last fired minute back to `minute` (the clock found it in the future)."""
        self._store.rewind(rule.bus, rule.name, minute)

    def fire(self, rule: ScheduledRule, minute: int) -> None:
        """Deliver the scheduled event of `minute` to the rule's targets."""
        row = self._store.rule(rule.bus, rule.name)
        if row is None:
            return
        arn = self.rule_arn(row.bus, row.name)
        event = envelopes.scheduled_envelope(rule=arn, scheduled=datetime_of(minute), event_id=str(uuid.uuid4()),
                                             account=self._account, region=self._region)
        deliveries = self._deliveries(row, event, envelopes.timestamp(dt.datetime.fromtimestamp(self._clock(), dt.UTC)))
        if deliveries:
            self._deliver(deliveries)


def _entry_size(entry: dict) -> int:
    """AWS's PutEvents entry size: UTF-8 bytes of Source, DetailType, Detail and each Resource, +14 with Time."""
    size = sum(len(str(entry.get(key) or "").encode()) for key in ("Source", "DetailType", "Detail"))
    size += sum(len(str(resource).encode()) for resource in entry.get("Resources") or [])
    return size + (14 if entry.get("Time") is not None else 0)


def _not_json(token: str) -> object:
    raise ValueError(f"{token} is not JSON")


def _entry_problem(entry: dict) -> tuple[str, str] | None:
    for key in ("Source", "DetailType", "Detail"):
        if not entry.get(key):
            return "InvalidArgument", f"Parameter {key} is not valid. Reason: {key} is a required argument."
    if entry["Source"].startswith("aws."):
        return "NotAuthorizedForSourceException", "Not authorized for the source."
    try:
        detail = json.loads(entry["Detail"], parse_constant=_not_json)
    except (ValueError, RecursionError):
        detail = None
    if not isinstance(detail, dict):
        return "MalformedDetail", "Detail is malformed."
    return None
