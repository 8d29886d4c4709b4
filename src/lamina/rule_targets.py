"""EventBridge rule targets reached: each delivery becomes an asynchronous (Event) invoke through
the one front door (lamina.invoke), so the durable queue, retries, MaximumEventAge and
destinations apply to rule targets as to any Event invoke.

`deliver` is called from worker threads (control operations and the schedule clock run off the
event loop) and returns once every invoke is durably queued. Before each invoke the `authorize`
seam is asked whether `events.amazonaws.com` may invoke the function for that rule
(`authorize(function_arn, rule_arn) -> bool`); until resource policies land it allows every
call (`allow_all`), and the permissions work replaces it with a check of the function's policy
(principal events.amazonaws.com, SourceArn = the rule ARN). A refused or failed delivery is
logged and dropped, as EventBridge counts a FailedInvocation. Imports lamina.invoke, lamina.errors
and lamina.control.rules (the Delivery type).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from lamina.control.rules import Delivery
from lamina.errors import LambdaError
from lamina.invoke import Invocation, Outcome

log = logging.getLogger("lamina.rule_targets")
EVENTS_PRINCIPAL = "events.amazonaws.com"
DELIVERY_TIMEOUT = 30.0

Authorize = Callable[[str, str], bool]  # (function ARN, rule ARN) -> may events.amazonaws.com invoke it


class NotServing(RuntimeError):
    """Deliveries asked for while lamina is not serving (before start, while stopping)."""


def allow_all(function_arn: str, rule_arn: str) -> bool:
    """The seam's placeholder until resource-based policies are checked: every rule may invoke."""
    return True


class RuleTargets:
    def __init__(self, invoke: Callable[[Invocation], Awaitable[Outcome]], authorize: Authorize = allow_all) -> None:
        self._invoke = invoke
        self._authorize = authorize
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Invoke on `loop` from now on (the server's); None: refuse deliveries (lamina is stopping,
        its queue closes next)."""
        self._loop = loop

    def close(self) -> None:
        self.bind(None)

    def deliver(self, deliveries: list[Delivery]) -> None:
        """Queue an Event invoke per delivery; returns when they are durable. Called off the loop;
        raises NotServing when lamina is not serving (the events are not accepted)."""
        loop = self._loop
        if loop is None or not loop.is_running():
            raise NotServing(f"{len(deliveries)} rule deliveries refused: lamina is not serving")
        asyncio.run_coroutine_threadsafe(self._send(deliveries), loop).result(DELIVERY_TIMEOUT)

    async def _send(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            if self._loop is None:  # closed while these waited: the queue is closing
                raise NotServing("lamina is stopping: rule deliveries refused")
            if not self._authorize(delivery.function_arn, delivery.rule_arn):
                log.warning("%s may not invoke %s for rule %s", EVENTS_PRINCIPAL, delivery.function_arn,
                            delivery.rule_arn)
                continue
            try:
                await self._invoke(Invocation(function_name=delivery.function_arn, qualifier=None,
                                              payload=delivery.payload, invocation_type="Event"))
            except LambdaError as error:
                log.warning("rule %s could not invoke %s: %s", delivery.rule_arn, delivery.function_arn,
                            error.message)
