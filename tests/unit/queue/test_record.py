"""lamina.queue.record: the destination record's shape."""

import json

from lamina.queue.record import destination_record


def test_failure_record_has_every_member():
    record = json.loads(destination_record(
        request_id="r1", function_arn="arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST",
        condition="RetriesExhausted", invoke_count=3, now=1573755365.568, request_payload=b'{"a": 1}',
        executed_version="$LATEST", function_error="Unhandled", response_payload=b'{"errorMessage": "x"}'))
    assert record == {
        "version": "1.0", "timestamp": "2019-11-14T18:16:05.568Z",
        "requestContext": {"requestId": "r1", "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST",
                           "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": {"a": 1},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "x"},
    }


def test_age_exceeded_before_any_run_has_no_response():
    record = json.loads(destination_record(
        request_id="r", function_arn="arn", condition="EventAgeExceeded", invoke_count=0, now=0,
        request_payload=b"{}", executed_version=None, function_error=None, response_payload=None))
    assert "responseContext" not in record and "responsePayload" not in record
