"""`/_lamina/stacks`: where `lamina deploy` keeps each SAM stack's state (lamina's own API, not AWS's).

- `GET /_lamina/stacks`: `{"Stacks": [{"StackName", "LastUpdated"}]}`
- `GET /_lamina/stacks/{name}`: `{"StackName", "LastUpdated", "Document"}`; 404 ResourceNotFoundException
- `PUT /_lamina/stacks/{name}` with the document as a JSON body: the stored record
- `DELETE /_lamina/stacks/{name}`: 204
Requests pass the pipeline like every other (with auth on, they are signed) and ask the authorize
step for the CloudFormation action they stand for (ListStacks, DescribeStacks, CreateStack or
UpdateStack, DeleteStack on `stack/NAME/*`). Errors are rest-json, as on the Lambda API.
Imports lamina.api (responses, json_body, authorization, pipeline), lamina.errors and lamina.control.stacks.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from lamina.api import authorization, json_body, responses
from lamina.api.pipeline import caller_of
from lamina.control.stacks import Stacks
from lamina.errors import InvalidRequestContentException, LambdaError, ResourceNotFoundException

PATH = "/_lamina/stacks"


def stack_routes(stacks: Stacks, authorize: authorization.Authorize = authorization.allow_all) -> list[Route]:
    async def listing(request: Request):
        try:
            authorization.require(authorize, caller_of(request.scope), "cloudformation", "ListStacks", {})
        except LambdaError as error:
            return responses.rest_json_error(error)
        return responses.json_ok(200, await run_in_threadpool(stacks.list))

    def exists(name: str) -> bool:
        try:
            stacks.get(name)
        except ResourceNotFoundException:
            return False
        return True

    async def one(request: Request):
        name = request.path_params["name"]
        try:
            operation = {"GET": "DescribeStacks", "DELETE": "DeleteStack"}.get(request.method)
            if operation is None:  # PUT
                operation = "UpdateStack" if await run_in_threadpool(exists, name) else "CreateStack"
            authorization.require(authorize, caller_of(request.scope), "cloudformation", operation,
                                  {"StackName": name})
            if request.method == "GET":
                return responses.json_ok(200, await run_in_threadpool(stacks.get, name))
            if request.method == "DELETE":
                await run_in_threadpool(stacks.delete, name)
                return responses.json_ok(204, None)
            try:
                document = json_body.decode(await request.body())
            except json_body.Malformed:
                raise InvalidRequestContentException("Could not parse request body into json.") from None
            return responses.json_ok(200, await run_in_threadpool(stacks.put, name, document))
        except LambdaError as error:
            return responses.rest_json_error(error)

    return [Route(PATH, listing, methods=["GET"]), Route(PATH + "/{name}", one, methods=["GET", "PUT", "DELETE"])]
