"""EventBridge rule targets reached: each delivery becomes an asynchronous (Event) invoke through
the one front door (lamina.invoke), so the durable queue, retries, MaximumEventAge and
destinations apply to rule targets as to any Event invoke; a delivery that cannot be made is
retried and dead-lettered as the target's RetryPolicy and DeadLetterConfig say.

`deliver` is called from worker threads (control operations and the schedule clock run off the
event loop) and returns once every delivery is durable: invoked (queued as an Event), or, when the
invoke failed (function missing, refused, throttled, lamina not serving), stored in the delivery
store (lamina.store.rule_deliveries) with its next step decided by lamina.rule_retry. Before each
invoke the `authorize` seam is asked whether `events.amazonaws.com` may invoke the function for
that rule (`authorize(function_arn, rule_arn) -> bool`: the function's resource policy when auth
is on). `retry_due` (a periodic job, off the loop) retries the stored deliveries that are due and
sends those given up to the target's dead-letter queue through `dead_letter(queue_arn, body,
attributes)` (an SQS SendMessage at the configured endpoint); without a DeadLetterConfig, or when
the queue cannot be reached, the event is dropped and logged, as EventBridge does. Imports
lamina.invoke, lamina.errors, lamina.rule_retry, lamina.store.rule_deliveries (the row type) and
lamina.control.rules (the Delivery type).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from lamina import rule_retry as retry
from lamina.control.rules import Delivery
from lamina.errors import LambdaError
from lamina.invoke import Invocation, Outcome
from lamina.store.rule_deliveries import PendingDelivery

log = logging.getLogger("lamina.rule_targets")
EVENTS_PRINCIPAL = "events.amazonaws.com"
DELIVERY_TIMEOUT = 30.0
RETRY_BATCH = 100

Authorize = Callable[[str, str], bool]  # (function ARN, rule ARN) -> may events.amazonaws.com invoke it
DeadLetter = Callable[[str, str, dict], None]  # (queue ARN, message body, message attributes)


class NotServing(RuntimeError):
    """Deliveries asked for while lamina is not serving (before start, while stopping)."""


def allow_all(function_arn: str, rule_arn: str) -> bool:
    """The seam when nothing is enforced (auth off): every rule may invoke."""
    return True


def _refused(function_arn: str) -> str:
    return (f"User: {EVENTS_PRINCIPAL} is not authorized to perform: lambda:InvokeFunction on resource: "
            f"{function_arn} because no resource-based policy allows the lambda:InvokeFunction action")


class MemoryDeliveries:
    """A delivery store in memory (for tests and tools that run without a database)."""

    def __init__(self) -> None:
        self.rows: dict[int, PendingDelivery] = {}
        self._next = 1

    def add(self, pending: list[PendingDelivery]) -> None:
        for row in pending:
            self.rows[self._next] = replace(row, id=self._next)
            self._next += 1

    def due(self, now: float, limit: int) -> list[PendingDelivery]:
        return sorted((row for row in self.rows.values() if row.due_at <= now), key=lambda r: (r.due_at, r.id))[:limit]

    def update(self, pending: PendingDelivery) -> None:
        self.rows[pending.id] = pending

    def remove(self, delivery_id: int) -> None:
        self.rows.pop(delivery_id, None)

    def count(self) -> int:
        return len(self.rows)


class RuleTargets:
    def __init__(self, invoke: Callable[[Invocation], Awaitable[Outcome]], authorize: Authorize = allow_all, *,
                 store: MemoryDeliveries | None = None, dead_letter: DeadLetter | None = None,
                 clock: Callable[[], float] = time.time, scale: float = 1.0,
                 jitter: Callable[[], float] = random.random) -> None:
        self._invoke = invoke
        self._authorize = authorize
        self._store = store if store is not None else MemoryDeliveries()
        self._dead_letter = dead_letter
        self._clock = clock
        self._scale = scale
        self._jitter = jitter
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Invoke on `loop` from now on (the server's); None: store deliveries for later (lamina is
        stopping, its queue closes next)."""
        self._loop = loop

    def close(self) -> None:
        self.bind(None)

    def waiting(self) -> int:
        """How many deliveries wait for a retry or their dead-letter message."""
        return self._store.count()

    # -- first attempts -------------------------------------------------------------------------
    def deliver(self, deliveries: list[Delivery]) -> None:
        """Invoke each delivery as an Event; returns when each is queued or stored for a retry.
        Called off the loop."""
        now = self._clock()
        try:
            failures = self._run(self._attempts(deliveries))
        except NotServing as error:
            failures = [retry.Failure(retry.INTERNAL_ERROR, str(error))] * len(deliveries)
        pending = []
        for delivery, failure in zip(deliveries, failures, strict=True):
            if failure is None:
                continue
            log.warning("rule %s could not invoke %s: %s", delivery.rule_arn, delivery.function_arn, failure.message)
            first = PendingDelivery(None, delivery.rule_arn, delivery.function_arn, dict(delivery.target),
                                    delivery.payload, now, 0, now, failure.code, failure.message, False, None)
            pending.append(self._after_failure(first, failure, now, retries=0))
        self._store.add(pending)

    def _run(self, coroutine) -> list[retry.Failure | None]:
        loop = self._loop
        if loop is None or not loop.is_running():
            coroutine.close()
            raise NotServing("lamina is not serving")
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(DELIVERY_TIMEOUT)

    async def _attempts(self, deliveries: list[Delivery]) -> list[retry.Failure | None]:
        return [await self._attempt(delivery.rule_arn, delivery.function_arn, delivery.payload)
                for delivery in deliveries]

    async def _attempt(self, rule_arn: str, function_arn: str, payload: bytes) -> retry.Failure | None:
        if self._loop is None:  # closed while this waited: the queue is closing
            return retry.Failure(retry.INTERNAL_ERROR, "lamina is stopping")
        if not self._authorize(function_arn, rule_arn):
            return retry.Failure(retry.NO_PERMISSIONS, _refused(function_arn))
        try:
            await self._invoke(Invocation(function_name=function_arn, qualifier=None, payload=payload,
                                          invocation_type="Event"))
        except LambdaError as error:
            return retry.failure_of(error.status, error.message)
        except Exception as error:  # the queue closing under it, the database failing: retried later
            log.exception("rule %s: invoking %s failed", rule_arn, function_arn)
            return retry.Failure(retry.INTERNAL_ERROR, f"lamina could not queue the invoke: {error}")
        return None

    def _after_failure(self, pending: PendingDelivery, failure: retry.Failure, now: float,
                       retries: int) -> PendingDelivery:
        """The row of a delivery whose attempt failed, `retries` retries having been made: due
        again later, or given up (due now, for its dead-letter message)."""
        step = retry.next_step(failure=failure, retries=retries, first_at=pending.first_at, now=now,
                               policy=retry.policy_of(pending.target), jitter=self._jitter(), scale=self._scale)
        base = replace(pending, retries=retries, error_code=failure.code, error_message=failure.message)
        if isinstance(step, retry.Retry):
            return replace(base, due_at=step.at)
        return replace(base, due_at=now, final=True, condition=step.condition)

    # -- retries and dead letters (a periodic job, off the loop) ----------------------------------
    def retry_due(self) -> None:
        """Retry the stored deliveries that are due; dead-letter those given up."""
        if self._loop is None or not self._loop.is_running():
            return
        for pending in self._store.due(self._clock(), RETRY_BATCH):
            if not pending.final:
                try:
                    failure = self._run(self._attempt(pending.rule_arn, pending.function_arn, pending.payload))
                except NotServing:
                    return
                if failure is None:
                    self._store.remove(pending.id)
                    continue
                pending = self._after_failure(pending, failure, self._clock(), retries=pending.retries + 1)
                if not pending.final:
                    self._store.update(pending)
                    continue
            self._give_up(pending)
            self._store.remove(pending.id)

    def _give_up(self, pending: PendingDelivery) -> None:
        queue_arn = (pending.target.get("DeadLetterConfig") or {}).get("Arn")
        failure = retry.Failure(pending.error_code, pending.error_message)
        if not queue_arn or self._dead_letter is None:
            log.warning("rule %s gave up delivering to %s (%s): the event is dropped", pending.rule_arn,
                        pending.function_arn, pending.error_code)
            return
        attributes = retry.dead_letter_attributes(rule_arn=pending.rule_arn, target_arn=pending.function_arn,
                                                  failure=failure, condition=pending.condition,
                                                  retries=pending.retries)
        try:
            self._dead_letter(queue_arn, pending.payload.decode("utf-8", "replace"), attributes)
        except Exception as error:  # an unreachable or missing queue: EventBridge counts and drops it
            log.warning("rule %s could not send an event for %s to its dead-letter queue %s: %s",
                        pending.rule_arn, pending.function_arn, queue_arn, error)
