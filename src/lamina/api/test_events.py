"""lamina's saved test events endpoint (not an AWS API): the console's Test tab uses it, so can a script.

- `GET /_lamina/test-events/{FunctionName}` → `{"TestEvents": [{"Name", "Event", "LastModified"}]}`
- `PUT /_lamina/test-events/{FunctionName}/{Name}` with `{"Event": "<JSON text>"}` → the saved item
- `DELETE /_lamina/test-events/{FunctionName}/{Name}` → 204
Shaped like Lambda's rest-json (PascalCase members, errors as AWS's `ResourceNotFoundException` /
`InvalidParameterValueException` bodies and `x-amzn-ErrorType`), so a botocore-style client parses it.
Each asks the authorize step for the schema-registry action the Lambda console's shareable test
events take on AWS (schemas:DescribeSchema, UpdateSchema, DeleteSchema on
`schema/lambda-testevent-schemas/_<function>-schema`).
Imports lamina.api (responses, json_body, authorization, pipeline), lamina.errors and
lamina.control.test_events only.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from lamina.api import authorization, json_body, responses
from lamina.api.pipeline import caller_of
from lamina.control.test_events import TestEvents
from lamina.errors import InvalidRequestContentException, LambdaError

PREFIX = "/_lamina/test-events"


def test_event_routes(events: TestEvents, authorize: authorization.Authorize = authorization.allow_all) -> list[Route]:
    def require(request: Request, operation: str) -> None:
        authorization.require(authorize, caller_of(request.scope), "schemas", operation,
                              {"FunctionName": request.path_params["function"]})

    async def listing(request: Request):
        try:
            require(request, "DescribeSchema")
            return responses.json_ok(200, await run_in_threadpool(events.list, request.path_params["function"]))
        except LambdaError as error:
            return responses.rest_json_error(error)

    async def one(request: Request):
        function, name = request.path_params["function"], request.path_params["name"]
        try:
            require(request, "DeleteSchema" if request.method == "DELETE" else "UpdateSchema")
            if request.method == "DELETE":
                await run_in_threadpool(events.delete, function, name)
                return responses.json_ok(204, None)
            try:
                document = json_body.decode(await request.body())
            except json_body.Malformed:
                raise InvalidRequestContentException("Could not parse request body into json") from None
            return responses.json_ok(200, await run_in_threadpool(events.put, function, name, document))
        except LambdaError as error:
            return responses.rest_json_error(error)

    return [Route(PREFIX + "/{function}", listing, methods=["GET"]),
            Route(PREFIX + "/{function}/{name}", one, methods=["PUT", "DELETE"])]
