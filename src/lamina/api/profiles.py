"""lamina's profiling endpoint (not an AWS API): `POST /_lamina/profiles` samples a function's
execution environments for a while and answers a speedscope document (lamina.profiler).

Body: `{"FunctionName", "Qualifier"?, "DurationSeconds"? (1-60, default 5), "SampleRate"? (1-1000 Hz,
default 100)}`. Answer: `{"FunctionName", "Version", "DurationSeconds", "SampleRate", "Environments":
[{"Environment", "Pid", "Samples" | "Error"}], "Samples", "Speedscope": {...}}`; errors as Lambda's
rest-json errors. The console's Profile tab calls it; so can a script (`curl -d ...`). AWS has no
such call: it asks the authorize step for `lambda:GetFunction` on the function, since a profile
shows the code's structure and GetFunction already gives the code itself.
Imports lamina.api (responses, json_body, authorization, pipeline), lamina.errors and lamina.profiler only.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from lamina.api import authorization, json_body, responses
from lamina.api.pipeline import caller_of
from lamina.errors import InvalidRequestContentException, LambdaError
from lamina.profiler import Profiler

PATH = "/_lamina/profiles"


def profile_routes(profiler: Profiler, authorize: authorization.Authorize = authorization.allow_all) -> list[Route]:
    async def profile(request: Request):
        try:
            try:
                document = json_body.decode(await request.body())
            except json_body.Malformed:
                raise InvalidRequestContentException("Could not parse request body into json") from None
            if isinstance(document, dict) and isinstance(document.get("FunctionName"), str):
                qualifier = document.get("Qualifier")
                authorization.require(authorize, caller_of(request.scope), "lambda", "GetFunction",
                                      {"FunctionName": document["FunctionName"],
                                       "Qualifier": qualifier if isinstance(qualifier, str) else None})
            return responses.json_ok(200, await profiler.profile(document))
        except LambdaError as error:
            return responses.rest_json_error(error)

    return [Route(PATH, profile, methods=["POST"])]
