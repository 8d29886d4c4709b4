"""The ASGI application: the request pipeline in front of the function URL lane, the
InvokeWithResponseStream and Invoke fast lanes and the routes of every other implemented Lambda
operation, `/` (the JSON 1.1 endpoints, Logs and EventBridge, by X-Amz-Target; IAM and STS for
query-protocol requests naming an Action), /system, /health, code downloads, the saved test events
(/_lamina/test-events), the profiler (/_lamina/profiles) and any extra routes the composition root
hands in (the console at /console).

Every request first passes lamina.api.pipeline (the caller's identity); routes come from botocore's
model (each operation's method and requestUri), so paths match AWS's exactly; operations sharing a
path are told apart by their literal query parameters. Errors become AWS's error responses through
lamina.api.responses; nothing else ever reaches the client (no tracebacks).
Imports lamina.api modules, lamina.errors, lamina.invoke (the Invoker type) and lamina.control
(the ControlPlane, Logs, Rules and Usage services it dispatches to); never lamina.store.
The JSON 1.1 protocols at `POST /` (CloudWatch Logs, EventBridge) are told apart by X-Amz-Target's prefix.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lamina.api import aliases as alias_api
from lamina.api import authorization, invoke_stream, responses, s3_events, url_lane, validation
from lamina.api import code_signing as code_signing_api
from lamina.api import event_configs as event_config_api
from lamina.api import events as events_api
from lamina.api import function_urls as function_url_api
from lamina.api import functions as function_api
from lamina.api import iam as iam_api
from lamina.api import invoke as invoke_api
from lamina.api import layers as layer_api
from lamina.api import logs as logs_api
from lamina.api import mappings as mapping_api
from lamina.api import permissions as permission_api
from lamina.api import request as wire_request
from lamina.api.call import Call
from lamina.api.pipeline import Authenticate, RequestView, caller_of, pipeline
from lamina.api.profiles import profile_routes
from lamina.api.s3_events import s3_event_routes
from lamina.api.signer import signer_routes
from lamina.api.stacks import stack_routes
from lamina.api.system import system_routes
from lamina.api.test_events import test_event_routes
from lamina.control.iam import Iam
from lamina.control.logs import Logs
from lamina.control.plane import ControlPlane
from lamina.control.rules import Rules
from lamina.control.stacks import Stacks
from lamina.control.sts import Sts
from lamina.control.test_events import TestEvents
from lamina.control.usage import Usage
from lamina.errors import LambdaError, UnknownOperationException
from lamina.invoke import Invoker
from lamina.profiler import Profiler

log = logging.getLogger("lamina.api")
HANDLERS = {**function_api.HANDLERS, **alias_api.HANDLERS, **layer_api.HANDLERS, **event_config_api.HANDLERS,
            **permission_api.HANDLERS, **mapping_api.HANDLERS, **function_url_api.HANDLERS,
            **code_signing_api.HANDLERS}
CODE_PATH = "/_lamina/code/{code_hex}.zip"


@dataclass(frozen=True)
class Api:
    control: ControlPlane
    max_timeout: int
    health: Callable[[], dict]
    authenticate: Authenticate
    invoker: Invoker | None = None
    logs: Logs | None = None
    usage: Usage | None = None
    stacks: Stacks | None = None
    rules: Rules | None = None
    iam: Iam | None = None
    sts: Sts | None = None
    # SigV4 verification of one request (None when auth is off), for AWS_IAM function URLs.
    verify: Callable[[RequestView, bytes], object] | None = None
    authorize: authorization.Authorize = authorization.allow_all  # may the caller make the call?
    url_serving: url_lane.UrlServing | None = None  # function URLs (with an invoker)
    test_events: TestEvents | None = None
    profiler: Profiler | None = None
    s3_permit: s3_events.Permit = s3_events.allow_all  # may this S3 notification invoke? (lamina.api.s3_events)
    extra_routes: Sequence[BaseRoute] = ()  # e.g. the console (lamina.console), behind the same pipeline
    # A check before the body is read (with auth: unsigned requests are refused unread).
    before_body: Callable[[RequestView], None] | None = None


def _literal_query(uri: str) -> tuple[str, dict[str, str]]:
    path, _, query = uri.partition("?")
    literals = dict(part.split("=", 1) if "=" in part else (part, "") for part in query.split("&") if part)
    return re.sub(r"\{(\w+)\+\}", r"{\1:path}", path), literals


def _operation_endpoint(api: Api, candidates: list[tuple[str, dict[str, str]]]) -> Callable[..., Awaitable]:
    candidates = sorted(candidates, key=lambda c: -len(c[1]))

    def matches(query, literals: dict[str, str]) -> bool:
        return all(query.get(k) == v or (v == "" and k in query) for k, v in literals.items())

    async def endpoint(request: Request) -> responses.RawResponse:
        operation = next((op for op, literals in candidates if matches(request.query_params, literals)), None)
        if operation is None:
            raise UnknownOperationException("Unknown operation")
        try:
            body = await request.body()
            params = wire_request.parse(operation, request.path_params, request.query_params.multi_items(),
                                        request.headers, body)
            validation.validate(operation, params, max_timeout=api.max_timeout)
            call = Call(operation, params, caller_of(request.scope))
            authorization.require(api.authorize, call.caller, "lambda", operation, params)
            status, payload = await run_in_threadpool(HANDLERS[operation], api.control, call)
        except LambdaError as error:
            return responses.rest_json_error(error)
        return responses.json_ok(status, payload)

    return endpoint


def _names_action(query: bytes, body: bytes) -> bool:
    """Whether a request to `/` names a query-protocol Action (in its query string or form body)."""
    return any(data.startswith(b"Action=") or b"&Action=" in data for data in (query, body))


# Collection paths older service models (and so older SDKs and CLIs, e.g. Debian's aws CLI 2.9) send with
# a trailing slash, which AWS serves too; any other trailing slash is an unknown operation.
LEGACY_TRAILING_SLASH = frozenset({
    ("GET", "/2015-03-31/functions"), ("GET", "/2015-03-31/event-source-mappings"),
    ("POST", "/2015-03-31/event-source-mappings"), ("GET", "/2016-08-19/account-settings"),
    ("GET", "/2020-04-22/code-signing-configs"), ("POST", "/2020-04-22/code-signing-configs"),
})


def build_routes(api: Api) -> list[Route]:
    grouped: dict[tuple[str, str], list[tuple[str, dict[str, str]]]] = {}
    for operation in HANDLERS:
        http = wire_request.operation_model(operation).http
        path, literals = _literal_query(http["requestUri"])
        grouped.setdefault((path, http["method"]), []).append((operation, literals))
        if (http["method"], path) in LEGACY_TRAILING_SLASH:
            grouped.setdefault((path + "/", http["method"]), []).append((operation, literals))
    routes = []
    for (path, method), candidates in grouped.items():
        routes.append(Route(path, _operation_endpoint(api, candidates), methods=[method]))
    return routes


def _by_target(endpoints: dict[str, Callable[[Request], Awaitable[responses.RawResponse]]]):
    """`POST /` for the JSON 1.1 protocols: the endpoint named by X-Amz-Target's prefix."""

    async def endpoint(request: Request) -> responses.RawResponse:
        prefix, _, operation = request.headers.get("x-amz-target", "").partition(".")
        chosen = endpoints.get(prefix)
        if chosen is None:
            return responses.json11_error(
                "UnknownOperationException",
                f"lamina does not implement the operation {operation or 'named by X-Amz-Target'}.")
        return await chosen(request)

    return endpoint


