"""lamina.control.test_events: names, events and limits of saved test events (store faked)."""

import pytest

from lamina.control.test_events import MAX_EVENTS, TestEvents, check_event, check_name
from lamina.errors import InvalidParameterValueException, ResourceNotFoundException


class MemoryStore:
    def __init__(self):
        self.rows: dict[tuple[str, str], str] = {}

    def list(self, function_name):
        return [(n, e, 1.0) for (f, n), e in sorted(self.rows.items()) if f == function_name]

    def count(self, function_name):
        return len(self.list(function_name))

    def put(self, function_name, name, event):
        self.rows[(function_name, name)] = event
        return 1.0

    def delete(self, function_name, name=None):
        keys = [k for k in self.rows if k[0] == function_name and (name is None or k[1] == name)]
        for key in keys:
            del self.rows[key]
        return bool(keys)


def resolve(name):
    if name not in ("fn", "arn:aws:lambda:us-east-1:000000000000:function:fn"):
        raise ResourceNotFoundException(f"Function not found: {name}")
    return "fn"


@pytest.mark.parametrize(("name", "ok"), [("default", True), ("a.b-c_D9", True), ("x" * 25, True),
                                          ("x" * 26, False), ("", False), ("has space", False), ("é", False)])
def test_check_name(name, ok):
    if ok:
        check_name(name)
    else:
        with pytest.raises(InvalidParameterValueException):
            check_name(name)


@pytest.mark.parametrize(("event", "ok"), [('{"a": 1}', True), ("[]", True), ("3", True), ("{", False),
                                           ({"a": 1}, False), (None, False)])
def test_check_event(event, ok):
    if ok:
        assert check_event(event) == event
    else:
        with pytest.raises(InvalidParameterValueException):
            check_event(event)


def test_put_list_delete_forget():
    store = MemoryStore()
    events = TestEvents(store, resolve)
    assert events.put("arn:aws:lambda:us-east-1:000000000000:function:fn", "one", {"Event": "{}"})["Name"] == "one"
    events.put("fn", "two", {"Event": "[1]"})
    assert [e["Name"] for e in events.list("fn")["TestEvents"]] == ["one", "two"]
    events.delete("fn", "one")
    with pytest.raises(ResourceNotFoundException):
        events.delete("fn", "one")
    with pytest.raises(ResourceNotFoundException):
        events.list("other")
    with pytest.raises(InvalidParameterValueException):
        events.put("fn", "bad", ["not", "an", "object"])
    events.forget("fn")
    assert events.list("fn") == {"TestEvents": []}


def test_event_count_limit():
    events = TestEvents(MemoryStore(), resolve)
    for index in range(MAX_EVENTS):
        events.put("fn", f"e{index}", {"Event": "{}"})
    events.put("fn", "e0", {"Event": "[]"})  # replacing one is fine
    with pytest.raises(InvalidParameterValueException, match="at most"):
        events.put("fn", "one-more", {"Event": "{}"})
