"""The stream poller's mechanism against an in-memory stream (lamina.pollers.streams): parents
before children (splits and merges), retries in place, checkpoints never past an unfinished
record, finished shards. (moto 5.2.6 keeps routing records to a split or merged shard and never
ends it, so resharding is tested here rather than against moto.)"""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from lamina.model import EventSourceMapping
from lamina.pollers import streams
from lamina.pollers.hooks import Hooks
from lamina.pollers.stream_records import kinesis_record
from lamina.pollers.stream_sources import Read, Shard

ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/s"


class MemoryStream:
    kind = "kinesis"
    max_limit = 100
    shards_data: dict[str, tuple[tuple[str, ...], list[str]]] = {}

    def __init__(self, sources, arn, **_):
        self.arn = arn

    def shards(self):
        return [Shard(shard_id, parents, True) for shard_id, (parents, _) in self.shards_data.items()]

    def iterator(self, shard_id, position):
        data = self.shards_data[shard_id][1]
        start = 0 if position.sequence_number is None else int(position.sequence_number) + 1
        return f"{shard_id}|{start}|{len(data)}"

    def read(self, shard_id, iterator, limit):
        _, start, _ = iterator.split("|")
        start = int(start)
        data = self.shards_data[shard_id][1]
        chunk = data[start:start + min(limit, 2)]  # small pages: reads go on across calls
        records = [kinesis_record({"SequenceNumber": str(start + i), "ApproximateArrivalTimestamp": 1e12,
                                   "Data": item.encode(), "PartitionKey": "k"},
                                  shard_id=shard_id, stream_arn=ARN, region="us-east-1", role_arn="role")
                   for i, item in enumerate(chunk)]
        end = start + len(chunk)
        return Read(records, None if end >= len(data) else f"{shard_id}|{end}|{len(data)}", 0.0)


def mapping(**config) -> EventSourceMapping:
    return EventSourceMapping(uuid="m", function_name="f", qualifier=None, event_source_arn=ARN, kind="kinesis",
                              config={"StartingPosition": "TRIM_HORIZON", **config}, enabled=True, state="Enabled",
                              state_reason="User action", last_processing_result=None, last_modified=0.0)


async def run_until_finished(config: dict, fail_once: set[str]):
    delivered: list[list[str]] = []
    saved: list[tuple[str, str | None, bool]] = []
    store: dict = {}
    failed: set[str] = set()

    async def invoke(name, qualifier, payload):
        items = [base64.b64decode(r["kinesis"]["data"]).decode() for r in json.loads(payload)["Records"]]
        delivered.append(items)
        bad = [i for i in items if i in fail_once and i not in failed]
        if bad:
            failed.update(bad)
            return "Unhandled", b'{"errorMessage": "boom"}'
        return None, b"null"

    def save(uuid, checkpoint):
        store[checkpoint.shard_id] = checkpoint
        saved.append((checkpoint.shard_id, checkpoint.sequence_number, checkpoint.finished))

    hooks = Hooks(invoke=invoke, report=lambda *a: None, sources=None)
    stream = streams.StreamHooks(load=lambda uuid: dict(store), save=save, role_of=lambda n, q: "role",
                                 function_arn=lambda n, q: "arn:f", to_function=None, poll_interval=0.01,
                                 retry_scale=0.001)
    poller = streams.StreamPoller(mapping(**config), hooks, stream)
    task = asyncio.get_running_loop().create_task(poller.run())
    for _ in range(500):
        if len(store) == len(MemoryStream.shards_data) and all(cp.finished for cp in store.values()):
            break
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return delivered, saved


@pytest.fixture(autouse=True)
def memory_stream(monkeypatch):
    MemoryStream.shards_data = {"child": (("parent",), ["c0", "c1", "c2"]),
                                "parent": ((), ["p0", "p1", "p2", "p3", "p4"])}
    monkeypatch.setitem(streams.SOURCES, "kinesis", MemoryStream)


