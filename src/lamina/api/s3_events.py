"""S3 event notifications: `POST /_lamina/s3-events/{FunctionName}[?Qualifier=...]` takes the S3
event message an S3-compatible store's webhook target sends (AWS's format, `{"Records": [...]}`,
one or more records; MinIO adds `EventName` and `Key` beside `Records`, which are dropped) and
invokes the function asynchronously once per record, with `{"Records": [record]}` as S3 invokes
Lambda, through the Event path (the durable queue: retries, destinations, 202 only once stored).
A webhook that sends an `X-Amzn-Trace-Id` header has its trace continued, as an Event invoke's is.

`read_records` is the pure part (what a body holds); the route is thin around it. An
`s3:TestEvent` message (sent when a notification is configured) invokes nothing, as on AWS.

With `--auth sigv4` the request is signed like every other (the pipeline refuses it otherwise), and
before anything is invoked `permit(caller, function name, qualifier, bucket ARN)` must pass for every
record: the signer may invoke the function (`lambda:InvokeFunction`, its identity policies) and the
function's resource policy lets `s3.amazonaws.com` invoke it for that bucket (aws:SourceArn, the
bucket's ARN; aws:SourceAccount), as S3 needs on AWS (`s3_permit`); a refusal is a 403
AccessDeniedException saying which. Without auth both checks allow.
Imports lamina.api (responses), lamina.authz (actions), lamina.errors and lamina.invoke only.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.requests import Request
from starlette.routing import Route

from lamina.api import responses
from lamina.api.pipeline import caller_of
from lamina.authz import actions
from lamina.errors import AccessDeniedException, InvalidRequestContentException, LambdaError
from lamina.invoke import Invocation, Invoker

PATH = "/_lamina/s3-events/{function_name}"
S3 = "s3.amazonaws.com"
# (caller, FunctionName, Qualifier, bucket ARN) → None when the record may be delivered, else why not
Permit = Callable[[object, str, "str | None", str], "str | None"]


def allow_all(caller: object, function_name: str, qualifier: str | None, bucket_arn: str) -> None:
    return None


def bucket_arn(record: dict) -> str:
    """The ARN of the bucket a record is about (AWS's records carry it; MinIO's too)."""
    bucket = record["s3"].get("bucket")
    bucket = bucket if isinstance(bucket, dict) else {}
    arn = bucket.get("arn")
    return arn if isinstance(arn, str) and arn else f"arn:aws:s3:::{bucket.get('name', '')}"


def s3_permit(region: str, account_id: str, check: Callable, may_invoke: Callable) -> Permit:
    """The check of a deployment: `check` is Authorizer.check, `may_invoke` Authorizer.may_invoke."""

    def permit(caller: object, function_name: str, qualifier: str | None, source_arn: str) -> str | None:
        denial = check(caller, "lambda", "Invoke", {"FunctionName": function_name, "Qualifier": qualifier})
        if denial is not None:
            return denial.message
        name, qualifier = actions.function_parts(function_name, qualifier)
        arn = f"arn:aws:lambda:{region}:{account_id}:function:{name}" + (f":{qualifier}" if qualifier else "")
        if not may_invoke(S3, arn, source_arn, account_id):
            return (f"The resource-based policy of {arn} does not allow {S3} to invoke it for {source_arn}: "
                    f"grant it with `aws lambda add-permission --function-name {function_name} --statement-id s3 "
                    f"--action lambda:InvokeFunction --principal {S3} --source-arn {source_arn} "
                    f"--source-account {account_id}`.")
        return None

    return permit


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


def s3_event_routes(invoker: Invoker, permit: Permit = allow_all) -> list[Route]:
    async def notify(request: Request) -> responses.RawResponse:
        try:
            records = read_records(await request.body())
            caller, name = caller_of(request.scope), request.path_params["function_name"]
            for record in records:  # all or nothing: no record is delivered when one may not be
                refusal = permit(caller, name, request.query_params.get("Qualifier"), bucket_arn(record))
                if refusal is not None:
                    raise AccessDeniedException(refusal)
            request_ids = []
            for record in records:
                outcome = await invoker.invoke(Invocation(
                    request.path_params["function_name"], request.query_params.get("Qualifier"),
                    json.dumps({"Records": [record]}).encode(), invocation_type="Event",
                    caller=caller_of(request.scope), caller_trace=request.headers.get("x-amzn-trace-id")))
                request_ids.append(outcome.request_id)
        except LambdaError as error:
            return responses.rest_json_error(error)
        return responses.json_ok(202, {"Invoked": len(request_ids), "RequestIds": request_ids})

    return [Route(PATH, notify, methods=["POST"])]
