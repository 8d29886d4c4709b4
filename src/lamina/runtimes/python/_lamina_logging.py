"""The runtime's log formats, as awslambdaric writes them: the Text record line, the JSON record
of LoggingConfig LogFormat JSON (timestamp, level, message, logger, requestId, exception fields,
`extra=` fields), the fields of the JSON uncaught-error record, and AWS_LAMBDA_LOG_LEVEL's mapping to a
`logging` level (TRACE is DEBUG).

Runs inside the sandbox; imports only the standard library.
"""

import json
import logging
import time
import traceback

TEXT_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

_RESERVED_FIELDS = frozenset({
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info", "exc_text",
    "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread", "threadName",
    "processName", "process", "aws_request_id", "tenant_id", "_frame_type", "taskName",
})

_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode


def is_json(log_format):
    """AWS_LAMBDA_LOG_FORMAT's value names the JSON format (any case)."""
    return bool(log_format) and log_format.upper() == "JSON"


def level_from_env(log_level):
    """AWS_LAMBDA_LOG_LEVEL → a `logging` level name, or "" when unset or unknown."""
    name = (log_level or "").upper()
    name = "DEBUG" if name == "TRACE" else name
    return name if name in logging._nameToLevel else ""


def _timestamp(created):
    millis = int(created * 1000) % 1000
    return time.strftime(DATETIME_FORMAT, time.gmtime(created)) + f".{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, keys in awslambdaric's order, None values left out."""

    def __init__(self):
        super().__init__(datefmt=DATETIME_FORMAT)

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's name
        return _timestamp(record.created)

    def format(self, record):
        record.levelno = min(50, max(0, record.levelno)) // 10 * 10
        record.levelname = logging.getLevelName(record.levelno)
        exc_info = record.exc_info
        result = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "stackTrace": traceback.format_tb(exc_info[2]) if exc_info else None,
            "errorType": exc_info[0].__name__ if exc_info else None,
            "errorMessage": str(exc_info[1]) if exc_info else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": f"{record.pathname}:{record.funcName}:{record.lineno}" if exc_info else None,
        }
        if getattr(record, "tenant_id", None) is not None:
            result["tenantId"] = record.tenant_id
        result.update((key, value) for key, value in record.__dict__.items()
                      if key not in _RESERVED_FIELDS and key not in result)
        return _encode({k: v for k, v in result.items() if v is not None}) + "\n"


def json_error_record(error_result, now=None):
    """The uncaught-error record: timestamp (seconds, no zone, as awslambdaric's), log_level, then the
    error body (errorMessage, errorType, requestId, stackTrace)."""
    stamp = time.strftime(DATETIME_FORMAT, time.gmtime(time.time() if now is None else now))
    return {"timestamp": stamp, "log_level": "ERROR", **error_result}
