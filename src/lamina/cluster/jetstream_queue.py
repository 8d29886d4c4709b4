"""`JetStreamQueue`: the durable async queue (lamina.queue.queue.Queue) on a JetStream work-queue
stream, for cluster mode.

One stream (`Names.async_stream`) holds every accepted event, on a subject per function
(`Names.async_subject`); one durable pull consumer (`Names.async_consumer`) hands each event to one
of the processes consuming it. Mapping the protocol:
- `enqueue` publishes and returns once JetStream acknowledged storing it (publish ack);
- a claim is a delivery, its lease is the consumer's ack wait: an event whose holder dies or stops
  renewing is delivered again (`extend` = in-progress, `release` = nak now);
- `ack` acknowledges and waits for the server to confirm it (the work-queue stream then forgets it);
- `retry_at` publishes the event again with its new counts and due time, then acknowledges the old
  message; a message delivered before it is due is nak'ed with the time left (delayed redelivery).
Event ids are stream sequence numbers. While the connection is down `enqueue` fails at once (the client
would otherwise keep the publish and store it after the caller was told it failed); a publish whose
acknowledgement times out on a live connection may still have been stored (at least once, like AWS). Payloads too big for one NATS message travel in an object
store bucket beside it. `depth`/`oldest`/`backlog` are answered from stream info cached and refreshed
in the background (per-subject counts; the oldest event of a function is re-read every couple of
seconds). Imports lamina.queue.queue, lamina.errors and lamina.cluster.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from collections.abc import Callable

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import api
from nats.js.errors import BadRequestError, NotFoundError, ObjectNotFoundError

from lamina.cluster import queued_message as qm
from lamina.cluster.names import Names
from lamina.errors import ServiceException
from lamina.queue.queue import QueuedEvent

log = logging.getLogger("lamina.cluster.queue")

CLAIM_WAIT_S = 0.05  # how long a claim waits for messages the server is still sending
ACK_TIMEOUT_S = 5.0
REFRESH_S = 1.0  # stream counts for depth/backlog
OLDEST_REFRESH_S = 2.0  # the oldest event of each function
PAYLOAD_TTL_S = 24 * 3600.0  # big payloads outlive any event (MaximumEventAgeInSeconds is at most 6 h)
STALE_BUFFER = 0.5  # a delivery kept longer than this share of the lease may be someone else's by now


class JetStreamQueue:
    def __init__(self, nc: Client, names: Names, *, lease_s: float = 30.0, replicas: int = 1,
                 clock: Callable[[], float] = time.time) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._names = names
        self._lease_s = lease_s
        self._replicas = replicas
        self._clock = clock
        self._sub = None
        self._payloads = None  # the object store of big payloads, opened on first use
        self._held: dict[int, Msg] = {}  # event id -> this process's delivery of it
        self._buffer: list[tuple[float, Msg]] = []  # (received at, delivery) for the next claim
        self._fetching = asyncio.Lock()
        self._refresher: asyncio.Task | None = None
        self._depth = 0
        self._backlog: dict[str, tuple[int, float]] = {}
        self._oldest_of: dict[str, tuple[float, str, float]] = {}  # subject -> (read at, function, enqueued at)

    # -- life ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        stream = api.StreamConfig(
            name=self._names.async_stream, subjects=[self._names.async_subjects],
            retention=api.RetentionPolicy.WORK_QUEUE, storage=api.StorageType.FILE, num_replicas=self._replicas,
            duplicate_window=120.0,
        )
        try:
            await self._js.add_stream(stream)
        except BadRequestError:  # it exists with another configuration (e.g. replicas): use it as it is
            await self._js.stream_info(self._names.async_stream)
        await self._configure_consumer()
        self._sub = await self._js.pull_subscribe_bind(durable=self._names.async_consumer,
                                                       stream=self._names.async_stream)
        await self.refresh()
        self._refresher = asyncio.create_task(self._refresh_forever())

    async def _configure_consumer(self) -> None:
        """Create the durable consumer, or set its ack wait (the lease, shared by every node) to ours."""
        consumer = api.ConsumerConfig(
            durable_name=self._names.async_consumer, ack_policy=api.AckPolicy.EXPLICIT, ack_wait=self._lease_s,
            max_deliver=-1, max_ack_pending=-1, filter_subject=self._names.async_subjects,
            deliver_policy=api.DeliverPolicy.ALL,
        )
        try:
            await self._js.add_consumer(self._names.async_stream, consumer)
        except BadRequestError:
            info = await self._js.consumer_info(self._names.async_stream, self._names.async_consumer)
            log.warning("the async consumer exists with another configuration; using it (ack wait %s s)",
                        info.config.ack_wait)

    async def close(self) -> None:
        """Stop refreshing and give back what was delivered but not handed out. Held events stay held
        until their leases run out (the worker releases the ones it still runs before closing)."""
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
            self._refresher = None
        buffered, self._buffer = self._buffer, []
        for _, msg in buffered:
            try:
                await msg.nak()
            except Exception:
                pass
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception:
                pass
            self._sub = None

    # -- accepting ----------------------------------------------------------------------------------
    async def enqueue(self, *, request_id: str, function_name: str, qualifier: str | None, payload: bytes,
                      trace: str | None = None) -> None:
        if not self._nc.is_connected:
            # while reconnecting, the client would keep the publish and send it later: an event the
            # caller was told failed must never be stored behind its back
            raise ServiceException("The event could not be stored in the cluster's queue: NATS is unreachable.")
        now = self._clock()
        ref = None
        try:
            if not qm.inline(len(payload), self._nc.max_payload):
                ref = f"{request_id}-{secrets.token_hex(4)}"
                await (await self._payload_store()).put(ref, payload)
                payload = b""
            headers = qm.headers_for(request_id=request_id, function_name=function_name, qualifier=qualifier,
                                     enqueued_at=now, due_at=now, runs=0, throttles=0, payload_ref=ref, trace=trace)
            await self._js.publish(self._subject(function_name), payload, headers=headers)
        except Exception as exc:
            raise ServiceException(f"The event could not be stored in the cluster's queue: {exc or type(exc).__name__}") \
                from exc

    def _subject(self, function_name: str) -> str:
        return self._names.async_subject(qm.subject_token(function_name))

    async def _payload_store(self):
        if self._payloads is None:
            try:
                self._payloads = await self._js.object_store(self._names.async_payloads_bucket)
            except NotFoundError:
                self._payloads = await self._js.create_object_store(
                    self._names.async_payloads_bucket, config=api.ObjectStoreConfig(
                        bucket=self._names.async_payloads_bucket, replicas=self._replicas, ttl=PAYLOAD_TTL_S))
        return self._payloads

    # -- leases -------------------------------------------------------------------------------------
    async def claim(self, limit: int, lease_s: float, *, skip: frozenset[str] = frozenset()) -> list[QueuedEvent]:
        """Due events delivered to this process, at most `limit`. The lease is the consumer's ack wait:
        a `lease_s` other than the current one reconfigures the consumer (for every node) first. `skip`
        is not applied: the stream hands out events in order, and the worker holds those it cannot run yet."""
        if limit <= 0:
            return []
        if lease_s != self._lease_s:
            self._lease_s = lease_s
            await self._configure_consumer()
        fresh_after = time.monotonic() - self._lease_s * STALE_BUFFER
        msgs = [msg for received, msg in self._buffer if received >= fresh_after]  # stale ones come back anyway
        self._buffer = []
        if len(msgs) < limit:
            msgs += await self._fetch(limit - len(msgs), CLAIM_WAIT_S)
        if len(msgs) > limit:  # the client hands over everything it had queued
            received = time.monotonic()
            self._buffer = [(received, msg) for msg in msgs[limit:]]
            msgs = msgs[:limit]
        now = self._clock()
        events = []
        for msg in msgs:
            event = await self._event_of(msg, now)
            if event is not None:
                self._held[event.id] = msg
                events.append(event)
        return events

    async def _fetch(self, batch: int, timeout: float) -> list[Msg]:
        if self._sub is None:
            return []
        async with self._fetching:
            try:
                return await self._sub.fetch(batch, timeout=timeout)
            except (TimeoutError, NatsTimeoutError):
                return []

    async def _event_of(self, msg: Msg, now: float) -> QueuedEvent | None:
        """The event a delivery carries if it is due; a message that is not due is handed back for the
        time left, one that is not lamina's (or lost its payload) is dropped with a warning."""
        seq = msg.metadata.sequence.stream
        try:
            event = qm.event_from(seq, msg.headers, msg.data)
        except ValueError as exc:
            log.warning("dropping message %s of %s: %s", seq, msg.subject, exc)
            await msg.ack()
            return None
        wait = qm.wait_before_run(event.due_at, now)
        if wait is not None:
            await msg.nak(delay=wait)
            return None
        ref = (msg.headers or {}).get(qm.PAYLOAD_REF)
        if ref is not None:
            try:
                payload = (await (await self._payload_store()).get(ref)).data
            except (ObjectNotFoundError, NotFoundError):
                log.warning("dropping event %s of %s: its payload %s is gone", event.request_id,
                            event.function_name, ref)
                await msg.ack()
                return None
            event = dataclasses.replace(event, payload=payload)
        return event

    async def wait_due(self, timeout: float, *, skip: frozenset[str] = frozenset()) -> None:
        """Wait for the next delivery (kept for the next claim), at most `timeout` seconds (any function's)."""
        if self._buffer:
            return
        if timeout <= 0.01:
            await asyncio.sleep(max(0.0, timeout))
            return
        msgs = await self._fetch(1, timeout)
        received = time.monotonic()
        self._buffer += [(received, msg) for msg in msgs]

    async def extend(self, event_ids: list[int], lease_s: float) -> None:
        for event_id in event_ids:
            msg = self._held.get(event_id)
            if msg is not None:
                await msg.in_progress()

    async def release(self, event_ids: list[int]) -> None:
        for event_id in event_ids:
            msg = self._held.pop(event_id, None)
            if msg is not None:
                await msg.nak()

    async def ack(self, event_id: int) -> None:
        msg = self._held.pop(event_id, None)
        if msg is None:  # delivered to another process (or before a restart): remove it from the stream
            try:
                await self._js.delete_msg(self._names.async_stream, event_id)
            except NotFoundError:
                pass
            return
        try:
            await msg.ack_sync(timeout=ACK_TIMEOUT_S)
        except BaseException:
            self._held.setdefault(event_id, msg)
            raise
        ref = (msg.headers or {}).get(qm.PAYLOAD_REF)
        if ref is not None:
            try:
                await (await self._payload_store()).delete(ref)
            except (ObjectNotFoundError, NotFoundError):
                pass

    async def retry_at(self, event_id: int, *, due_at: float, runs: int, throttles: int) -> None:
        """Publish the event again, due at `due_at` with its new counts, then acknowledge the old message.
        A crash in between runs the old one again; the retry's message id keeps a second publish out."""
        msg = self._held.get(event_id)
        if msg is not None:
            subject, data, headers = msg.subject, msg.data, dict(msg.headers or {})
        else:
            raw = await self._js.get_msg(self._names.async_stream, seq=event_id)
            subject, data, headers = raw.subject, raw.data or b"", dict(raw.headers or {})
        headers.pop(qm.MSG_ID, None)
        event = qm.event_from(event_id, headers, data)
        retried = qm.headers_for(request_id=event.request_id, function_name=event.function_name,
                                 qualifier=event.qualifier, enqueued_at=event.enqueued_at, due_at=due_at, runs=runs,
                                 throttles=throttles, payload_ref=headers.get(qm.PAYLOAD_REF),
                                 msg_id=qm.retry_msg_id(event_id), trace=event.trace)
        await self._js.publish(subject, data, headers=retried)
        if msg is not None:
            await msg.ack_sync(timeout=ACK_TIMEOUT_S)
            self._held.pop(event_id, None)
        else:
            try:
                await self._js.delete_msg(self._names.async_stream, event_id)
            except NotFoundError:
                pass

    # -- gauges -------------------------------------------------------------------------------------
    def depth(self) -> int:
        return self._depth

    def oldest(self) -> float | None:
        return min((at for _, at in self._backlog.values()), default=None)

    def backlog(self) -> dict[str, tuple[int, float]]:
        return dict(self._backlog)

    async def refresh(self) -> None:
        """Read the stream's counts now (the gauges above answer from what this read)."""
        info = await self._js.stream_info(self._names.async_stream, subjects_filter=self._names.async_subjects)
        now = self._clock()
        backlog: dict[str, tuple[int, float]] = {}
        oldest_of = {}
        for subject, count in (info.state.subjects or {}).items():
            if count <= 0:
                continue
            known = self._oldest_of.get(subject)
            if known is None or now - known[0] >= OLDEST_REFRESH_S:
                try:
                    raw = await self._js.get_msg(self._names.async_stream, seq=info.state.first_seq or 1,
                                                 subject=subject, next=True)
                    event = qm.event_from(raw.seq or 0, raw.headers, b"")
                    known = (now, event.function_name, event.enqueued_at)
                except (NotFoundError, ValueError):
                    continue  # finished since the count was read, or not lamina's
            oldest_of[subject] = known
            _, function, enqueued_at = known
            backlog[function] = (count, enqueued_at)
        self._oldest_of = oldest_of
        self._backlog = backlog
        self._depth = int(info.state.messages or 0)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                await self.refresh()
            except Exception as exc:
                log.debug("could not read the async stream's counts: %s", exc)
