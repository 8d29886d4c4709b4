"""The managed Python runtime's entry point, run inside the sandbox as
`<interpreter> -s -u bootstrap.py` with the deployment package as the working directory.

It behaves as the AWS Python runtime (awslambdaric) does: resolve and import the handler once
(init), then for each INVOKE frame build the context, decode the event, call the handler,
encode the result, report errors with AWS's payloads and log lines. It talks to the engine
over the inherited socket named by _LAMINA_RUNTIME_FD instead of the Runtime API over HTTP
(AWS_LAMBDA_RUNTIME_API still names a listener that answers: `_lamina_listener`).
Imports nothing from lamina (the function's interpreter may not have it): only the standard
library and its sibling `_lamina_*` modules.
"""

import importlib
import logging
import os
import resource
import sys
import time
import traceback

import _lamina_channel as channel  # siblings, found while this directory is still sys.path[0]
import _lamina_context as context
import _lamina_listener as listener
import _lamina_logging as log_format
import _lamina_marshal as marshal

_HERE = os.path.dirname(os.path.realpath(__file__))

FaultException = marshal.FaultException

UNHANDLED_WARNING = (
    "LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function code. However, "
    "in rare cases, a Lambda runtime update can cause unexpected function behavior. For functions using "
    "managed runtimes, runtime updates can be triggered by a function change, or can be applied "
    "automatically. To determine if the runtime has been updated, check the runtime version in the "
    "INIT_START log entry. If this error correlates with a change in the runtime version, you may be able to "
    "mitigate this error by temporarily rolling back to the previous runtime version. For more information, "
    "see https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html"
)

_GLOBAL_AWS_REQUEST_ID = None
_GLOBAL_TENANT_ID = None
_JSON_LOGS = log_format.is_json(os.environ.get("AWS_LAMBDA_LOG_FORMAT"))
_LOG_LEVEL = log_format.level_from_env(os.environ.get("AWS_LAMBDA_LOG_LEVEL"))


def _get_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultException(FaultException.MALFORMED_HANDLER_NAME, f"Bad handler '{handler}': {e}") from None
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise FaultException(FaultException.BUILT_IN_MODULE_CONFLICT,
                                 f"Cannot use built-in module {modname} as a handler module")
        m = importlib.import_module(modname.replace("/", "."))
    except (ImportError, TypeError, ValueError) as e:  # '../../x' is a relative name: TypeError, not ImportError
        raise FaultException(FaultException.IMPORT_MODULE_ERROR,
                             f"Unable to import module '{modname}': {e}") from None
    except SyntaxError as e:
        trace = [f'  File "{e.filename}" Line {e.lineno}\n    {e.text}']
        raise FaultException(FaultException.USER_CODE_SYNTAX_ERROR,
                             f"Syntax error in module '{modname}': {e}", trace) from None
    try:
        return getattr(m, fname)
    except (AttributeError, TypeError, ValueError):
        raise FaultException(FaultException.HANDLER_NOT_FOUND,
                             f"Handler '{fname}' missing on module '{modname}'", None) from None


def _user_frames(tb):
    """The traceback's frames without the runtime's own leading ones."""
    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    for i in range(len(frames)):
        if "/bootstrap.py" not in frames[i][0]:
            return frames[i:]
    return frames


def build_fault_result(exc_info, msg):
    etype, value, tb = exc_info
    return marshal.make_error(msg if msg else str(value), etype.__name__,
                              traceback.format_list(_user_frames(tb)))


def log_error(error_result, log_sink):
    if _JSON_LOGS:
        log_sink.log_error([marshal.to_json(log_format.json_error_record(error_result))])
    else:
        log_sink.log_error(marshal.error_log_lines(error_result))


def _peak_rss_kb():
    """Peak RSS (KiB) of this process and of the children it has reaped."""
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


# ru_maxrss is the process's peak either way (the kernel takes the larger of the signal struct's
# and the shared mm's high-water mark for both); RUSAGE_SELF also sums the CPU time of every
# thread, locking each one's run queue (~0.4 us of each invoke's ~1 us call)
_RUSAGE_PEAK = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)


def _result_header(content_type):
    rss = resource.getrusage(_RUSAGE_PEAK).ru_maxrss
    if content_type == "application/json":
        return b'{"rss":%d}' % rss
    return {"ct": content_type, "rss": rss}


