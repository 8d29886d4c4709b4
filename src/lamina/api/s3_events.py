"""S3 event notifications: `POST /_lamina/s3-events/{FunctionName}[?Qualifier=...]` takes the S3
event message an S3-compatible store's webhook target sends (AWS's format, `{"Records": [...]}`,
one or more records; MinIO adds `EventName` and `Key` beside `Records`, which are dropped) and
invokes the function asynchronously once per record, with `{"Records": [record]}` as S3 invokes
Lambda, through the Event path (the durable queue: retries, destinations, 202 only once stored).

`read_records` is the pure part (what a body holds); the route is thin around it. An
`s3:TestEvent` message (sent when a notification is configured) invokes nothing, as on AWS.
Imports lamina.api (responses), lamina.errors and lamina.invoke only.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.routing import Route

from lamina.api import responses
from lamina.api.pipeline import caller_of
from lamina.errors import InvalidRequestContentException, LambdaError
from lamina.invoke import Invocation, Invoker

PATH = "/_lamina/s3-events/{function_name}"


def read_records(body: bytes) -> list[dict]:
    """The S3 event records of a notification body, or InvalidRequestContentException saying
    what is wrong with it. A test event has none."""
    try:
        message = json.loads(body)
    except ValueError:
        raise InvalidRequestContentException("Could not parse the S3 event message: the body is not JSON.") from None
    if not isinstance(message, dict):
        raise InvalidRequestContentException("Could not parse the S3 event message: expected a JSON object.")
    if message.get("Event") == "s3:TestEvent" and "Records" not in message:
        return []
    records = message.get("Records")
    if not isinstance(records, list) or not records:
        raise InvalidRequestContentException(
            "Could not parse the S3 event message: it needs a non-empty \"Records\" list (AWS's S3 event format).")
    for position, record in enumerate(records):
        if not isinstance(record, dict) or not isinstance(record.get("s3"), dict) \
                or not isinstance(record.get("eventName"), str):
            raise InvalidRequestContentException(
                f"Could not parse the S3 event message: Records[{position}] is not an S3 event record "
                "(it needs \"eventName\" and an \"s3\" object).")
    return records


def s3_event_routes(invoker: Invoker) -> list[Route]:
    async def notify(request: Request) -> responses.RawResponse:
        try:
            records = read_records(await request.body())
            request_ids = []
            for record in records:
                outcome = await invoker.invoke(Invocation(
                    request.path_params["function_name"], request.query_params.get("Qualifier"),
                    json.dumps({"Records": [record]}).encode(), invocation_type="Event",
                    caller=caller_of(request.scope)))
                request_ids.append(outcome.request_id)
        except LambdaError as error:
            return responses.rest_json_error(error)
        return responses.json_ok(202, {"Invoked": len(request_ids), "RequestIds": request_ids})

    return [Route(PATH, notify, methods=["POST"])]
