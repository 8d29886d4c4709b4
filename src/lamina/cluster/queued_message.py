"""How a queued async event is written on a JetStream message, and the pure decisions about it.

The payload is the message body (or, when it would not fit in one NATS message, a reference to an
object in the payloads bucket); everything else about the event travels in headers. Decisions:
whether a delivered message is due or must wait (`wait_before_run`), which subject a function's
events use, and whether a payload travels inline. Pure; imports lamina.queue.queue only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from lamina.queue.queue import QueuedEvent

REQUEST_ID = "Lamina-Request-Id"
FUNCTION = "Lamina-Function"
QUALIFIER = "Lamina-Qualifier"  # absent: no qualifier
ENQUEUED_AT = "Lamina-Enqueued-At"
DUE_AT = "Lamina-Due-At"
RUNS = "Lamina-Runs"
THROTTLES = "Lamina-Throttles"
PAYLOAD_REF = "Lamina-Payload-Ref"  # the payload is this object of the payloads bucket
TRACE = "Lamina-Trace"  # the X-Ray trace it was accepted with (QueuedEvent.trace); absent: none
MSG_ID = "Nats-Msg-Id"  # JetStream drops a second publish with the same id (within its window)

HEADROOM = 8 * 1024  # bytes kept free in a message for headers and protocol
EARLY_S = 0.005  # a message delivered this close to its due time runs now (timers are not exact)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def subject_token(function_name: str) -> str:
    """The subject token of a function: its name when that is a valid NATS token, else a digest."""
    if _TOKEN.match(function_name):
        return function_name
    return "h" + hashlib.sha256(function_name.encode()).hexdigest()[:32]


def inline(payload_size: int, max_payload: int) -> bool:
    """Whether a payload travels in the message itself (else by reference)."""
    return payload_size <= max_payload - HEADROOM


def headers_for(*, request_id: str, function_name: str, qualifier: str | None, enqueued_at: float, due_at: float,
                runs: int, throttles: int, payload_ref: str | None = None, msg_id: str | None = None,
                trace: str | None = None) -> dict[str, str]:
    headers = {REQUEST_ID: request_id, FUNCTION: function_name, ENQUEUED_AT: repr(float(enqueued_at)),
               DUE_AT: repr(float(due_at)), RUNS: str(int(runs)), THROTTLES: str(int(throttles))}
    if qualifier is not None:
        headers[QUALIFIER] = qualifier
    if payload_ref is not None:
        headers[PAYLOAD_REF] = payload_ref
    if msg_id is not None:
        headers[MSG_ID] = msg_id
    if trace is not None:
        headers[TRACE] = trace
    return headers


def event_from(seq: int, headers: Mapping[str, str] | None, payload: bytes) -> QueuedEvent:
    """The QueuedEvent a stored message carries; ValueError when its headers are not lamina's."""
    headers = headers or {}
    try:
        return QueuedEvent(
            id=int(seq), request_id=headers[REQUEST_ID], function_name=headers[FUNCTION],
            qualifier=headers.get(QUALIFIER), payload=payload, enqueued_at=float(headers[ENQUEUED_AT]),
            due_at=float(headers[DUE_AT]), runs=int(headers[RUNS]), throttles=int(headers[THROTTLES]),
            trace=headers.get(TRACE),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"message {seq} is not a lamina async event: {exc}") from exc


def wait_before_run(due_at: float, now: float) -> float | None:
    """None when a delivered event is due; else the seconds to hold it back (a delayed redelivery)."""
    remaining = due_at - now
    return remaining if remaining > EARLY_S else None


def retry_msg_id(seq: int) -> str:
    """The dedupe id of the retry that replaces message `seq`: publishing it twice stores it once."""
    return f"lamina-retry-{seq}"
