"""The Amazon MQ for RabbitMQ poller of one event source mapping (aio-pika).

The broker ARN maps to an AMQP URL in lamina's settings (LAMINA_MQ_BROKERS); the mapping's one
queue is consumed with a prefetch of BatchSize on the virtual host its VIRTUAL_HOST source access
configuration names (else the URL's); credentials come from the URL (a BASIC_AUTH secret ARN is
accepted, as AWS requires one, but lamina reads no secrets). A batch is gathered by BatchSize,
the batching window (0.5 s unless set) and the 6 MB payload limit; the function gets AWS's
`rmqMessagesByQueue` event (reference 1.5); the batch is acknowledged after success, rejected
with requeue after a failure (a whole-batch retry, as on AWS). Filtered-out messages are
acknowledged. A broker it cannot reach is retried with backoff and shown in the mapping.

Imports lamina.model and lamina.pollers only.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import logging
import time
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika

from lamina.model import EventSourceMapping
from lamina.pollers import batches
from lamina.pollers.hooks import Hooks

log = logging.getLogger("lamina.pollers.mq")
DEFAULT_WINDOW_S = 0.5


def rmq_timestamp(value: dt.datetime | None) -> str | None:
    """AWS's (Java's medium date format) rendering: "Jan 1, 1970, 12:33:41 AM", in UTC."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    hour = value.hour % 12 or 12
    return f"{value:%b} {value.day}, {value.year}, {hour}:{value:%M:%S} {'AM' if value.hour < 12 else 'PM'}"


def header_value(value: object) -> object:
    """A header as AWS shows it: byte strings (AMQP long strings) as {"bytes": [...]}, numbers as numbers."""
    if isinstance(value, str):
        return {"bytes": list(value.encode())}
    if isinstance(value, bytes | bytearray):
        return {"bytes": list(value)}
    if isinstance(value, dict):
        return {k: header_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [header_value(v) for v in value]
    if isinstance(value, dt.datetime):
        return int(value.timestamp())
    return value


def rmq_message(message) -> dict:
    """One item of rmqMessagesByQueue from an aio-pika IncomingMessage (unset properties are null)."""
    delivery_mode = message.delivery_mode
    return {
        "basicProperties": {
            "contentType": message.content_type,
            "contentEncoding": message.content_encoding,
            "headers": header_value(dict(message.headers)) if message.headers else None,
            "deliveryMode": int(delivery_mode) if delivery_mode is not None else None,
            "priority": message.priority,
            "correlationId": message.correlation_id,
            "replyTo": message.reply_to,
            "expiration": str(message.expiration) if message.expiration is not None else None,
            "messageId": message.message_id,
            "timestamp": rmq_timestamp(message.timestamp),
            "type": message.type,
            "userId": message.user_id,
            "appId": message.app_id,
            "clusterId": message.cluster_id,
            "bodySize": len(message.body),
        },
        "redelivered": bool(message.redelivered),
        "data": base64.b64encode(message.body).decode(),
    }


def broker_url(url: str, virtual_host: str | None) -> str:
    """The AMQP URL with the mapping's virtual host in place of the URL's."""
    if virtual_host is None:
        return url
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(virtual_host, safe=""), parts.query, ""))


def virtual_host_of(url: str, configured: str | None) -> str:
    if configured is not None:
        return configured
    path = urlsplit(url).path
    return "/" if path in ("", "/") else path[1:]


def _decoded_data(value: object) -> object:
    try:
        return batches.json_or_text(base64.b64decode(str(value)).decode())
    except (ValueError, UnicodeDecodeError):
        return value


