"""The Kinesis and DynamoDB Streams poller: one reader per shard, parents before children, each
delivering its records in order, checkpointing only what is finished.

A `StreamPoller` lists the stream's shards, fixes each new shard's starting position in the
checkpoint store the first time it sees the stream (so a restart never skips to a later LATEST),
and runs a `ShardReader` for every shard whose parents are finished; it lists the shards again
from time to time to follow splits and merges. A reader reads records (GetRecords), drops those
FilterCriteria leave out, spreads the rest over ParallelizationFactor lanes by partition key and
delivers each lane in batches through the `invoke` hook, applying lamina.pollers.stream_batch's
steps: retry, bisect, partial answers, records too old or out of attempts to the on-failure
destination. The checkpoint moves (in the store) only past records that are finished, so a crash
re-delivers at most the batches in flight. Tumbling windows (lamina.pollers.stream_windows) keep
their state with the checkpoint.

Imports lamina.patterns, lamina.model and lamina.pollers only; the checkpoint store, the on-failure
delivery to a function and the metrics are callables handed in by lamina.server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from lamina import patterns
from lamina.model import Checkpoint, EventSourceMapping
from lamina.pollers import stream_failure, stream_records, stream_windows
from lamina.pollers.hooks import Hooks
from lamina.pollers.stream_batch import (
    RECORD_AGE_EXCEEDED,
    Answer,
    Progress,
    StreamConfig,
    after_invoke,
    expired,
    lane_of,
    read_answer,
)
from lamina.pollers.stream_sources import SOURCES, Position, Shard

log = logging.getLogger("lamina.pollers")
MAX_PAYLOAD = 6_291_456  # a batch is a synchronous invoke: 6 MB at most, whatever BatchSize says
FINAL_INVOKE_TRIES = 3
READ_AHEAD = 1000  # records asked of one GetRecords: what is already there is read in one call


@dataclass(frozen=True)
class StreamHooks:
    """What the stream poller is handed beyond the framework's Hooks."""

    load: Callable[[str], dict]  # mapping uuid → {shard_id: checkpoint with the fields above}
    save: Callable[[str, object], None]  # (mapping uuid, Checkpoint)
    role_of: Callable[[str, str | None], str]  # (function, qualifier) → its execution role ARN
    function_arn: Callable[[str, str | None], str]
    to_function: Callable[[str, bytes], Awaitable[None]]  # on-failure record to a lamina function
    iterator_age: Callable[[str, float, str], None] = lambda uuid, ms, function: None  # (mapping, ms, its function)
    poll_interval: float = 1.0  # pause after an empty GetRecords, per shard
    retry_scale: float = 1.0  # multiplies the retry back-off of failed batches


def _filters(config: dict) -> list[patterns.Pattern]:
    return [patterns.compile_pattern(f["Pattern"]) for f in (config.get("FilterCriteria") or {}).get("Filters", [])]


