"""The destination record an OnSuccess / OnFailure target receives (reference 3.2).

Pure: builds the JSON document from what the attempt produced. Imports nothing from lamina.
"""

from __future__ import annotations

import datetime as _dt
import json


def _iso(epoch: float) -> str:
    moment = _dt.datetime.fromtimestamp(epoch, _dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _json_or_text(data: bytes | None):
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


def destination_record(*, request_id: str, function_arn: str, condition: str, invoke_count: int, now: float,
                       request_payload: bytes, executed_version: str | None, function_error: str | None,
                       response_payload: bytes | None) -> bytes:
    """`function_arn` is the qualified ARN of the version that ran."""
    record: dict = {
        "version": "1.0",
        "timestamp": _iso(now),
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "requestPayload": _json_or_text(request_payload),
    }
    if executed_version is not None:
        context: dict = {"statusCode": 200, "executedVersion": executed_version}
        if function_error:
            context["functionError"] = function_error
        record["responseContext"] = context
        record["responsePayload"] = _json_or_text(response_payload)
    return json.dumps(record, separators=(",", ":")).encode()
