"""Destinations of asynchronous invocations: a success/failure record sent to a lamina function is an
asynchronous invocation of it.

Handed the queue's `enqueue`; imports lamina.arn and lamina.errors only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

from lamina import arn as arns
from lamina.errors import LambdaError

log = logging.getLogger("lamina")


class Destinations:
    def __init__(self, region: str, account_id: str, enqueue: Callable[..., Awaitable[None]]) -> None:
        self._region = region
        self._account_id = account_id
        self._enqueue = enqueue

    async def deliver(self, destination: str, record: bytes) -> None:
        """Send a destination record to a lamina function, as an asynchronous invocation of it."""
        try:
            ref = arns.parse_function_name(destination, self._region, self._account_id)
        except LambdaError:
            log.warning("destination %s is not a function of this lamina; record dropped", destination)
            return
        await self._enqueue(request_id=str(uuid.uuid4()), function_name=ref.name, qualifier=ref.qualifier,
                            payload=record)