def create_app(api: Api):
    async def health(_: Request) -> responses.RawResponse:
        return responses.json_ok(200, await run_in_threadpool(api.health))

    async def code(request: Request):
        code_hex = request.path_params["code_hex"]
        if not re.fullmatch(r"[0-9a-f]{64}", code_hex):
            return responses.rest_json_error(UnknownOperationException("Unknown operation"))
        try:
            data = await run_in_threadpool(api.control.functions.code, code_hex)
        except LambdaError as error:
            return responses.rest_json_error(error)
        return Response(data, media_type="application/zip")

    async def not_found(request: Request, _: Exception) -> responses.RawResponse:
        # Unknown paths (404) and known paths with another method (405) are both unknown operations.
        return responses.rest_json_error(
            UnknownOperationException(f"Unknown operation: {request.method} {request.url.path}"))

    async def lambda_error(_: Request, exc: Exception) -> responses.RawResponse:
        assert isinstance(exc, LambdaError)
        return responses.rest_json_error(exc)

    async def server_error(request: Request, exc: Exception) -> responses.RawResponse:
        log.exception("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return responses.internal_error()

    routes = [Route("/health", health, methods=["GET"]), Route(CODE_PATH, code, methods=["GET"])]
    # `POST /` is shared: the JSON 1.1 protocols (CloudWatch Logs, EventBridge), told apart by
    # X-Amz-Target's prefix, and the query protocol (IAM, STS), told apart by Action and Version.
    json11 = {}
    if api.logs is not None:  # CloudWatch Logs
        json11[logs_api.TARGET_PREFIX] = logs_api.logs_endpoint(api.logs, api.authorize)
    if api.rules is not None:  # EventBridge
        json11[events_api.TARGET_PREFIX] = events_api.events_endpoint(api.rules, api.authorize)
    by_target = _by_target(json11)
    queries = iam_api.query_endpoint(api.iam, api.sts, api.authorize) \
        if api.iam is not None and api.sts is not None else None

    async def root(request: Request):
        if "x-amz-target" in request.headers:
            if request.method == "POST":
                return await by_target(request)
        elif queries is not None and _names_action(request.scope["query_string"], await request.body()):
            return await queries(request)
        return responses.rest_json_error(UnknownOperationException(f"Unknown operation: {request.method} /"))

    routes.append(Route("/", root, methods=["GET", "POST"]))
    if api.usage is not None:  # /metrics, /system/metrics, /system/cost
        routes += system_routes(api.usage, api.authorize)
    if api.stacks is not None:  # /_lamina/stacks: lamina deploy's stack state
        routes += stack_routes(api.stacks, api.authorize)
    if api.invoker is not None:  # S3 event notifications from an S3-compatible store's webhook
        routes += s3_event_routes(api.invoker, api.s3_permit)
    if getattr(api.control, "signing_profiles", None) is not None:  # AWS Signer's signing-profile paths and lamina's signing call
        routes += signer_routes(api.control.signing_profiles, api.authorize)
    if api.test_events is not None:  # /_lamina/test-events (the console's saved test events)
        routes += test_event_routes(api.test_events, api.authorize)
    if api.profiler is not None:  # /_lamina/profiles (the console's Profile tab)
        routes += profile_routes(api.profiler, api.authorize)
    routes += build_routes(api)
    routes += list(api.extra_routes)
    app = Starlette(routes=routes, exception_handlers={
        HTTPException: not_found, LambdaError: lambda_error, Exception: server_error,
    })
    # A trailing slash or an empty path parameter is an unknown operation, as on AWS, not a 307.
    app.router.redirect_slashes = False
    dispatch = app
    direct = None
    if api.invoker is not None:
        dispatch = invoke_stream.lane(api.invoker, invoke_api.fast_lane(api.invoker, app, api.authorize))
        if api.url_serving is not None:  # first: any path on a URL's host belongs to the URL
            dispatch = url_lane.lane(api.url_serving, api.invoker, dispatch)
        direct = invoke_api.Direct(api.invoker, api.authorize)  # Invoke, as fast_lane answers it
    return pipeline(api.authenticate, dispatch, api.before_body, direct)