class MqPoller:
    def __init__(self, mapping: EventSourceMapping, hooks: Hooks) -> None:
        self.mapping = mapping
        self.hooks = hooks
        config = mapping.config
        self.queue_name = config["Queues"][0]
        access = {item.get("Type"): item.get("URI") for item in config.get("SourceAccessConfigurations") or []}
        url = hooks.sources.mq_brokers.get(mapping.event_source_arn, "")
        self.url = broker_url(url, access.get("VIRTUAL_HOST"))
        self.key = f"{self.queue_name}::{virtual_host_of(url, access.get('VIRTUAL_HOST'))}"
        self.batch_size = int(config.get("BatchSize", 100))
        window = config.get("MaximumBatchingWindowInSeconds")
        self.window = DEFAULT_WINDOW_S if window is None else float(window)
        self.keep = batches.record_filter(config.get("FilterCriteria"), "data", _decoded_data)
        self.stopping = asyncio.Event()
        self.problem: str | None = None

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> None:
        trouble = None
        while not self.stopping.is_set():
            try:
                await self._consume()
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                problem = f"PROBLEM: Cannot consume {self.key} on the broker {self.mapping.event_source_arn}: {error}"
                if problem != self.problem:
                    log.warning("mapping %s: %s", self.mapping.uuid, problem)
                self.problem = problem
                await self.hooks.tell(self.mapping.uuid, None, problem)
                trouble = trouble or self.hooks.backoff()
                try:
                    await asyncio.wait_for(self.stopping.wait(), next(trouble))
                except TimeoutError:
                    pass

    async def _consume(self) -> None:
        connection = await aio_pika.connect(self.url, timeout=10)
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=self.batch_size)
            queue = await channel.get_queue(self.queue_name, ensure=True)
            inbox: asyncio.Queue = asyncio.Queue()
            tag = await queue.consume(inbox.put)
            if self.problem is not None:
                self.problem = None
                await self.hooks.tell(self.mapping.uuid, None, None)
            closed = asyncio.ensure_future(self._closed(connection))
            try:
                while not self.stopping.is_set():
                    batch = await self._gather(inbox, closed)
                    if batch is None:
                        raise ConnectionError(f"the connection closed: {connection.close_exc or 'no reason given'}")
                    if batch:
                        await self._deliver(batch)
                await queue.cancel(tag)
            finally:
                closed.cancel()
        finally:
            await connection.close()

    async def _closed(self, connection) -> None:
        await connection.closed()

    async def _gather(self, inbox: asyncio.Queue, closed: asyncio.Future) -> list | None:
        """A batch (empty when stopping), or None when the connection closed under it."""
        first = asyncio.ensure_future(inbox.get())
        stop = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait({first, stop, closed}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not first.done():
            first.cancel()
            return None if closed.done() else []
        batch = [first.result()]
        size = len(batch[0].body)
        deadline = time.monotonic() + self.window
        while len(batch) < self.batch_size and size < batches.PAYLOAD_LIMIT:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                message = await asyncio.wait_for(inbox.get(), remaining)
            except TimeoutError:
                break
            batch.append(message)
            size += len(message.body)
        return batch

    async def _deliver(self, messages: list) -> None:
        mapping = self.mapping
        items = [rmq_message(m) for m in messages]
        if self.keep is not None:
            kept = [(m, i) for m, i in zip(messages, items, strict=True) if self.keep(i)]
            for message, _ in [(m, i) for m, i in zip(messages, items, strict=True) if not self.keep(i)]:
                await message.ack()
            messages, items = [m for m, _ in kept], [i for _, i in kept]
        encoded = [json.dumps(i, separators=(",", ":")) for i in items]
        for part in batches.split_by_size([len(e) + len(self.key) for e in encoded]):
            event = {"eventSource": "aws:rmq", "eventSourceArn": mapping.event_source_arn,
                     "rmqMessagesByQueue": {self.key: [items[i] for i in part]}}
            try:
                error, _ = await self.hooks.invoke(mapping.function_name, mapping.qualifier,
                                                   json.dumps(event, separators=(",", ":")).encode())
                problem = None
            except Exception as exc:
                error, problem = "System", f"PROBLEM: Function call failed: {getattr(exc, 'message', exc)}"
            for index in part:
                if error is None:
                    await messages[index].ack()
                else:
                    await messages[index].nack(requeue=True)
            if self.hooks.metrics is not None:
                self.hooks.metrics.batch(mapping.uuid, mapping.function_name, len(part),
                                         len(part) if error else 0)
            await self.hooks.tell(mapping.uuid, "OK" if error is None else problem, problem)
            if error is not None:
                await asyncio.sleep(0.1)  # a batch that keeps failing does not spin the broker


def mq_poller(mapping: EventSourceMapping, hooks: Hooks) -> MqPoller:
    return MqPoller(mapping, hooks)
