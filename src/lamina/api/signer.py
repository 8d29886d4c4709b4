"""The signing-profile API: a subset of AWS Signer on lamina's port, and lamina's signing call.

AWS Signer's own REST paths (botocore's `signer` model: `PUT|GET|DELETE /signing-profiles/{name}`,
`GET /signing-profiles`, `PUT /signing-profiles/{name}/revoke`) do not collide with Lambda's
(every Lambda path starts with a dated prefix), so `aws signer put-signing-profile
--endpoint-url ...` and boto3's `signer` client work unchanged. Signing itself cannot use
Signer's StartSigningJob (it signs an S3 object in AWS's format), so `lamina sign` calls
`POST /_lamina/signer/sign` with `{"profileName", "digest", "validitySeconds"?}` and embeds the
signature document it gets back. Inputs are checked against the `signer` model; errors use
Signer's codes. Each call asks the authorize step as `signer:<Operation>` on the profile's ARN
(the signing call as `signer:StartSigningJob`), so with `--auth sigv4` only a caller allowed to
use a profile can sign with it. Imports lamina.api (authorization, json_body, pipeline, responses,
validation), lamina.control and lamina.errors only.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

import botocore.session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from lamina.api import authorization, json_body, responses, validation
from lamina.api.pipeline import caller_of
from lamina.control.signing_profiles import SigningProfiles
from lamina.errors import LambdaError, SignerValidationException

SIGN_PATH = "/_lamina/signer/sign"


@functools.cache
def service_model():
    return botocore.session.get_session().get_service_model("signer")


def _check(operation: str | None, params: dict) -> None:
    if operation is None:
        return
    shape = service_model().operation_model(operation).input_shape
    failures = validation.shape_failures(shape, params) if shape is not None else []
    if failures:
        raise SignerValidationException(validation.message(failures))


async def _body(request: Request) -> dict:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        params = json_body.decode(raw)
    except json_body.Malformed:
        params = None
    if not isinstance(params, dict):
        raise SignerValidationException("The request body is not a JSON object.")
    return params


def _endpoint(operation: str | None, act: Callable[[Request, dict], object], authorize: authorization.Authorize,
              action: str | None = None) -> Callable[[Request], Awaitable[responses.RawResponse]]:
    async def endpoint(request: Request) -> responses.RawResponse:
        try:
            params = {**(await _body(request) if request.method in ("PUT", "POST") else {}),
                      **request.path_params}
            if request.method == "GET":
                params.update(_query(request))
            _check(operation, params)
            authorization.require(authorize, caller_of(request.scope), "signer", action or operation or "", params)
            result = await run_in_threadpool(act, request, params)
        except LambdaError as error:
            return responses.rest_json_error(error)
        return responses.json_ok(200, result if result is not None else {})

    return endpoint


def _query(request: Request) -> dict:
    out: dict = {}
    if "statuses" in request.query_params:
        out["statuses"] = request.query_params.getlist("statuses")
    if "includeCanceled" in request.query_params:
        out["includeCanceled"] = request.query_params["includeCanceled"].lower() == "true"
    return out


def signer_routes(profiles: SigningProfiles,
                  authorize: authorization.Authorize = authorization.allow_all) -> list[Route]:
    def sign(_: Request, params: dict) -> dict:
        name, digest, validity = params.get("profileName"), params.get("digest"), params.get("validitySeconds")
        if not isinstance(name, str) or not isinstance(digest, str):
            raise SignerValidationException("profileName and digest are required strings.")
        if validity is not None and not isinstance(validity, int):
            raise SignerValidationException("validitySeconds must be an integer.")
        return profiles.sign(name, digest, validity)

    return [
        Route("/signing-profiles", _endpoint("ListSigningProfiles", lambda r, p: profiles.list(p), authorize),
              methods=["GET"]),
        Route("/signing-profiles/{profileName}",
              _endpoint("PutSigningProfile", lambda r, p: profiles.put(p.pop("profileName"), p), authorize),
              methods=["PUT"]),
        Route("/signing-profiles/{profileName}",
              _endpoint("GetSigningProfile", lambda r, p: profiles.get(p["profileName"]), authorize), methods=["GET"]),
        Route("/signing-profiles/{profileName}",
              _endpoint("CancelSigningProfile", lambda r, p: profiles.cancel(p["profileName"]), authorize),
              methods=["DELETE"]),
        Route("/signing-profiles/{profileName}/revoke",
              _endpoint("RevokeSigningProfile", lambda r, p: profiles.revoke(p.pop("profileName"), p), authorize),
              methods=["PUT"]),
        Route(SIGN_PATH, _endpoint(None, sign, authorize, action="StartSigningJob"), methods=["POST"]),
    ]