def _parse_json_header(header, name):
    try:
        return marshal.json.loads(header)
    except Exception as e:
        raise FaultException(FaultException.LAMBDA_CONTEXT_UNMARSHAL_ERROR,
                             f"Unable to parse {name} JSON: {e}", None) from None


def create_lambda_context(client_context_json, cognito_identity_json, deadline_ms, invoke_id,
                          invoked_function_arn, tenant_id):
    client_context = None
    if client_context_json:
        client_context = _parse_json_header(client_context_json, "Client Context")
    cognito_identity = None
    if cognito_identity_json:
        cognito_identity = _parse_json_header(cognito_identity_json, "Cognito Identity")
    return context.LambdaContext(invoke_id, client_context, cognito_identity, deadline_ms,
                                 invoked_function_arn, tenant_id)


def handle_event_request(link, request_handler, invoke_id, event_body, header, log_sink):
    error_result = None
    try:
        lambda_context = create_lambda_context(header.get("cc"), header.get("ci"), header["deadline"], invoke_id,
                                               header.get("arn"), header.get("tenant"))
        event = marshal.unmarshal_request(event_body, header.get("ct", "application/json"))
        response = request_handler(event, lambda_context)
        result, content_type = marshal.marshal_response(response)
    except FaultException as e:
        error_result = marshal.make_error(e.msg, e.exception_type, e.trace, invoke_id)
    except Exception:
        etype, value, tb = sys.exc_info()
        error_result = marshal.make_error(str(value), etype.__name__,
                                          traceback.format_list(_user_frames(tb)), invoke_id)
    if error_result is not None:
        log_error(error_result, log_sink)
        link.send(channel.ERROR, {"type": error_result["errorType"], "rss": _peak_rss_kb()},
                  marshal.to_json_bytes(error_result))
    else:
        link.send(channel.RESULT, _result_header(content_type), result)


class LambdaLoggerHandler(logging.Handler):
    def __init__(self, log_sink):
        logging.Handler.__init__(self)
        self.log_sink = log_sink

    def emit(self, record):
        self.log_sink.log(self.format(record))


class LambdaLoggerFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _GLOBAL_AWS_REQUEST_ID or ""
        record.tenant_id = _GLOBAL_TENANT_ID
        return True


def _setup_logging(log_sink, json_logs=False, level=""):
    """awslambdaric's root handler; for LogFormat JSON the JsonFormatter, and the application log
    level both on the root logger (as awslambdaric) and on the handler (the platform's filter)."""
    logging.Formatter.converter = time.gmtime
    logger = logging.getLogger()
    handler = LambdaLoggerHandler(log_sink)
    if json_logs:
        handler.setFormatter(log_format.JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(log_format.TEXT_FORMAT, log_format.DATETIME_FORMAT))
    if level:
        logger.setLevel(level)
        if json_logs:
            handler.setLevel(level)
    handler.addFilter(LambdaLoggerFilter())
    logger.addHandler(handler)


def _setup_sys_path(task_root, opt_dirs):
    """AWS's order: /var/task, the layers' python dirs, then the runtime's packages (PYTHONPATH,
    /var/runtime) and the interpreter's own; not the script's directory (sys.path[0])."""
    if sys.path and os.path.realpath(sys.path[0] or ".") == _HERE:
        del sys.path[0]
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    front = [task_root]
    for root in opt_dirs:
        front += [os.path.join(root, "python"), os.path.join(root, "python", "lib", version, "site-packages")]
    sys.path[0:0] = [p for p in front if p not in sys.path]


class _TraceVariable:
    """_X_AMZN_TRACE_ID, set for each invoke as `os.environ[...] = trace_id` sets it (os.environ and
    the C environment both), but not through glibc's setenv: setenv copies each new value and keeps
    every copy for the life of the process (a search tree it never frees, so that what getenv
    returned stays valid), ~144 bytes and a lookup in an ever-growing tree per invoke with a new
    trace id, enough to end a 128 MB function after ~800,000 warm invokes. putenv takes an entry the
    caller owns instead: here a bytes object (NUL-terminated in CPython), kept until the next but
    one value replaced it, so a getenv result from the previous invoke stays valid as well. Only
    where ctypes is already in memory (the namespaces backend's zygote has it); elsewhere, and for
    a value putenv cannot take, os.environ's own path."""

    NAME = "_X_AMZN_TRACE_ID"

    def __init__(self):
        self._putenv = None
        self._held = [None, None]
        ctypes = sys.modules.get("ctypes")
        if ctypes is not None:
            try:
                putenv = ctypes.CDLL(None).putenv
                putenv.argtypes, putenv.restype = (ctypes.c_char_p,), ctypes.c_int
                self._key = os.environ.encodekey(self.NAME)
                self._mapping = type(os.environ)
                self._putenv = putenv
            except (OSError, AttributeError):
                pass
        self._encoding = sys.getfilesystemencoding()

    def set(self, value):
        environ = os.environ
        if self._putenv is not None and type(environ) is self._mapping and type(value) is str and "\0" not in value:
            raw = value.encode(self._encoding, "surrogateescape")  # as os.environ encodes it
            entry = self._key + b"=" + raw
            if self._putenv(entry) == 0:
                environ._data[self._key] = raw
                self._held = [self._held[1], entry]
                return
        environ[self.NAME] = value

    def clear(self):
        if self.NAME in os.environ:
            del os.environ[self.NAME]


