"""The query protocol of IAM and STS (reference 4.1–4.3), driven by botocore's `iam` and `sts` models:
a form body (`Action=…&Version=…&Name.member.N=…&Struct.Field=…`) decoded into the members of the
operation's input shape, and XML answers written from its output shape (`<OpResponse xmlns=…>
<OpResult>…</OpResult><ResponseMetadata>…`), lists as `<member>`, timestamps ISO 8601, policy
documents URL-encoded as botocore expects; errors as `<ErrorResponse>`.
Imports lamina.errors and lamina.api (responses, validation) only.
"""

from __future__ import annotations

import datetime
import functools
import uuid
from urllib.parse import quote
from xml.sax.saxutils import escape

import botocore.session
from botocore.model import OperationModel, Shape

from lamina.api import responses, validation
from lamina.errors import AuthenticationError, IamError, LambdaError

VERSIONS = {"2010-05-08": "iam", "2011-06-15": "sts"}
XML = b"text/xml"
POLICY_DOCUMENT = "policyDocumentType"


@functools.cache
def model(service: str):
    return botocore.session.get_session().get_service_model(service)


def namespace(service: str) -> str:
    return model(service).metadata["xmlNamespace"]


def operation(service: str, action: str) -> OperationModel | None:
    if action not in model(service).operation_names:
        return None
    return model(service).operation_model(action)


# -- requests ------------------------------------------------------------------------------------

def _invalid(value: str, path: str, kind: str) -> IamError:
    return IamError("ValidationError", validation.message(
        [f"Value '{value}' at '{path}' failed to satisfy constraint: Member must be {kind}"]))


def _scalar(shape: Shape, text: str, path: str):
    kind = shape.type_name
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            raise _invalid(text, path, "a number") from None
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise _invalid(text, path, "a boolean")
        return text.lower() == "true"
    return text


def _has(flat: dict[str, str], key: str) -> bool:
    return key in flat or any(k.startswith(key + ".") for k in flat)


def _decode(shape: Shape, flat: dict[str, str], key: str):
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for name, member in shape.members.items():
            sub = f"{key}.{name}" if key else name
            if _has(flat, sub):
                out[name] = _decode(member, flat, sub)
        return out
    if kind == "list":
        items, n = [], 1
        while _has(flat, f"{key}.member.{n}"):
            items.append(_decode(shape.member, flat, f"{key}.member.{n}"))
            n += 1
        return items
    if kind == "map":
        entries, n = {}, 1
        while _has(flat, f"{key}.entry.{n}"):
            entries[flat.get(f"{key}.entry.{n}.key", "")] = _decode(shape.value, flat, f"{key}.entry.{n}.value")
            n += 1
        return entries
    return _scalar(shape, flat.get(key, ""), key[:1].lower() + key[1:])


def decode(op: OperationModel, pairs: list[tuple[str, str]]) -> dict:
    """The input members of `op` from the form pairs, checked against the model (ValidationError)."""
    shape = op.input_shape
    if shape is None:
        return {}
    flat = {name: value for name, value in pairs if name not in ("Action", "Version")}
    params = _decode(shape, flat, "")
    failures = validation.shape_failures(shape, params)
    if failures:
        raise IamError("ValidationError", validation.message(failures))
    return params


# -- responses -----------------------------------------------------------------------------------

def _text(shape: Shape, value) -> str:
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, bool):
        return "true" if value else "false"
    if shape.name == POLICY_DOCUMENT:
        return quote(str(value), safe="")
    return escape(str(value))


def _element(name: str, shape: Shape, value) -> str:
    kind = shape.type_name
    if kind == "structure":
        inner = "".join(_element(member, shape.members[member], value[member])
                        for member in shape.members if value.get(member) is not None)
    elif kind == "list":
        inner = "".join(_element("member", shape.member, item) for item in value)
    elif kind == "map":
        inner = "".join(f"<entry>{_element('key', shape.key, k)}{_element('value', shape.value, v)}</entry>"
                        for k, v in value.items())
    else:
        inner = _text(shape, value)
    return f"<{name}>{inner}</{name}>"


def ok(service: str, op: OperationModel, result: dict, request_id: str | None = None) -> responses.RawResponse:
    request_id = request_id or str(uuid.uuid4())
    name = op.name
    body = f'<{name}Response xmlns="{namespace(service)}">'
    if op.output_shape is not None:
        wrapper = op.output_shape.serialization.get("resultWrapper", f"{name}Result")
        body += _element(wrapper, op.output_shape, result)
    body += f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{name}Response>"
    return responses.RawResponse(200, [(b"x-amzn-requestid", request_id.encode()), (b"content-type", XML)],
                                 body.encode())


def error(service: str, failure: LambdaError, request_id: str | None = None) -> responses.RawResponse:
    """An IAM/STS error: `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>`."""
    request_id = request_id or str(uuid.uuid4())
    if isinstance(failure, AuthenticationError):
        code, kind = failure.query_code, "Sender"
    elif isinstance(failure, IamError):
        code, kind = failure.code, failure.error_type
    else:
        code, kind = failure.code, "Sender" if failure.status < 500 else "Receiver"
    body = (f'<ErrorResponse xmlns="{namespace(service)}"><Error><Type>{kind}</Type><Code>{escape(code)}</Code>'
            f"<Message>{escape(failure.message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    return responses.RawResponse(failure.status, [(b"x-amzn-requestid", request_id.encode()), (b"content-type", XML)],
                                 body.encode())
