"""The delete cascade: a change drops cached async settings; a delete removes every setting."""

from lamina.control.cascade import Cascade
from lamina.events import AliasChanged, FunctionChanged, FunctionDeleted


class Recorder:
    def __init__(self, calls, label):
        self._calls, self._label = calls, label

    def __getattr__(self, method):
        return lambda *args: self._calls.append((self._label, method, *args))


def test_changes_and_deletes():
    calls = []
    cascade = Cascade(Recorder(calls, "event_configs"), Recorder(calls, "concurrency"),
                      Recorder(calls, "provisioned"))
    cascade.changed(FunctionChanged("f"))
    cascade.changed(AliasChanged("g", "live"))
    assert calls == [("event_configs", "forget", "f"), ("event_configs", "forget", "g")]
    calls.clear()
    cascade.deleted(FunctionDeleted("f"))
    assert calls == [("event_configs", "forget", "f"), ("concurrency", "forget", "f"),
                     ("event_configs", "delete_all", "f"), ("provisioned", "forget", "f")]
