"""The authorize step of dispatch, and AccessDenied in each protocol lamina speaks.

Every dispatched call (the Lambda routes, the Invoke fast lane, the Logs, IAM, STS and EventBridge
endpoints) asks `authorize(caller, service, operation, params)` before it runs; a `Denial` is
answered as AWS answers it:
- Lambda (rest-json): 403 `AccessDeniedException`, body `{"Type":"User","Message":...}`;
- JSON 1.1 (CloudWatch Logs, EventBridge): 400 `{"__type":"AccessDeniedException","message":...}`;
- query (IAM, STS): 403 `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>...`.
Imports lamina.authz (the Denial), lamina.identity, lamina.errors and lamina.api.responses only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from xml.sax.saxutils import escape

from lamina.api import responses
from lamina.authz.authorizer import Denial
from lamina.errors import AccessDeniedException
from lamina.identity import Caller

Authorize = Callable[[Caller, str, str, Mapping], Denial | None]
QUERY_NAMESPACES = {"iam": "https://iam.amazonaws.com/doc/2010-05-08/",
                    "sts": "https://sts.amazonaws.com/doc/2011-06-15/"}


def allow_all(caller: Caller, service: str, operation: str, params: Mapping) -> None:
    """The authorize step of an app built without an authorizer (unit tests of the HTTP layer)."""
    return None


def require(authorize: Authorize, caller: Caller, service: str, operation: str, params: Mapping) -> None:
    """Raise AccessDeniedException (rest-json) when the call is denied."""
    denial = authorize(caller, service, operation, params)
    if denial is not None:
        raise AccessDeniedException(denial.message)


def json11_denied(denial: Denial) -> responses.RawResponse:
    return responses.json11_error("AccessDeniedException", denial.message, 400)


def query_denied(denial: Denial, service: str) -> responses.RawResponse:
    namespace = QUERY_NAMESPACES.get(service, QUERY_NAMESPACES["iam"])
    request_id = str(uuid.uuid4())
    body = (f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type><Code>AccessDenied</Code>'
            f"<Message>{escape(denial.message)}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>")
    return responses.RawResponse(403, [(b"x-amzn-requestid", request_id.encode()), (b"content-type", b"text/xml")],
                                 body.encode())
