"""Turning an HTTP request into an operation's input members, as botocore's model lays them out.

For each member of the operation's input shape the model says where it travels (URI path,
query string, header or JSON body) and under which name; this module reads it from there and
converts query/header strings to the member's type; JSON bodies go through lamina.api.json_body.
Imports lamina.errors and lamina.api.json_body only.
"""

from __future__ import annotations

import functools

import botocore.session
from botocore.model import OperationModel

from lamina.api import json_body
from lamina.errors import InvalidRequestContentException, ValidationException


@functools.cache
def service_model():
    return botocore.session.get_session().get_service_model("lambda")


@functools.cache
def operation_model(name: str) -> OperationModel:
    return service_model().operation_model(name)


def _convert(value: str, shape, location: str):
    kind = shape.type_name
    if kind in ("integer", "long"):
        try:
            return int(value)
        except ValueError:
            raise ValidationException(
                f"1 validation error detected: Value '{value}' at '{location}' failed to satisfy constraint: "
                "Member must be a number"
            ) from None
    if kind == "boolean":
        return value.lower() == "true"
    return value


def parse(operation: str, path_params: dict[str, str], query: list[tuple[str, str]],
          headers, body: bytes) -> dict:
    """The operation's input members by model name, from the request's parts."""
    model = operation_model(operation)
    params: dict = {}
    shape = model.input_shape
    if shape is None:
        return params
    payload_member = shape.serialization.get("payload")
    json_body: dict | None = None
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri":
            if wire_name in path_params:
                params[name] = _convert(path_params[wire_name], member, wire_name)
        elif location == "querystring":
            values = [v for k, v in query if k == wire_name]
            if not values:
                continue
            if member.type_name == "list":
                params[name] = [_convert(v, member.member, wire_name) for v in values]
            else:
                params[name] = _convert(values[0], member, wire_name)
        elif location == "header":
            value = headers.get(wire_name)
            if value is not None:
                params[name] = _convert(value, member, wire_name)
        elif name == payload_member:
            params[name] = body
        else:
            if json_body is None:
                json_body = _json_body(body)
            if name in json_body:
                params[name] = json_body[name]
    return params


def _json_body(body: bytes) -> dict:
    if not body or not body.strip():
        return {}
    try:
        value = json_body.decode(body)
    except json_body.Malformed as exc:
        raise InvalidRequestContentException(f"Could not parse request body into json: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidRequestContentException("Could not parse request body into json: expected a JSON object")
    return value