def _update_xray_env_variable(trace_id):
    if trace_id is not None:
        _TRACE.set(trace_id)
    else:
        _TRACE.clear()


_TRACE = _TraceVariable()


def _wait_for_debugger(port: str) -> None:
    """`lamina dev --debug`: listen for a debugpy client on the loopback port and wait for it, before
    the handler is imported (so breakpoints in module code hit too)."""
    if not port:
        return
    runtime_dir = os.environ.get("LAMBDA_RUNTIME_DIR") or os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(runtime_dir, "_lamina_debug"))
    try:
        import debugpy

        debugpy.listen(("127.0.0.1", int(port)))
    except Exception as exc:  # noqa: BLE001 - a busy port: this environment runs without the debugger
        print(f"lamina: no debugger on port {port}: {exc}", file=sys.stderr)
        return
    finally:
        sys.path.pop(0)
    print(f"lamina: debugpy listens on 127.0.0.1:{port}; waiting for the debugger to attach", file=sys.stderr)
    debugpy.wait_for_client()


def main():
    global _GLOBAL_AWS_REQUEST_ID, _GLOBAL_TENANT_ID
    link = channel.Channel(int(os.environ.pop("_LAMINA_RUNTIME_FD")))
    opt_dirs = [d for d in os.environ.pop("_LAMINA_OPT_DIRS", "").split(":") if d]
    os.environ.pop("_LAMINA_ACCOUNT_ID", None)  # rapid's (the Extensions API's accountId), not the function's
    os.environ.pop("_LAMINA_INIT_PHASE", None)  # rapid's (its Telemetry API events' phase), not the function's
    os.environ.pop("_LAMINA_RUNTIME_VERSION", None)  # rapid's (its Telemetry API initStart), not the function's
    sys.stdout = channel.LogWriter(link, 1)
    sys.stderr = channel.LogWriter(link, 2)
    log_sink = channel.LogSink(link)
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    _setup_sys_path(task_root, opt_dirs)
    try:  # AWS sets it for every runtime; what reads it gets an answer there
        os.environ["AWS_LAMBDA_RUNTIME_API"] = listener.start()
    except OSError as exc:
        print(f"lamina: no Runtime API listener: {exc}", file=sys.stderr)
    _wait_for_debugger(os.environ.pop("_LAMINA_DEBUG_PORT", ""))
    try:
        _setup_logging(log_sink, _JSON_LOGS, _LOG_LEVEL)
        request_handler = _get_handler(os.environ.get("_HANDLER", ""))
    except Exception as e:
        if isinstance(e, FaultException):
            error_result = marshal.make_error(e.msg, e.exception_type, e.trace)
        else:
            error_result = build_fault_result(sys.exc_info(), None)
        logging.warning(UNHANDLED_WARNING)
        log_error(error_result, log_sink)
        link.send(channel.INIT_ERROR, {"type": error_result["errorType"], "rss": _peak_rss_kb()},
                  marshal.to_json_bytes(error_result))
        sys.exit(1)
    link.send(channel.READY, {"rss": _peak_rss_kb()})
    while True:
        frame = link.receive()
        if frame is None:
            return
        kind, header, payload = frame
        if kind != channel.INVOKE:
            continue
        _GLOBAL_AWS_REQUEST_ID = header["id"]
        _GLOBAL_TENANT_ID = header.get("tenant")
        _update_xray_env_variable(header.get("trace"))
        handle_event_request(link, request_handler, header["id"], payload, header, log_sink)


if __name__ == "__main__":
    main()
