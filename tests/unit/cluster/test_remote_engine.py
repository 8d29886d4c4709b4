"""RemoteEngine against a fake NATS connection and a fake node list: where invokes go (warm affinity,
free memory, a retry when NATS says nobody listens), answers in parts, and failing in-flight invokes
with ServiceException when their worker's heartbeat lapses or it leaves, or the front halts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from lamina.cluster import wire
from lamina.cluster.link import Link
from lamina.cluster.names import Names
from lamina.cluster.remote_engine import RemoteEngine
from lamina.engine.spec import InvokeRequest, InvokeResult, RunSpec
from lamina.errors import ServiceException, TooManyRequestsException

NAMES = Names("t")


class FakeMsg:
    def __init__(self, subject: str, data: bytes, headers: dict | None = None) -> None:
        self.subject, self.data, self.headers, self.reply = subject, data, headers, ""


class FakeNats:
    max_payload = 64 * 1024
    is_connected = True

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, str]] = []
        self.cb = None

    async def subscribe(self, subject, cb=None, **_):
        self.cb = cb
        return self

    async def unsubscribe(self):
        pass

    async def publish(self, subject, data, reply=""):
        self.published.append((subject, data, reply))

    def runs(self) -> list[tuple[str, dict, str]]:
        return [(subject, wire.unpack(data)[0], reply) for subject, data, reply in self.published
                if subject.startswith("t.run.") and wire.unpack(data)[0]["k"] == wire.RUN]


class FakeNodes:
    def __init__(self, *workers: tuple[str, int]) -> None:
        self.beats = [{"id": w, "roles": ["worker"], "memory": {"freeMb": free}, "environments": {}}
                      for w, free in workers]
        self.dead: set[str] = set()
        self.listeners = []

    def listen(self, listener) -> None:
        self.listeners.append(listener)

    def workers(self) -> list[dict]:
        return [beat for beat in self.beats if beat["id"] not in self.dead]

    def alive(self, node_id: str) -> bool:
        return node_id not in self.dead


SPEC = RunSpec(function_name="f", version="$LATEST", function_arn="arn", revision_id="r", runtime="python3.12",
               handler="a.h", code_dir=Path(), interpreter=None, code_sha256="a" * 64, memory_mb=128)


def _request(payload: bytes = b"{}") -> InvokeRequest:
    return InvokeRequest(request_id="rid", payload=payload, invoked_arn="arn")


async def _engine(nodes: FakeNodes) -> tuple[RemoteEngine, FakeNats]:
    nc = FakeNats()
    engine = RemoteEngine(Link.of(nc), NAMES, nodes, node_id="front1", check_s=3600)
    await engine.start()
    return engine, nc


async def _sent(nc: FakeNats, count: int) -> list:
    while len(nc.runs()) < count:
        await asyncio.sleep(0)
    return nc.runs()


async def _answer(nc: FakeNats, reply: str, result: InvokeResult, worker: str = "w") -> None:
    call_id = reply.rsplit(".", 1)[1]
    for message in wire.messages(wire.result_header(result, call_id, worker), result.payload, nc.max_payload):
        await nc.cb(FakeMsg(reply, message))


def run(coroutine):
    return asyncio.run(coroutine)


def test_repeat_invokes_go_to_the_worker_holding_the_warm_environment():
    async def scenario():
        engine, nc = await _engine(FakeNodes(("a", 1000), ("b", 2000)))
        for n in range(3):
            task = asyncio.create_task(engine.invoke(SPEC, _request()))
            subject, header, reply = (await _sent(nc, n + 1))[n]
            await _answer(nc, reply, InvokeResult(payload=b'"ok"', executed_version="$LATEST"))
            assert (await task).payload == b'"ok"'
            assert subject == "t.run.b"  # the most free memory first, then its warm environment
        await engine.close()

    run(scenario())


def test_a_worker_nobody_listens_on_is_skipped_for_another():
    async def scenario():
        engine, nc = await _engine(FakeNodes(("a", 1000), ("b", 2000)))
        task = asyncio.create_task(engine.invoke(SPEC, _request()))
        _, _, reply = (await _sent(nc, 1))[0]
        await nc.cb(FakeMsg(reply, b"", {"Status": "503"}))
        subject, _, reply = (await _sent(nc, 2))[1]
        assert subject == "t.run.a"
        await _answer(nc, reply, InvokeResult(payload=b"1", executed_version="$LATEST"))
        assert (await task).payload == b"1"
        await engine.close()

    run(scenario())


def test_no_worker_at_all_is_a_service_exception():
    async def scenario():
        engine, nc = await _engine(FakeNodes(("a", 1000)))
        task = asyncio.create_task(engine.invoke(SPEC, _request()))
        _, _, reply = (await _sent(nc, 1))[0]
        await nc.cb(FakeMsg(reply, b"", {"Status": "503"}))
        with pytest.raises(ServiceException):
            await task
        await engine.close()

    run(scenario())


@pytest.mark.parametrize("how", ["lapse", "leave", "halt", "nats away"])
def test_invokes_in_flight_fail_with_service_exception_when_their_worker_goes(how):
    async def scenario():
        nodes = FakeNodes(("a", 1000))
        engine, nc = await _engine(nodes)
        task = asyncio.create_task(engine.invoke(SPEC, _request()))
        await _sent(nc, 1)
        if how == "lapse":
            nodes.dead.add("a")
            engine.check(0.0)
        elif how == "nats away":
            nc.is_connected = False
            engine.check(0.0)
        elif how == "leave":
            for listener in nodes.listeners:
                listener("a", None)
        else:
            engine.halt()
        with pytest.raises(ServiceException):
            await task
        await engine.close()

    run(scenario())


def test_large_payloads_go_and_come_back_in_parts():
    async def scenario():
        engine, nc = await _engine(FakeNodes(("a", 1000)))
        payload = b"p" * (300 * 1024)
        task = asyncio.create_task(engine.invoke(SPEC, _request(payload)))
        await _sent(nc, 1)
        sent = [message for subject, message, _ in nc.published if subject == "t.run.a"]
        assert len(sent) > 1 and all(len(message) <= nc.max_payload for message in sent)
        reply = nc.runs()[0][2]
        await _answer(nc, reply, InvokeResult(payload=b"r" * (200 * 1024), executed_version="$LATEST"))
        assert (await task).payload == b"r" * (200 * 1024)
        await engine.close()

    run(scenario())


def test_a_worker_error_is_raised_as_its_lamina_error():
    async def scenario():
        engine, nc = await _engine(FakeNodes(("a", 1000)))
        task = asyncio.create_task(engine.invoke(SPEC, _request()))
        header, reply = (await _sent(nc, 1))[0][1:]
        error = TooManyRequestsException("ConcurrentInvocationLimitExceeded")
        await nc.cb(FakeMsg(reply, wire.pack(wire.error_header(error, header["id"], "a"))))
        with pytest.raises(TooManyRequestsException):
            await task
        await engine.close()

    run(scenario())


def test_retire_and_provision_go_to_every_worker():
    async def scenario():
        engine, nc = await _engine(FakeNodes(("a", 1000), ("b", 1000)))
        engine.retire("f", None)
        engine.provision({("f", "1"): (SPEC, 3)})
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        commands = [json.loads(data) for subject, data, _ in nc.published if subject == NAMES.workers_control]
        assert commands[0] == {"op": "retire", "function": "f", "version": None}
        assert commands[1]["op"] == "provision"
        assert commands[1]["targets"][0]["shares"] == {"a": 2, "b": 1}
        nodes_ready = engine.provisioned_ready("f", "1")
        assert nodes_ready == 0
        await engine.close()

    run(scenario())


def test_preparing_a_runtime_tells_every_worker_from_any_thread_without_the_fronts_interpreter():
    async def scenario():
        engine, nc = await _engine(FakeNodes(("a", 1000)))
        engine.prepare_runtime("python3.12", "/front/only/python3.12")
        await asyncio.to_thread(engine.prepare_runtime, "", None, image=True)  # the deferred-step thread
        for _ in range(100):  # the thread's post reaches the loop, whose task publishes
            await asyncio.sleep(0)
        commands = [json.loads(data) for subject, data, _ in nc.published if subject == NAMES.workers_control]
        assert commands == [{"op": "prepare", "runtime": "python3.12", "image": False},
                            {"op": "prepare", "runtime": "", "image": True}]
        await engine.close()

    run(scenario())


def test_an_invoke_while_nats_is_away_is_a_service_exception_at_once():
    async def scenario():
        engine, nc = await _engine(FakeNodes(("a", 1000)))
        nc.is_connected = False
        with pytest.raises(ServiceException, match="NATS"):
            await engine.invoke(SPEC, _request())
        assert nc.runs() == []
        await engine.close()

    run(scenario())
