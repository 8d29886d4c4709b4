"""What a stream mapping (Kinesis, DynamoDB Streams) does with a batch and the function's answer:
the pure rules of reference 1.8–1.10.

- Retry until success, MaximumRetryAttempts (−1 = until the records expire) or
  MaximumRecordAgeInSeconds; a batch given up on goes to the on-failure destination.
- BisectBatchOnFunctionError: a failed batch is halved and the first half retried; splitting does
  not use up retry attempts (it isolates the bad record, which then has its own attempts).
- ReportBatchItemFailures: the answer's `batchItemFailures` checkpoint at the lowest failed
  sequence number; what follows is retried. A malformed answer fails the whole batch.
- TumblingWindowInSeconds: the answer must carry `state`.
- ParallelizationFactor: records are spread over lanes by partition key (order kept per key); the
  shard's checkpoint is the end of the longest prefix of finished records (`Progress`).

No I/O, no clocks: callers pass `now`. Imports nothing from lamina.
"""

from __future__ import annotations

import json
import math
import zlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

RETRY_ATTEMPTS_EXHAUSTED = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"

FIRST_RETRY_DELAY = 1.0
MAX_RETRY_DELAY = 60.0


@dataclass(frozen=True)
class StreamConfig:
    """The members of a stream mapping the policies read (AWS's defaults, reference 1.7)."""

    batch_size: int = 100
    max_retries: int = -1
    max_record_age: int = -1
    bisect: bool = False
    report_item_failures: bool = False
    tumbling_window: int = 0
    parallelization: int = 1
    batching_window: float = 0.0

    @classmethod
    def of(cls, config: dict) -> StreamConfig:
        def number(key: str, default: int) -> int:
            value = config.get(key)
            return default if value is None else int(value)

        return cls(
            batch_size=number("BatchSize", 100),
            max_retries=number("MaximumRetryAttempts", -1),
            max_record_age=number("MaximumRecordAgeInSeconds", -1),
            bisect=bool(config.get("BisectBatchOnFunctionError")),
            report_item_failures="ReportBatchItemFailures" in (config.get("FunctionResponseTypes") or []),
            tumbling_window=number("TumblingWindowInSeconds", 0),
            parallelization=max(1, number("ParallelizationFactor", 1)),
            batching_window=float(config.get("MaximumBatchingWindowInSeconds") or 0),
        )


# -- before an invoke -------------------------------------------------------------------------

def expired(arrivals: Sequence[float], now: float, max_age: int) -> int:
    """How many leading records are older than MaximumRecordAgeInSeconds (−1: none ever are).
    Records of a shard (or of a lane) arrive in order, so the expired ones are a prefix."""
    if max_age < 0:
        return 0
    count = 0
    for arrival in arrivals:
        if now - arrival <= max_age:
            break
        count += 1
    return count


# -- the function's answer --------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    """The function's answer to a batch, read: `ok` (the whole batch succeeded), else `failed_at`
    (index of the first record to retry; 0 = the whole batch failed) and the window `state`."""

    ok: bool
    failed_at: int = 0
    state: dict | None = None


FAILED = Answer(ok=False)


def read_answer(payload: bytes, sequence_numbers: Sequence[str], *, function_error: str | None,
                report_item_failures: bool, window: bool) -> Answer:
    """Reference 1.10 and 1.12 as a function of the response payload."""
    if function_error is not None:
        return FAILED
    if not report_item_failures and not window:
        return Answer(ok=True)
    try:
        body = json.loads(payload) if payload.strip() else None
    except ValueError:
        return FAILED
    state = None
    if window:
        if not isinstance(body, dict) or not isinstance(body.get("state"), dict):
            return FAILED  # a window's answer without its state counts as a failed invoke
        state = body["state"]
    if not report_item_failures or body is None or body == {}:
        return Answer(ok=True, state=state)
    if not isinstance(body, dict):
        return FAILED
    failures = body.get("batchItemFailures")
    if failures is None or failures == []:
        return Answer(ok=True, state=state)
    if not isinstance(failures, list):
        return FAILED
    index = {sequence: position for position, sequence in enumerate(sequence_numbers)}
    positions = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in index:
            return FAILED  # empty, null, wrong key or not in the batch: the whole batch failed
        positions.append(index[identifier])
    return Answer(ok=False, failed_at=min(positions), state=state)


# -- after an invoke --------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """What follows an invoke of the `size` records at the head of a lane: the first `commit`
    records are done; the next `discard` are given up (an on-failure record with `condition`);
    the rest stay at the head, tried again after `delay` seconds in a batch of at most `size`
    records (None: BatchSize) with `attempts` retries used so far."""

    commit: int = 0
    discard: int = 0
    condition: str | None = None
    attempts: int = 0
    size: int | None = None
    delay: float = 0.0


def retry_delay(attempts: int, scale: float = 1.0) -> float:
    """1 s, 2 s, 4 s... capped at a minute, times `scale`, before retry number `attempts`."""
    return min(FIRST_RETRY_DELAY * 2 ** max(attempts - 1, 0), MAX_RETRY_DELAY) * scale


def after_invoke(size: int, answer: Answer | None, attempts: int, config: StreamConfig,
                 scale: float = 1.0) -> Step:
    """`answer` None: the function did not run (throttled, not ready): retried after a back-off
    without using a retry attempt (the record age still applies)."""
    if answer is None:
        return Step(attempts=attempts, size=size, delay=retry_delay(attempts + 1, scale))
    if answer.ok:
        return Step(commit=size)
    commit = answer.failed_at if 0 < answer.failed_at < size else 0
    remaining = size - commit
    if config.bisect and commit == 0 and remaining > 1:
        # Halve and retry the first half; the split uses no retry attempt.
        return Step(attempts=attempts, size=math.ceil(remaining / 2), delay=0.0)
    used = attempts + 1
    if 0 <= config.max_retries < used:
        return Step(commit=commit, discard=remaining, condition=RETRY_ATTEMPTS_EXHAUSTED)
    return Step(commit=commit, attempts=used, size=remaining, delay=retry_delay(used, scale))


# -- ParallelizationFactor --------------------------------------------------------------------

def lane_of(partition_key: str, factor: int) -> int:
    """The lane (0…factor−1) a partition key's records go through, the same for every record."""
    if factor <= 1:
        return 0
    return zlib.crc32(partition_key.encode()) % factor


class Progress:
    """The records of a shard read so far, in order, and which of them are finished (delivered,
    filtered out or given up on). The checkpoint is the sequence number of the last record of the
    finished prefix: everything up to it may be skipped after a restart, nothing after it."""

    def __init__(self) -> None:
        self._order: deque[str] = deque()
        self._done: set[str] = set()

    def read(self, sequence_numbers: Sequence[str]) -> None:
        self._order.extend(sequence_numbers)

    def finish(self, sequence_numbers: Sequence[str]) -> str | None:
        """Mark records finished; returns the new checkpoint when it moved, else None."""
        self._done.update(sequence_numbers)
        moved = None
        while self._order and self._order[0] in self._done:
            moved = self._order.popleft()
            self._done.discard(moved)
        return moved

    @property
    def outstanding(self) -> int:
        return len(self._order)
