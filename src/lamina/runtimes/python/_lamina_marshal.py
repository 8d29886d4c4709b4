"""Marshalling and error reports of the Python runtime, as the AWS runtime does them: events are
JSON-decoded, results JSON-encoded (Decimal written as its exact digits, non-ASCII kept raw on
python3.12+, bytes passed through as application/unknown); error bodies are
{errorMessage, errorType, requestId, stackTrace}, and their log event is one line joined by \\r.

Runs inside the sandbox; imports only the standard library.
"""

import json
import os
import sys

from _lamina_channel import loads

ERROR_LOG_LINE_TERMINATE = "\r"
ERROR_LOG_IDENT = "\u00a0"  # NO-BREAK SPACE, replaces leading spaces of traceback lines

_RAW_MARK = "\x00lamina-raw-" + os.urandom(6).hex() + ":"
_RAW_QUOTED = json.dumps(_RAW_MARK)[1:-1]  # how the mark looks once JSON-encoded
_ENSURE_ASCII = sys.version_info < (3, 12)


class FaultException(Exception):
    MARSHAL_ERROR = "Runtime.MarshalError"
    UNMARSHAL_ERROR = "Runtime.UnmarshalError"
    USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
    HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
    IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
    BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
    MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
    LAMBDA_CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

    def __init__(self, exception_type, msg, trace=None):
        super().__init__(msg)
        self.msg = msg
        self.exception_type = exception_type
        self.trace = trace


_marked = [0]  # Decimals written so far, by any thread: an encode that sees the count move splices


class _Encoder(json.JSONEncoder):
    def default(self, o):
        decimal = sys.modules.get("decimal")
        if decimal is not None and isinstance(o, decimal.Decimal):
            _marked[0] += 1
            return _RAW_MARK + ("NaN" if o.is_nan() else str(o))
        return super().default(o)


# One encoder per ensure_ascii, made once: an encoder keeps no state between calls, and making one
# per result was half of the encode of a small result (~1 of ~2 us)
_ENCODE = {flag: _Encoder(ensure_ascii=flag).encode for flag in (False, True)}


def _encode(obj, ensure_ascii):
    marked = _marked[0]
    text = _ENCODE[ensure_ascii](obj)
    if _marked[0] != marked:  # splice the Decimals' digits in unquoted
        import re

        text = re.sub('"' + re.escape(_RAW_QUOTED) + '([^"]*)"', lambda m: m.group(1), text)
    return text


def to_json(obj):
    """JSON text as the AWS runtime writes it (simplejson's default separators)."""
    return _encode(obj, _ENSURE_ASCII)


def to_json_bytes(obj):
    text = to_json(obj)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates cannot be raw UTF-8: escape them instead
        return _encode(obj, True).encode("utf-8")


def unmarshal_request(body, content_type="application/json"):
    if content_type != "application/json":
        return body
    try:
        return loads(body)
    except Exception as e:
        raise FaultException(FaultException.UNMARSHAL_ERROR, f"Unable to unmarshal input: {e}", None) from None


def marshal_response(response):
    """(payload bytes, content type) of a handler's return value."""
    if isinstance(response, bytes):
        return response, "application/unknown"
    try:
        return to_json_bytes(response), "application/json"
    except Exception as e:
        raise FaultException(FaultException.MARSHAL_ERROR, f"Unable to marshal response: {e}", None) from None


def make_error(error_message, error_type, stack_trace, invoke_id=None):
    return {
        "errorMessage": error_message if error_message else "",
        "errorType": error_type if error_type else "",
        "requestId": invoke_id if invoke_id is not None else "",
        "stackTrace": stack_trace if stack_trace else [],
    }


def _indent(line):
    count = len(line) - len(line.lstrip(" "))
    return ERROR_LOG_IDENT * count + line[count:]


def error_log_lines(error_result):
    """The lines of the one log event that reports an error (joined by \\r by the sink)."""
    description = "[ERROR]"
    error_type = error_result.get("errorType")
    if error_type:
        description += " " + error_type
    message = error_result.get("errorMessage")
    if message:
        if error_type:
            description += ":"
        description += " " + message
    lines = [description]
    stack_trace = error_result.get("stackTrace")
    if stack_trace is not None:
        lines.append("Traceback (most recent call last):")
        for element in stack_trace:
            if element == "":
                lines.append("")
            else:
                lines.extend(_indent(line) for line in element.splitlines())
    return lines
