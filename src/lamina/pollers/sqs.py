"""The SQS poller of one event source mapping (standard and FIFO queues).

Workers long-poll the queue (ReceiveMessage, WaitTimeSeconds 20 unless LAMINA_SQS_WAIT_SECONDS), gather a batch by BatchSize,
MaximumBatchingWindowInSeconds and the 6 MB payload limit, drop (and delete) what FilterCriteria
filters out, invoke the function synchronously with `{"Records": [...]}` and delete what
succeeded; what failed is left in the queue, to come back after its visibility timeout (so the
queue's redrive policy and DLQ apply). ReportBatchItemFailures and FIFO's per-group order follow
lamina.pollers.batches. Workers scale from 2 up with a backlog (a full receive) and down when idle
(an empty one), never past ScalingConfig.MaximumConcurrency. A source it cannot reach (or a queue
that was deleted) is retried with backoff and shown in the mapping's StateTransitionReason.

Imports lamina.model and lamina.pollers only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import botocore.exceptions

from lamina.model import EventSourceMapping
from lamina.pollers import batches, blocking
from lamina.pollers.hooks import Hooks
from lamina.pollers.sources import NON_EXISTENT_QUEUE, arn_parts, queue_missing_text
from lamina.pollers.sqs_records import sqs_record

log = logging.getLogger("lamina.pollers.sqs")
RECEIVE_MAX = 10
BACKLOG_EVERY_S = 10.0


class Unreachable(Exception):
    """The queue cannot be read now; the text is what the mapping shows."""


def problem_of(error: Exception, endpoint: str | None) -> str:
    if isinstance(error, botocore.exceptions.ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        if code in NON_EXISTENT_QUEUE:
            return f"PROBLEM: {queue_missing_text()}"
        message = error.response.get("Error", {}).get("Message", "")
        return f"PROBLEM: Error occurred while ReceiveMessage. SQS Error Code: {code}. SQS Error Message: {message}"
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return "PROBLEM: No AWS credentials found to read the queue (standard credentials chain)."
    return f"PROBLEM: Cannot reach SQS{f' at {endpoint}' if endpoint else ''}: {error}"


class SqsPoller:
    def __init__(self, mapping: EventSourceMapping, hooks: Hooks) -> None:
        self.mapping = mapping
        self.hooks = hooks
        config = mapping.config
        self.arn = mapping.event_source_arn
        self.region = arn_parts(self.arn)[0]
        self.batch_size = int(config.get("BatchSize", 10))
        self.window = float(config.get("MaximumBatchingWindowInSeconds") or 0)
        self.reports = batches.REPORT_BATCH_ITEM_FAILURES in (config.get("FunctionResponseTypes") or [])
        self.fifo = self.arn.endswith(".fifo")
        scaling = (config.get("ScalingConfig") or {}).get("MaximumConcurrency")
        self.maximum = int(scaling) if scaling else batches.DEFAULT_MAX_SQS_WORKERS
        self.keep = batches.record_filter(config.get("FilterCriteria"), "body", batches.json_or_text)
        self.client = hooks.sources.client("sqs", self.region)
        self.url: str | None = None
        self.target = min(batches.MIN_SQS_WORKERS, self.maximum)
        self.workers: set[asyncio.Task] = set()
        self.stopping = asyncio.Event()
        self.problem: str | None = None
        self._trouble = None

    # -- life --------------------------------------------------------------------------------
    def stop(self) -> None:
        """Finish the batches in flight, start no new one."""
        self.stopping.set()

    async def run(self) -> None:
        backlog = asyncio.get_running_loop().create_task(self._sample_backlog())
        try:
            self._spawn()
            while self.workers:
                done, _ = await asyncio.wait(self.workers, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    self.workers.discard(task)
                    if not task.cancelled() and task.exception() is not None:
                        log.error("mapping %s: an SQS worker failed", self.mapping.uuid, exc_info=task.exception())
                if self.stopping.is_set():
                    continue
                self._spawn()
        finally:
            backlog.cancel()
            for task in self.workers:
                task.cancel()
            await asyncio.gather(backlog, *self.workers, return_exceptions=True)

    def _spawn(self) -> None:
        loop = asyncio.get_running_loop()
        while len(self.workers) < self.target and not self.stopping.is_set():
            self.workers.add(loop.create_task(self._work()))

    def _scale(self, full: bool, empty: bool) -> bool:
        """Adjust the worker count; True when the calling worker should end (scaling down)."""
        self.target = batches.next_worker_count(self.target, full=full, empty=empty, maximum=self.maximum)
        if len(self.workers) < self.target:
            self._spawn()
            return False
        return len(self.workers) > self.target

    # -- trouble -----------------------------------------------------------------------------
    async def _ok(self) -> None:
        self._trouble = None
        if self.problem is not None:
            self.problem = None
            await self.hooks.tell(self.mapping.uuid, None, None)

    async def _failed(self, problem: str) -> None:
        if problem != self.problem:
            log.warning("mapping %s: %s", self.mapping.uuid, problem)
        self.problem = problem
        await self.hooks.tell(self.mapping.uuid, None, problem)
        if self._trouble is None:
            self._trouble = self.hooks.backoff()
        await self._until_stopped(next(self._trouble))

    async def _until_stopped(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            pass

    async def _sdk(self, fn, **kwargs):
        """An SQS call that gives up at once when the poller stops (returns None then)."""
        call = asyncio.ensure_future(blocking.call(fn, **kwargs))
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({call, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not call.done():
            call.cancel()
            return None
        return call.result()

    async def _queue_url(self) -> str | None:
        while self.url is None and not self.stopping.is_set():
            try:
                region, account, name = arn_parts(self.arn)
                answer = await self._sdk(self.client.get_queue_url, QueueName=name, QueueOwnerAWSAccountId=account)
                if answer is not None:
                    self.url = answer["QueueUrl"]
            except Exception as error:
                await self._failed(problem_of(error, self.client.meta.endpoint_url))
        return self.url

    # -- work --------------------------------------------------------------------------------
    async def _work(self) -> None:
        while not self.stopping.is_set():
            url = await self._queue_url()
            if url is None:
                return
            messages = await self._collect(url)
            if messages is None:
                continue
            if self._scale(full=len(messages) >= min(self.batch_size, RECEIVE_MAX), empty=not messages):
                if messages:
                    await self._process(url, messages)
                return
            if messages:
                await self._process(url, messages)

    async def _receive(self, url: str, count: int, wait: int) -> list[dict] | None:
        try:
            answer = await self._sdk(
                self.client.receive_message, QueueUrl=url, MaxNumberOfMessages=count, WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"])
        except Exception as error:
            if isinstance(error, botocore.exceptions.ClientError) and \
                    error.response.get("Error", {}).get("Code") in NON_EXISTENT_QUEUE:
                self.url = None  # look it up again: it may come back under a new URL
            await self._failed(problem_of(error, self.client.meta.endpoint_url))
            return None
        if answer is None:
            return None
        await self._ok()
        return answer.get("Messages") or []

    async def _collect(self, url: str) -> list[dict] | None:
        """One batch: a long poll for the first messages, then more until BatchSize, the batching
        window or the payload limit (None when the queue could not be read)."""
        first = await self._receive(url, min(self.batch_size, RECEIVE_MAX), self.hooks.long_poll_s)
        if not first or self.window <= 0:
            return first
        batch = list(first)
        size = sum(len(m.get("Body", "")) for m in batch)
        deadline = time.monotonic() + self.window
        while len(batch) < self.batch_size and size < batches.PAYLOAD_LIMIT and not self.stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            more = await self._receive(url, min(self.batch_size - len(batch), RECEIVE_MAX),
                                       min(self.hooks.long_poll_s, int(remaining)))
            if more is None:
                break
            if not more and remaining < 1:
                await asyncio.sleep(min(remaining, 0.05))
            batch += more
            size += sum(len(m.get("Body", "")) for m in more)
        return batch

    async def _process(self, url: str, messages: list[dict]) -> None:
        mapping = self.mapping
        records = [sqs_record(m, self.arn, self.region) for m in messages]
        if self.keep is not None:
            dropped = [r for r in records if not self.keep(r)]
            if dropped:
                await self._delete(url, dropped)
                records = [r for r in records if self.keep(r)]
        encoded = [json.dumps(r, separators=(",", ":")) for r in records]
        groups = [(r["messageId"], r["attributes"].get("MessageGroupId")) for r in records]
        held: set[str] = set()  # FIFO: what a failure earlier in the batch holds back (it comes back after)
        for part in batches.split_by_size([len(e.encode()) for e in encoded]):
            if held:
                part = [i for i in part if records[i]["messageId"] not in held]
                if not part:
                    continue
            chunk = [records[i] for i in part]
            payload = ('{"Records":[' + ",".join(encoded[i] for i in part) + "]}").encode()
            ids = [r["messageId"] for r in chunk]
            try:
                error, answer = await self.hooks.invoke(mapping.function_name, mapping.qualifier, payload)
                failed = batches.failed_items(error, answer, ids, self.reports)
                system_problem = None
            except Exception as exc:
                failed, error = set(ids), "System"
                system_problem = f"PROBLEM: Function call failed: {getattr(exc, 'message', exc)}"
            if self.fifo and failed:
                failed = batches.hold_back_groups([groups[i] for i in part], failed)
                held = batches.hold_back_groups(groups, held | failed)
            done = [r for r in chunk if r["messageId"] not in failed]
            if done:
                await self._delete(url, done)
            if self.hooks.metrics is not None:
                self.hooks.metrics.batch(mapping.uuid, mapping.function_name, len(chunk), len(failed))
            if system_problem is not None:
                await self._failed(system_problem)
            elif self.problem is not None and self.problem.startswith("PROBLEM: Function call failed"):
                await self._ok()

    async def _delete(self, url: str, records: list[dict]) -> None:
        for start in range(0, len(records), 10):
            entries = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
                       for i, r in enumerate(records[start:start + 10])]
            try:
                answer = await blocking.call(self.client.delete_message_batch, QueueUrl=url, Entries=entries)
            except Exception as error:
                log.warning("mapping %s: could not delete %d messages (they come back): %s",
                            self.mapping.uuid, len(entries), error)
                continue
            for failure in answer.get("Failed") or []:
                log.warning("mapping %s: could not delete a message (it comes back): %s",
                            self.mapping.uuid, failure.get("Message"))

    async def _sample_backlog(self) -> None:
        """ApproximateNumberOfMessages for the metrics, every BACKLOG_EVERY_S."""
        if self.hooks.metrics is None:
            return
        while not self.stopping.is_set():
            if self.url is not None:
                try:
                    answer = await blocking.call(self.client.get_queue_attributes, QueueUrl=self.url,
                                                 AttributeNames=["ApproximateNumberOfMessages"])
                    self.hooks.metrics.backlog(self.mapping.uuid, self.mapping.function_name,
                                               int(answer["Attributes"].get("ApproximateNumberOfMessages", 0)))
                except Exception as error:
                    log.debug("mapping %s: backlog not sampled: %s", self.mapping.uuid, error)
            await self._until_stopped(BACKLOG_EVERY_S)


def sqs_poller(mapping: EventSourceMapping, hooks: Hooks) -> SqsPoller:
    return SqsPoller(mapping, hooks)