class StreamPoller:
    def __init__(self, mapping: EventSourceMapping, hooks: Hooks, stream: StreamHooks) -> None:
        self.mapping = mapping
        self.hooks = hooks
        self.stream = stream
        self.config = StreamConfig.of(mapping.config)
        self.filters = _filters(mapping.config)
        self.source = SOURCES[mapping.kind](hooks.sources, mapping.event_source_arn,
                                            role_arn=stream.role_of(mapping.function_name, mapping.qualifier))
        self._unsaved: dict[str, Checkpoint] = {}
        self._writer: asyncio.Task | None = None
        self._reader_ended = asyncio.Event()
        self.stopping = False

    def stop(self) -> None:
        """Finish the batches in flight, start no new one, and return from run() (lamina.pollers.fleet)."""
        self.stopping = True
        self._reader_ended.set()

    async def run(self) -> None:
        readers: dict[str, asyncio.Task] = {}
        backoff = None
        try:
            while True:
                if self.stopping:
                    await asyncio.gather(*readers.values(), return_exceptions=True)
                    return
                try:
                    await self._schedule(readers)
                    if backoff is not None:  # recovered: the problem is over
                        await self.hooks.tell(self.mapping.uuid, None, None)
                    backoff = None
                    # List again after a while (new shards), or at once when a reader ends (its children).
                    self._reader_ended.clear()
                    if not self.stopping and not any(task.done() for task in readers.values()):
                        try:
                            await asyncio.wait_for(self._reader_ended.wait(), max(self.stream.poll_interval * 10, 1.0))
                        except TimeoutError:
                            pass
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # the stream cannot be reached or read: retry with back-off
                    backoff = backoff or self.hooks.backoff()
                    log.warning("event source mapping %s: %s", self.mapping.uuid, error)
                    await self.hooks.tell(self.mapping.uuid, None, f"PROBLEM: {_describe(error)}")
                    await asyncio.sleep(next(backoff))
        finally:
            for task in readers.values():
                task.cancel()
            await asyncio.gather(*readers.values(), return_exceptions=True)
            await self.flush()  # what was delivered gets its checkpoint, even when cancelled

    async def _schedule(self, readers: dict[str, asyncio.Task]) -> None:
        await self.flush()  # a restarted reader starts from what was delivered, not from an older write
        shards = await asyncio.to_thread(self.source.shards)
        checkpoints = await asyncio.to_thread(self.stream.load, self.mapping.uuid)
        if not checkpoints:  # the mapping's first look at the stream: fix where each shard starts
            checkpoints = {shard.shard_id: self._initial(shard) for shard in shards}
            for checkpoint in checkpoints.values():
                await asyncio.to_thread(self.stream.save, self.mapping.uuid, checkpoint)
        for shard_id, task in list(readers.items()):
            if task.done():
                del readers[shard_id]
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()
        known = {shard.shard_id for shard in shards}
        finished = {shard_id for shard_id, cp in checkpoints.items() if cp.finished}
        for shard in shards:
            if shard.shard_id in readers or shard.shard_id in finished:
                continue
            if any(parent in known and parent not in finished for parent in shard.parents):
                continue  # parents first: their records come before the children's
            checkpoint = checkpoints.get(shard.shard_id) or Checkpoint(shard.shard_id, position="TRIM_HORIZON")
            reader = ShardReader(self, shard, checkpoint)
            task = readers[shard.shard_id] = asyncio.get_running_loop().create_task(reader.run())
            task.add_done_callback(lambda _: self._reader_ended.set())

    def _initial(self, shard: Shard) -> Checkpoint:
        position = self.mapping.config.get("StartingPosition", "TRIM_HORIZON")
        at = self.mapping.config.get("StartingPositionTimestamp")
        if position == "LATEST" and self.source.kind == "kinesis":
            # LATEST as of now, written down: a restart resumes here instead of at a later LATEST.
            position, at = "AT_TIMESTAMP", time.time()
        return Checkpoint(shard.shard_id, position=position, at_timestamp=at)

    async def save(self, checkpoint: Checkpoint, *, wait: bool = False) -> None:
        """Write a shard's checkpoint. Writes run behind delivery (the next batch goes on meanwhile),
        latest first: a crash can only leave the stored checkpoint behind what was delivered (those
        records come again), never ahead. `wait`: return once it is stored."""
        self._unsaved[checkpoint.shard_id] = checkpoint
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())
        if wait:
            await self.flush()

    async def flush(self) -> None:
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _write(self) -> None:
        while self._unsaved:
            batch = list(self._unsaved.values())
            self._unsaved.clear()
            try:
                await asyncio.to_thread(self._write_all, batch)
            except Exception:
                log.exception("event source mapping %s: could not store checkpoints", self.mapping.uuid)
                for checkpoint in batch:  # again with the next write, unless a newer one came
                    self._unsaved.setdefault(checkpoint.shard_id, checkpoint)
                return

    def _write_all(self, batch: list[Checkpoint]) -> None:
        for checkpoint in batch:
            self.stream.save(self.mapping.uuid, checkpoint)

    def keep(self, record: dict) -> bool:
        if not self.filters:
            return True
        view = stream_records.filter_view(record)
        return any(pattern.matches(view) for pattern in self.filters)


def _describe(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict) and "Error" in response:
        return f"{response['Error'].get('Code')}: {response['Error'].get('Message')}"
    return str(error) or type(error).__name__


