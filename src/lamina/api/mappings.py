"""Handlers of the event source mapping operations: Create/Get/Update/Delete/ListEventSourceMapping(s).
Imports lamina.control (through the ControlPlane it is handed), lamina.api.call and lamina.api.wire."""

from __future__ import annotations

from lamina.api import wire
from lamina.api.call import Call, Reply
from lamina.control.plane import ControlPlane
from lamina.model import EventSourceMapping


def _shape(cp: ControlPlane, mapping: EventSourceMapping) -> dict:
    return wire.event_source_mapping(mapping, cp.mappings.arn(mapping), cp.mappings.function_arn(mapping))


def create_event_source_mapping(cp: ControlPlane, call: Call) -> Reply:
    return 202, _shape(cp, cp.mappings.create(call.params))


def get_event_source_mapping(cp: ControlPlane, call: Call) -> Reply:
    return 200, _shape(cp, cp.mappings.get(call.params["UUID"]))


def update_event_source_mapping(cp: ControlPlane, call: Call) -> Reply:
    return 202, _shape(cp, cp.mappings.update(call.params))


def delete_event_source_mapping(cp: ControlPlane, call: Call) -> Reply:
    return 202, _shape(cp, cp.mappings.delete(call.params["UUID"]))


def list_event_source_mappings(cp: ControlPlane, call: Call) -> Reply:
    items, marker = cp.mappings.list(call.params)
    return 200, wire.listing("EventSourceMappings", [_shape(cp, item) for item in items], marker)


HANDLERS = {
    "CreateEventSourceMapping": create_event_source_mapping,
    "GetEventSourceMapping": get_event_source_mapping,
    "UpdateEventSourceMapping": update_event_source_mapping,
    "DeleteEventSourceMapping": delete_event_source_mapping,
    "ListEventSourceMappings": list_event_source_mappings,
}
