"""The record a stream mapping sends to its OnFailure destination when it gives up on records
(MaximumRetryAttempts or MaximumRecordAgeInSeconds, reference 1.11): metadata about the batch
(shard, first and last sequence numbers, arrival times), never the records themselves.

Pure: callers pass the time. Imports nothing from lamina.
"""

from __future__ import annotations

from datetime import UTC, datetime


def _iso_ms(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{int(round(seconds * 1000)) % 1000:03d}Z"


def _iso_s(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def failure_record(*, kind: str, request_id: str, function_arn: str, condition: str, invoke_count: int,
                   function_error: str | None, executed_version: str | None, now: float, shard_id: str,
                   first_sequence: str, last_sequence: str, first_arrival: float, last_arrival: float,
                   batch_size: int, source_arn: str) -> dict:
    """`kind` "kinesis" or "dynamodb"; `function_error` None with `executed_version` None when the
    records were given up without an invoke (too old before one ran): no responseContext then."""
    record: dict = {
        "requestContext": {"requestId": request_id, "functionArn": function_arn, "condition": condition,
                           "approximateInvokeCount": invoke_count},
    }
    if executed_version is not None:
        response = {"statusCode": 200, "executedVersion": executed_version}
        if function_error:
            response["functionError"] = function_error
        record["responseContext"] = response
    record["version"] = "1.0"
    record["timestamp"] = _iso_ms(now)
    arrival = _iso_ms if kind == "kinesis" else _iso_s
    info = {
        "shardId": shard_id,
        "startSequenceNumber": first_sequence,
        "endSequenceNumber": last_sequence,
        "approximateArrivalOfFirstRecord": arrival(first_arrival),
        "approximateArrivalOfLastRecord": arrival(last_arrival),
        "batchSize": batch_size,
        "streamArn": source_arn,
    }
    record["KinesisBatchInfo" if kind == "kinesis" else "DDBStreamBatchInfo"] = info
    return record
