"""Batch policy shared by the pollers (pure, table-tested): which records of a batch failed
according to the function's answer (ReportBatchItemFailures, reference 1.10), FIFO's rule that a
failed message holds back the later ones of its group, splitting a batch under the 6 MB payload
limit, the filter applied to records, and how many SQS workers a mapping runs.

Imports lamina.patterns only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from lamina import patterns

PAYLOAD_LIMIT = 6_291_456  # a synchronous invoke's request payload (bytes)
ENVELOPE = len(b'{"Records":[]}')
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
MIN_SQS_WORKERS = 2  # SQS ScalingConfig.MaximumConcurrency's floor; a mapping starts with this many
DEFAULT_MAX_SQS_WORKERS = 20  # lamina's cap when no MaximumConcurrency is set (AWS scales to 1,250)


def failed_items(function_error: str | None, payload: bytes, ids: Sequence[str], reports: bool) -> set[str]:
    """The ids of the batch to retry: none, some (a partial batch response) or all of them.

    Without ReportBatchItemFailures only a function error fails the batch (the answer is ignored).
    With it, the answer {"batchItemFailures": [{"itemIdentifier": id}]} names the failures; null, {}
    and an empty or null list mean success; a malformed answer, an empty/null identifier or an id
    not in the batch fails the whole batch."""
    everything = set(ids)
    if function_error is not None:
        return everything
    if not reports:
        return set()
    try:
        answer = json.loads(payload) if payload.strip() else None
    except ValueError:
        return everything
    if answer is None:
        return set()
    if not isinstance(answer, dict):
        return everything
    failures = answer.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return everything
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or not identifier or identifier not in everything:
            return everything
        failed.add(identifier)
    return failed


def hold_back_groups(records: Sequence[tuple[str, str | None]], failed: set[str]) -> set[str]:
    """FIFO: (id, message group) in batch order; a failed message also fails every later message
    of its group, so the group's order holds when they come back."""
    out = set(failed)
    stopped: set[str | None] = set()
    for identifier, group in records:
        if group in stopped:
            out.add(identifier)
        elif identifier in failed:
            stopped.add(group)
    return out


def split_by_size(sizes: Sequence[int], limit: int = PAYLOAD_LIMIT) -> list[range]:
    """Consecutive index ranges whose records (JSON sizes) fit one payload with the envelope and commas;
    a single record larger than the limit gets a range of its own (its invoke then fails as AWS's would)."""
    ranges, start, total = [], 0, ENVELOPE
    for index, size in enumerate(sizes):
        extra = size + (1 if index > start else 0)
        if index > start and total + extra > limit:
            ranges.append(range(start, index))
            start, total, extra = index, ENVELOPE, size
        total += extra
    if start < len(sizes):
        ranges.append(range(start, len(sizes)))
    return ranges


def record_filter(criteria: dict | None, data_key: str | None = None,
                  decode: Callable[[object], object] | None = None) -> Callable[[dict], bool] | None:
    """A predicate over records from FilterCriteria (OR between filters), or None when there are none.
    `data_key` ("body" for SQS) is replaced by `decode(value)` before matching (the JSON it holds)."""
    compiled = [patterns.compile_pattern(item["Pattern"]) for item in (criteria or {}).get("Filters") or []]
    if not compiled:
        return None

    def keep(record: dict) -> bool:
        view = record
        if data_key is not None and decode is not None and data_key in record:
            view = {**record, data_key: decode(record[data_key])}
        return any(pattern.matches(view) for pattern in compiled)

    return keep


def json_or_text(value: object) -> object:
    """A body as the filter sees it: the JSON it holds when it is JSON, else the text itself."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("{", "["):
            try:
                return json.loads(stripped)
            except ValueError:
                return value
    return value


def next_worker_count(current: int, *, full: bool, empty: bool, maximum: int) -> int:
    """SQS scaling: one more worker after a full receive (a backlog), one fewer after an empty one
    (idle), between MIN_SQS_WORKERS (or `maximum` if lower) and `maximum`."""
    floor = min(MIN_SQS_WORKERS, maximum)
    if full:
        return min(current + 1, maximum)
    if empty:
        return max(current - 1, floor)
    return max(min(current, maximum), floor)