def test_parents_first_retry_in_place_checkpoints_only_finished_records():
    delivered, saved = asyncio.run(run_until_finished({"BatchSize": 2}, fail_once={"p3"}))
    flat = [item for batch in delivered for item in batch]
    assert flat.index("p4") < flat.index("c0")  # the parent is read to its end before its child
    assert delivered.count(["p2", "p3"]) == 2  # the failed batch was retried, not skipped
    assert sorted(set(flat)) == ["c0", "c1", "c2", "p0", "p1", "p2", "p3", "p4"]
    parent = [seq for shard, seq, _ in saved if shard == "parent" and seq is not None]
    # After each batch that succeeded, never in between: "3" only once the retried batch got through.
    assert list(dict.fromkeys(parent)) == ["1", "3", "4"]
    assert ("parent", "4", True) in saved and ("child", "2", True) in saved


def test_lanes_checkpoint_the_finished_prefix():
    delivered, saved = asyncio.run(run_until_finished({"BatchSize": 1, "ParallelizationFactor": 3}, fail_once=set()))
    assert sorted(i for b in delivered for i in b) == ["c0", "c1", "c2", "p0", "p1", "p2", "p3", "p4"]
    assert ("parent", "4", True) in saved


def test_a_merged_child_waits_for_both_parents():
    MemoryStream.shards_data = {"child": (("left", "right"), ["c0"]), "left": ((), ["l0", "l1", "l2"]),
                                "right": ((), ["r0", "r1", "r2", "r3"])}
    delivered, saved = asyncio.run(run_until_finished({"BatchSize": 1}, fail_once={"r2"}))
    flat = [item for batch in delivered for item in batch]
    assert flat.index("c0") > max(flat.index("l2"), len(flat) - 1 - flat[::-1].index("r3"))
    assert {shard for shard, _, finished in saved if finished} == {"left", "right", "child"}


def test_stop_finishes_the_batch_in_flight_and_returns():
    async def scenario():
        started = asyncio.Event()
        saved = []

        async def invoke(name, qualifier, payload):
            started.set()
            await asyncio.sleep(0.05)
            return None, b"null"

        hooks = Hooks(invoke=invoke, report=lambda *a: None, sources=None)
        stream = streams.StreamHooks(load=lambda uuid: {}, save=lambda uuid, cp: saved.append(cp),
                                     role_of=lambda n, q: "role", function_arn=lambda n, q: "arn:f", to_function=None,
                                     poll_interval=0.01, retry_scale=0.001)
        poller = streams.StreamPoller(mapping(BatchSize=1), hooks, stream)
        task = asyncio.get_running_loop().create_task(poller.run())
        await started.wait()
        poller.stop()
        await asyncio.wait_for(task, 2)  # returns by itself: not cancelled
        return saved

    saved = asyncio.run(scenario())
    delivered = [cp.sequence_number for cp in saved if cp.sequence_number is not None]
    assert delivered and not any(cp.finished for cp in saved)


def test_checkpoint_writes_coalesce_latest_first_and_never_go_back():
    async def scenario():
        written: list[str] = []

        def save(uuid, checkpoint):
            written.append(checkpoint.sequence_number)

        stream = streams.StreamHooks(load=lambda uuid: {}, save=save, role_of=lambda n, q: "role",
                                     function_arn=lambda n, q: "arn:f", to_function=None)
        poller = streams.StreamPoller(mapping(), Hooks(invoke=None, report=lambda *a: None, sources=None), stream)
        for n in range(1, 51):
            await poller.save(streams.Checkpoint("parent", sequence_number=str(n)))
        await poller.save(streams.Checkpoint("parent", sequence_number="51"), wait=True)
        return written

    written = asyncio.run(scenario())
    assert written[-1] == "51" and [int(n) for n in written] == sorted(int(n) for n in written)
    assert len(written) < 51  # writes behind delivery coalesce
