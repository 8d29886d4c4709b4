"""The Pollers supervisor with fake pollers: one task per enabled mapping, replaced on change,
stopped on disable/delete, restarted after a crash, passing states settled."""

from __future__ import annotations

import asyncio

from lamina.events import MappingChanged
from lamina.model import EventSourceMapping
from lamina.pollers import fleet
from lamina.pollers.hooks import Hooks
from lamina.pollers.sources import Sources


def mapping(uuid: str, enabled: bool = True, kind: str = "sqs", size: int = 10) -> EventSourceMapping:
    return EventSourceMapping(uuid=uuid, function_name="f", qualifier=None, event_source_arn="arn:aws:sqs:r:1:q",
                              kind=kind, config={"BatchSize": size}, enabled=enabled, state="Creating",
                              state_reason="USER_INITIATED", last_processing_result=None, last_modified=0.0)


class FakePoller:
    def __init__(self, m: EventSourceMapping, log: list, crash: list) -> None:
        self.m, self.log, self.crash = m, log, crash
        self.stopping = asyncio.Event()

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> None:
        self.log.append(("start", self.m.uuid, self.m.config["BatchSize"]))
        if self.crash:
            self.crash.pop()
            raise RuntimeError("boom")
        await self.stopping.wait()
        self.log.append(("stop", self.m.uuid))


def test_pollers_follow_their_mappings(monkeypatch):
    monkeypatch.setattr(fleet, "RESTART_PAUSE_S", 0.01)
    stored = {"a": mapping("a"), "b": mapping("b", enabled=False), "k": mapping("k", kind="kinesis")}
    log: list = []
    crash: list = []
    settled: list = []
    told: list = []
    hooks = Hooks(invoke=None, report=lambda *args: told.append(args), sources=Sources())
    pollers = fleet.Pollers(load_all=lambda: list(stored.values()), load=stored.get, settle=settled.append,
                            hooks=hooks, factories={"sqs": lambda m, h: FakePoller(m, log, crash)})

    async def scenario() -> None:
        await pollers.start()
        await asyncio.sleep(0.01)
        assert pollers.running() == 1 and log == [("start", "a", 10)]
        assert sorted(settled) == ["a", "b", "k"]
        assert told == [("k", None, "PROBLEM: lamina does not poll kinesis sources yet.")]
        stored["a"] = mapping("a", size=5)
        pollers.changed(MappingChanged("a"))
        await asyncio.sleep(0.05)
        assert log[-2:] == [("stop", "a"), ("start", "a", 5)]
        crash.append(True)
        stored["b"] = mapping("b")
        pollers.changed(MappingChanged("b"))
        await asyncio.sleep(0.1)
        assert log.count(("start", "b", 10)) == 2  # crashed once, restarted
        del stored["a"]
        pollers.changed(MappingChanged("a"))
        await asyncio.sleep(0.05)
        assert pollers.running() == 1
        await pollers.close()
        assert pollers.running() == 0 and log[-1] == ("stop", "b")

    asyncio.run(scenario())


def test_a_mapping_polls_only_while_its_role_may_read_the_source():
    allowed = {"ok": False}
    text = "The provided execution role does not have permissions to call ReceiveMessage on SQS"
    log: list = []
    told: list = []
    hooks = Hooks(invoke=None, report=lambda *args: told.append(args), sources=Sources(),
                  access=lambda m: None if allowed["ok"] else text, access_interval=0.02)
    stored = {"a": mapping("a"), "s": mapping("s", kind="kinesis")}
    pollers = fleet.Pollers(load_all=lambda: list(stored.values()), load=stored.get, settle=lambda uuid: None,
                            hooks=hooks, factories={"sqs": lambda m, h: FakePoller(m, log, []),
                                                    "kinesis": lambda m, h: FakePoller(m, log, [])})

    async def scenario() -> None:
        await pollers.start()
        await asyncio.sleep(0.1)
        assert log == []  # denied from the start: nothing read
        assert ("a", None, f"PROBLEM: {text}") in told
        assert ("s", f"PROBLEM: {text}", f"PROBLEM: {text}") in told  # streams show it as LastProcessingResult too
        allowed["ok"] = True
        await asyncio.sleep(0.1)
        assert sorted(log) == [("start", "a", 10), ("start", "s", 10)]
        assert ("a", None, None) in told
        allowed["ok"] = False
        await asyncio.sleep(0.1)
        assert sorted(log) == [("start", "a", 10), ("start", "s", 10), ("stop", "a"), ("stop", "s")]
        assert told[-1][2] == f"PROBLEM: {text}"
        allowed["ok"] = True
        await asyncio.sleep(0.1)
        assert log.count(("start", "a", 10)) == 2
        await pollers.close()
        assert pollers.running() == 0 and log.count(("stop", "a")) == 2

    asyncio.run(scenario())
