"""Blocking SDK calls (boto3) run off the event loop on daemon threads, so a long poll in flight
never holds up the server's exit: the awaiting coroutine can be cancelled at once and the thread
finishes its request alone. Imports nothing from lamina.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


async def call(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """`fn(*args, **kwargs)` on a daemon thread, awaited."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def work() -> None:
        try:
            result, error = fn(*args, **kwargs), None
        except BaseException as exc:  # handed to the awaiting coroutine
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(_settle, future, result, error)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    threading.Thread(target=work, daemon=True, name="lamina-poller-call").start()
    return await future
