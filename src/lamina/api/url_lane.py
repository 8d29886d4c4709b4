"""Serving function URLs: requests to `<url-id>.lambda-url.<region>.<host>` (by Host header) or to
`/lambda-url/<url-id>/...` (by path) become invocations of the URL's function and qualifier.

Runs behind lamina.api.pipeline (the body was read within its cap, the caller resolved), in front
of every other route. Per request: the URL's config (from memory), its authorisation through
the one `authorize` function it is handed (lamina.api.url_auth), a CORS preflight answered here, the payload 2.0 event
(lamina.api.url_event), the invocation, then the answer: BUFFERED mapped by lamina.api.url_response,
RESPONSE_STREAM relayed chunk by chunk (chunked transfer encoding) as the function produces it.
Errors are the URL's own (403 Forbidden, 413, 429, 502 Internal Server Error; reference 2.5).
Imports lamina.invoke, lamina.errors, lamina.model, lamina.url_hosts, lamina.control.function_urls
(the FunctionUrls type) and lamina.api modules.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, replace

from lamina import url_hosts
from lamina.api import cors, responses, url_event, url_response
from lamina.api.body import BODY
from lamina.api.pipeline import CALLER, VIEW
from lamina.api.stream_relay import ChunkQueue, Item, relay
from lamina.api.url_auth import Forbidden, UrlAuthorizer
from lamina.control.function_urls import FunctionUrls
from lamina.errors import (
    LambdaError,
    ResourceNotFoundException,
    TooManyRequestsException,
)
from lamina.invoke import SYNC_PAYLOAD_LIMIT, Invocation, Invoker, new_request_id
from lamina.model import LATEST, FunctionUrlConfig

log = logging.getLogger("lamina.api")

FORBIDDEN = ("Forbidden. For troubleshooting Function URL authorization issues, see: "
             "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html")
TOO_LARGE = f"Request must be smaller than {SYNC_PAYLOAD_LIMIT} bytes for the InvokeFunction operation"
_HOST_MARK = b".lambda-url."


@dataclass(frozen=True)
class UrlServing:
    """What the lane needs: the configs, the URL check (AWS_IAM and, with auth on, NONE), and where the URLs live."""

    urls: FunctionUrls
    authorize: UrlAuthorizer
    region: str
    base_url: str
    port: int


def forbidden(request_id: str | None = None) -> responses.RawResponse:
    return responses.function_url_error(403, "AccessDeniedException", FORBIDDEN, request_id)


def too_large(request_id: str | None = None) -> responses.RawResponse:
    return responses.function_url_error(413, "RequestEntityTooLargeException", TOO_LARGE, request_id)


def throttled(request_id: str | None = None) -> responses.RawResponse:
    return responses.function_url_error(429, "TooManyRequestsException", "Rate Exceeded.", request_id)


def bad_gateway(request_id: str) -> responses.RawResponse:
    status, headers, body = url_response.BAD_GATEWAY
    return responses.RawResponse(status, [*headers, (b"x-amzn-requestid", request_id.encode())], body)


def target(scope: dict) -> tuple[str, bytes] | None:
    """(URL id, the raw path the function sees) of a function URL request, else None."""
    host = scope[VIEW].headers.get(b"host")
    if host is not None and _HOST_MARK in host:
        url_id = url_hosts.from_host(host)
        if url_id is not None:
            return url_id, scope.get("raw_path") or scope["path"].encode()
    path = scope["path"]
    if path.startswith(url_hosts.PATH_PREFIX):
        found = url_hosts.from_path(path)
        if found is None:
            return None
        raw = scope.get("raw_path") or path.encode()
        rest = raw[len(url_hosts.PATH_PREFIX) + 32:]
        return found[0], rest or b"/"
    return None


def lane(serving: UrlServing, invoker: Invoker, app):
    """An ASGI app serving function URL requests and passing every other request to `app`."""

    domains: dict[str, str] = {}

    def domain_of(url_id: str) -> str:
        domain = domains.get(url_id)
        if domain is None:
            if len(domains) > 4096:
                domains.clear()
            domain = domains[url_id] = url_hosts.domain_name(serving.base_url, url_id, serving.region)
        return domain

    async def config_of(url_id: str) -> FunctionUrlConfig | None:
        config = serving.urls.cached(url_id)
        if config is None:
            config = await asyncio.to_thread(serving.urls.by_id, url_id)
        return config

    async def lamina(scope, receive, send) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        found = target(scope)
        if found is None:
            return await app(scope, receive, send)
        url_id, raw_path = found
        view = scope[VIEW]
        config = await config_of(url_id)
        if config is None:
            return await forbidden().send(send)
        caller = scope[CALLER]
        try:  # AWS_IAM: signature and permission; NONE: the public grant (with auth on)
            authorizer = serving.authorize(view, scope[BODY], caller, config)
        except Forbidden:
            return await forbidden().send(send)
        if cors.is_preflight(config.cors, view.method, view.headers):
            return await responses.RawResponse(200, cors.preflight(config.cors, view.headers)).send(send)
        request_id = new_request_id()
        epoch_ms = int(time.time() * 1000)
        trace_root = f"Root=1-{epoch_ms // 1000:08x}-{random.getrandbits(96):024x}"
        event = url_event.build(
            method=view.method, raw_path=raw_path.decode("utf-8", "replace"),
            raw_query=view.query.decode("utf-8", "replace"),
            headers=scope["headers"], body=scope[BODY], url_id=url_id,
            domain_name=domain_of(url_id),
            source_ip=view.source_ip or "127.0.0.1", request_id=request_id, epoch_ms=epoch_ms,
            trace_id=trace_root, port=serving.port,
            authorizer=authorizer, account_id=authorizer["accountId"] if authorizer else "anonymous")
        payload = url_event.encode(event)
        if len(payload) > SYNC_PAYLOAD_LIMIT:
            return await too_large(request_id).send(send)
        call = Invocation(function_name=config.function_name,
                          qualifier=None if config.qualifier == LATEST else config.qualifier,
                          payload=payload, caller=caller, request_id=request_id,
                          trace_id=f"{trace_root};Parent={random.getrandbits(64):016x};Sampled=0")
        if config.streaming:
            return await _streamed(invoker, call, config, view.headers, receive, send)
        try:
            outcome = await invoker.invoke(call)
        except LambdaError as error:
            return await _refused(error, request_id).send(send)
        except Exception:
            log.exception("internal error while serving function URL %s", url_id)
            return await bad_gateway(request_id).send(send)
        result = outcome.result
        assert result is not None
        status, headers, body = url_response.buffered(result.payload, bool(result.function_error))
        headers = cors.apply(config.cors, view.headers, headers)
        headers.append((b"x-amzn-requestid", request_id.encode()))
        await responses.RawResponse(status, headers, body).send(send)

    return lamina


def _refused(error: LambdaError, request_id: str) -> responses.RawResponse:
    """An invocation refused before it ran, as a URL answers it."""
    if isinstance(error, TooManyRequestsException):
        return throttled(request_id)
    if isinstance(error, ResourceNotFoundException):  # the alias the URL points at is gone
        return forbidden(request_id)
    return bad_gateway(request_id)


async def _streamed(invoker: Invoker, call: Invocation, config: FunctionUrlConfig, request_headers, receive,
                    send) -> None:
    """A RESPONSE_STREAM URL: the HTTP response starts with the stream (after the prelude, when the
    function sends one) and each piece goes out as it arrives, chunked."""
    request_id = call.request_id or ""
    queue = ChunkQueue()
    state: dict = {"started": False, "prelude": None}

    async def start(status: int, headers: list[tuple[bytes, bytes]]) -> None:
        state["started"] = True
        headers = cors.apply(config.cors, request_headers, headers)
        headers.append((b"x-amzn-requestid", request_id.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})

    async def body(data: bytes) -> None:
        if data:
            await send({"type": "http.response.body", "body": data, "more_body": True})

    async def take(item: Item) -> None:
        if isinstance(item, tuple):
            if item[0] == url_response.INTEGRATION_RESPONSE:
                state["prelude"] = url_response.Prelude()
            else:
                await start(200, [(b"content-type", item[0].encode("latin-1", "replace"))])
            return
        prelude = state["prelude"]
        if prelude is not None and not state["started"]:
            try:
                ready = prelude.feed(item)
            except ValueError:
                raise _Malformed from None
            if ready is not None:
                status, headers, rest = ready
                await start(status, headers)
                await body(rest)
            return
        await body(item)

    try:
        outcome = await relay(invoker.invoke(replace(call, stream=queue)), queue, receive, take)
    except _Malformed:
        queue.abort()
        outcome = None
        if not state["started"]:
            return await bad_gateway(request_id).send(send)
    except LambdaError as error:
        if not state["started"]:
            return await _refused(error, request_id).send(send)
        outcome = None
    except Exception:
        log.exception("internal error while streaming function URL %s", config.url_id)
        if not state["started"]:
            return await bad_gateway(request_id).send(send)
        outcome = None
    if outcome is not None and not state["started"]:
        result = outcome.result
        assert result is not None
        if result.function_error or state["prelude"] is not None:
            return await bad_gateway(request_id).send(send)
        await start(200, [(b"content-type", result.content_type.encode("latin-1", "replace"))])
        await body(result.payload)
    if state["started"]:
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class _Malformed(Exception):
    """The stream's integration-response prelude cannot be read."""
