"""The wire form of domain events relayed between nodes: every kind round-trips, and what a node
cannot read (unknown kind, wrong fields, not JSON) is ignored rather than raised."""

import json

import pytest

from lamina import events
from lamina.cluster.bridge import KINDS, decode, encode

EVERY_KIND = [
    events.FunctionChanged("f"), events.FunctionDeleted("f"), events.VersionDeleted("f", "3"),
    events.AliasChanged("f", "live"), events.ProvisionedConcurrencyChanged("f"),
    events.ReservedConcurrencyChanged("f"), events.RuleChanged("default", "r"), events.RuleChanged("bus", None),
    events.MappingChanged("uuid-1"), events.FunctionUrlChanged("f", "$LATEST"),
]


def test_every_event_kind_is_known_to_the_bridge():
    assert set(KINDS) == {type(event).__name__ for event in EVERY_KIND}


@pytest.mark.parametrize("event", EVERY_KIND, ids=lambda e: type(e).__name__)
def test_each_kind_round_trips_with_its_origin(event):
    data = encode(event, "node-a")
    assert json.loads(data) == {"kind": type(event).__name__, "fields": event.__dict__, "origin": "node-a"}
    assert decode(data) == (event, "node-a")


@pytest.mark.parametrize("data", [
    b"not json",
    b"[]",
    b'{"kind": "NoSuchEvent", "fields": {}, "origin": "n"}',
    b'{"kind": "FunctionChanged", "fields": {"function": "f", "extra": 1}, "origin": "n"}',
    b'{"kind": "FunctionChanged", "fields": {}, "origin": "n"}',
    b'{"kind": "FunctionChanged", "fields": ["f"], "origin": "n"}',
    b'{"kind": "FunctionChanged", "fields": {"function": "f"}}',
    b'{"kind": "FunctionChanged", "fields": {"function": "f"}, "origin": 7}',
])
def test_unreadable_messages_decode_to_none(data):
    assert decode(data) is None


def test_only_domain_events_are_encoded():
    with pytest.raises(ValueError):
        encode(object(), "n")