class ShardReader:
    def __init__(self, poller: StreamPoller, shard: Shard, checkpoint: Checkpoint) -> None:
        self.poller = poller
        self.shard = shard
        self.checkpoint = checkpoint
        config = poller.config
        self.windowed = config.tumbling_window > 0
        self.lanes = 1 if self.windowed else config.parallelization
        self.window = checkpoint.window  # {"start": seconds, "state": {...}} of the open window

    # -- reading ------------------------------------------------------------------------------
    async def run(self) -> None:
        poller = self.poller
        source = poller.source
        if self.checkpoint.sequence_number is None and self.checkpoint.position == "LATEST":
            iterator = await self._skip_to_end()
        else:
            iterator = await asyncio.to_thread(source.iterator, self.shard.shard_id, self._position())
        if iterator is None:
            return await self._finished()
        # The next GetRecords runs while the records already read are delivered: reading and
        # delivering overlap, as a plain reader's loop never waits for a function.
        next_read: asyncio.Task | None = asyncio.get_running_loop().create_task(self._gather(iterator))
        try:
            while not poller.stopping:
                if next_read is None:
                    next_read = asyncio.get_running_loop().create_task(self._gather(iterator))
                records, iterator = await next_read
                next_read = None
                if records and iterator is not None and not self.windowed:  # a window's end needs what follows
                    next_read = asyncio.get_running_loop().create_task(self._gather(iterator))
                if records:
                    await self._deliver(records, more_coming=iterator is not None)
                    if poller.stopping:
                        return  # what was not delivered stays after the checkpoint
                if self.windowed:
                    await self._close_window_if_over(shard_closed=iterator is None)
                if iterator is None:  # a closed shard, read to its end: its children may start
                    return await self._finished()
                if not records:
                    await asyncio.sleep(poller.stream.poll_interval)
        finally:
            if next_read is not None:
                next_read.cancel()
                await asyncio.gather(next_read, return_exceptions=True)

    async def _gather(self, iterator: str) -> tuple[list[dict], str | None]:
        """Records from `iterator` on: up to a batch per lane, or what came within the batching window
        (one GetRecords asks for up to READ_AHEAD, so it may serve several batches); and the next
        iterator (None: the shard is closed and read to its end)."""
        poller, source = self.poller, self.poller.source
        wanted = poller.config.batch_size * self.lanes
        limit = min(source.max_limit, max(wanted, READ_AHEAD))
        records: list[dict] = []
        gathering_until = time.monotonic() + poller.config.batching_window
        while True:
            try:
                read = await asyncio.to_thread(source.read, self.shard.shard_id, iterator, limit - len(records))
            except Exception as error:
                if "ExpiredIterator" not in _describe(error):
                    raise
                iterator = await asyncio.to_thread(source.iterator, self.shard.shard_id, self._position())
                continue
            records += read.records
            self._iterator_age(read)
            iterator = read.next_iterator
            if iterator is None or len(records) >= wanted or not read.records \
                    or time.monotonic() >= gathering_until:
                return records, iterator
            await asyncio.sleep(0)

    async def _finished(self) -> None:
        self.checkpoint = replace(self.checkpoint, finished=True, window=None)
        await self.poller.save(self.checkpoint, wait=True)  # before its children start
        log.info("event source mapping %s: shard %s finished", self.poller.mapping.uuid, self.shard.shard_id)

    async def _skip_to_end(self) -> str | None:
        """LATEST made durable (DynamoDB Streams has no AT_TIMESTAMP): read past what the shard holds
        now and write down its last sequence number, so a restart resumes there rather than at a
        later LATEST that would skip what arrived meanwhile."""
        source, shard_id = self.poller.source, self.shard.shard_id
        iterator = await asyncio.to_thread(source.iterator, shard_id, Position(kind="TRIM_HORIZON"))
        last = None
        while iterator is not None:
            read = await asyncio.to_thread(source.read, shard_id, iterator, source.max_limit)
            if not read.records:
                break
            last = stream_records.sequence_of(read.records[-1])
            iterator = read.next_iterator
        self.checkpoint = replace(self.checkpoint, sequence_number=last, position="TRIM_HORIZON")
        await self.poller.save(self.checkpoint, wait=True)
        return iterator

    def _position(self) -> Position:
        cp = self.checkpoint
        return Position(cp.sequence_number, cp.position or "TRIM_HORIZON", cp.at_timestamp)

    def _iterator_age(self, read) -> None:
        if read.behind_ms is not None:
            age = read.behind_ms
        elif read.records:
            age = max(0.0, time.time() - stream_records.arrival_of(read.records[-1])) * 1000
        else:
            age = 0.0
        self.poller.stream.iterator_age(self.poller.mapping.uuid, age, self.poller.mapping.function_name)

    # -- delivering ---------------------------------------------------------------------------
    async def _deliver(self, records: list[dict], *, more_coming: bool) -> None:
        progress = Progress()
        progress.read([stream_records.sequence_of(r) for r in records])
        lanes: dict[int, list[dict]] = {}
        dropped = []
        for record in records:
            if self.poller.keep(record):
                lanes.setdefault(lane_of(stream_records.partition_key_of(record), self.lanes), []).append(record)
            else:  # filtered out: the iterator moves past it (reference 1.13)
                dropped.append(stream_records.sequence_of(record))
        if dropped:
            await self._finish(progress, dropped)
        await asyncio.gather(*(self._lane(progress, deque(lane)) for lane in lanes.values()))

    async def _finish(self, progress: Progress, sequence_numbers: list[str]) -> None:
        moved = progress.finish(sequence_numbers)
        if moved is not None:
            self.checkpoint = replace(self.checkpoint, sequence_number=moved, window=self.window)
            await self.poller.save(self.checkpoint)

    async def _lane(self, progress: Progress, queue: deque) -> None:
        poller, config = self.poller, self.poller.config
        attempts, size = 0, None
        last_error: tuple[str | None, str | None] = (None, None)
        while queue and not poller.stopping:
            too_old = expired([stream_records.arrival_of(r) for r in queue], time.time(), config.max_record_age) \
                if config.max_record_age >= 0 else 0
            if too_old:
                given_up = [queue.popleft() for _ in range(too_old)]
                await self._on_failure(given_up, RECORD_AGE_EXCEEDED, attempts, *last_error)
                await self._finish(progress, [stream_records.sequence_of(r) for r in given_up])
                attempts, size = 0, None
                continue
            count = min(size or config.batch_size, len(queue))
            if self.windowed:
                arrivals = [stream_records.arrival_of(queue[i]) for i in range(count)]
                count = min(count, stream_windows.same_window(arrivals, config.tumbling_window))
                await self._enter_window(stream_windows.start_of(arrivals[0], config.tumbling_window))
            batch = [queue[i] for i in range(count)]
            payload = self._payload(batch)
            while len(payload) > MAX_PAYLOAD and len(batch) > 1:
                batch = batch[: len(batch) // 2]
                payload = self._payload(batch)
            sequences = [stream_records.sequence_of(r) for r in batch]
            answer: Answer | None
            try:
                function_error, response = await poller.hooks.invoke(
                    poller.mapping.function_name, poller.mapping.qualifier, payload)
                answer = read_answer(response, sequences, function_error=function_error,
                                     report_item_failures=config.report_item_failures, window=self.windowed)
                last_error = (function_error, poller.mapping.qualifier or "$LATEST")
            except asyncio.CancelledError:
                raise
            except Exception as error:  # not run: throttled, function gone or not active
                answer = None
                await poller.hooks.tell(poller.mapping.uuid, None, f"PROBLEM: {_describe(error)}")
            step = after_invoke(len(batch), answer, attempts, config, poller.stream.retry_scale)
            if answer is not None and answer.state is not None and (answer.ok or step.commit):
                self.window = dict(self.window or {}, state=answer.state)
                if len(json.dumps(answer.state)) > stream_windows.MAX_STATE_BYTES:
                    await self._final_invoke(terminated_early=True)  # state past 1 MB ends the window
            if answer is not None and poller.hooks.metrics is not None:
                poller.hooks.metrics.batch(poller.mapping.uuid, poller.mapping.function_name, len(batch),
                                           0 if answer.ok else len(batch) - step.commit)
            if answer is not None:
                await poller.hooks.tell(poller.mapping.uuid, "OK" if answer.ok else "PROBLEM: Function call failed",
                                        None)
            done = [queue.popleft() for _ in range(step.commit)]
            given_up = [queue.popleft() for _ in range(step.discard)]
            if given_up:
                await self._on_failure(given_up, step.condition or "", attempts + 1, *last_error)
            if done or given_up:
                await self._finish(progress, [stream_records.sequence_of(r) for r in done + given_up])
            attempts, size = step.attempts, step.size
            if step.delay:
                await asyncio.sleep(step.delay)

    def _payload(self, batch: list[dict]) -> bytes:
        if not self.windowed:
            return json.dumps({"Records": batch}).encode()
        window = self.window or {}
        return json.dumps(stream_windows.event(
            batch, start=window["start"], length=self.poller.config.tumbling_window, state=window.get("state") or {},
            shard_id=self.shard.shard_id, source_arn=self.poller.mapping.event_source_arn, final=False)).encode()

    # -- tumbling windows ---------------------------------------------------------------------
    async def _enter_window(self, start: float) -> None:
        if self.window is not None and self.window.get("start") != start:
            await self._final_invoke()
        if self.window is None:
            self.window = {"start": start, "state": {}}

    async def _close_window_if_over(self, *, shard_closed: bool) -> None:
        if self.window is None:
            return
        if shard_closed or stream_windows.is_final(self.window["start"], self.poller.config.tumbling_window,
                                                   time.time(), more_in_window=False):
            await self._final_invoke()
            self.checkpoint = replace(self.checkpoint, window=None)
            await self.poller.save(self.checkpoint)

    async def _final_invoke(self, *, terminated_early: bool = False) -> None:
        """The window's last invoke: no new records, its state, isFinalInvokeForWindow true (and
        isWindowTerminatedEarly when its state outgrew 1 MB)."""
        poller, window = self.poller, self.window or {}
        payload = json.dumps(stream_windows.event(
            [], start=window["start"], length=poller.config.tumbling_window, state=window.get("state") or {},
            shard_id=self.shard.shard_id, source_arn=poller.mapping.event_source_arn, final=True,
            terminated_early=terminated_early)).encode()
        for attempt in range(FINAL_INVOKE_TRIES):
            try:
                function_error, _ = await poller.hooks.invoke(poller.mapping.function_name, poller.mapping.qualifier,
                                                              payload)
                if function_error is None:
                    break
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("event source mapping %s: final window invoke failed: %s", poller.mapping.uuid, error)
            await asyncio.sleep(poller.stream.retry_scale * 2 ** attempt)
        self.window = None

    # -- giving up ----------------------------------------------------------------------------
    async def _on_failure(self, records: list[dict], condition: str, invokes: int, function_error: str | None,
                          executed_version: str | None) -> None:
        poller = self.poller
        destination = ((poller.mapping.config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        log.warning("event source mapping %s: %d records of %s given up (%s)", poller.mapping.uuid, len(records),
                    self.shard.shard_id, condition)
        if not destination:
            return
        record = stream_failure.failure_record(
            kind=poller.source.kind, request_id=str(uuid.uuid4()),
            function_arn=poller.stream.function_arn(poller.mapping.function_name, poller.mapping.qualifier),
            condition=condition, invoke_count=invokes, function_error=function_error if invokes else None,
            executed_version=executed_version if invokes else None, now=time.time(), shard_id=self.shard.shard_id,
            first_sequence=stream_records.sequence_of(records[0]), last_sequence=stream_records.sequence_of(records[-1]),
            first_arrival=stream_records.arrival_of(records[0]), last_arrival=stream_records.arrival_of(records[-1]),
            batch_size=len(records), source_arn=poller.mapping.event_source_arn)
        body = json.dumps(record).encode()
        for delay in poller.hooks.backoff():
            try:
                if destination.split(":")[2] == "sqs":
                    await asyncio.to_thread(self._send_to_queue, destination, body)
                else:
                    await poller.stream.to_function(destination, body)
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the records stay unfinished until their record is sent
                log.warning("event source mapping %s: on-failure destination %s: %s", poller.mapping.uuid,
                            destination, error)
                await poller.hooks.tell(poller.mapping.uuid, None, f"PROBLEM: on-failure destination: {_describe(error)}")
                await asyncio.sleep(delay)

    def _send_to_queue(self, queue_arn: str, body: bytes) -> None:
        sources = self.poller.hooks.sources
        client = sources.client("sqs", queue_arn.split(":")[3])
        client.send_message(QueueUrl=sources.queue_url(queue_arn), MessageBody=body.decode())


def factory(stream: StreamHooks) -> Callable[[EventSourceMapping, Hooks], StreamPoller]:
    """The poller factory for "kinesis" and "dynamodb" mappings (lamina.pollers.fleet)."""
    return lambda mapping, hooks: StreamPoller(mapping, hooks, stream)
