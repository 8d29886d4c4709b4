"""The pure part of the in-sandbox APIs: which endpoint a request names, the runtime's state
machine of the Runtime API, and the registry of extensions of the Extensions API, each answering
with AWS's status codes and error bodies (reference 5.1, 5.2). No threads, no sockets.

Runs inside the sandbox; imports only the standard library.
"""

import json
import re
import uuid

RUNTIME = "/2018-06-01"
EXTENSION = "/2020-01-01/extension"
ACCEPTED = (202, {"status": "OK"})

_ROUTES = {
    ("GET", RUNTIME + "/runtime/invocation/next"): "next",
    ("POST", RUNTIME + "/runtime/init/error"): "init_error",
    ("GET", RUNTIME + "/ping"): "ping",
    ("POST", EXTENSION + "/register"): "register",
    ("GET", EXTENSION + "/event/next"): "event_next",
    ("POST", EXTENSION + "/init/error"): "extension_init_error",
    ("POST", EXTENSION + "/exit/error"): "extension_exit_error",
    ("PUT", "/2022-07-01/telemetry"): "telemetry",
    ("PUT", "/2020-08-15/logs"): "logs",
}
_INVOCATION = re.compile(r"^/2018-06-01/runtime/invocation/([^/]+)/(response|error)$")
_ERROR_TYPE = re.compile(r"^(Runtime|Function)\.[A-Z][a-zA-Z]+$")
MAX_EXTENSIONS = 10
EVENT_TYPES = ("INVOKE", "SHUTDOWN")


def error(status, error_type, message):
    return status, {"errorMessage": message, "errorType": error_type}


def route(method, path):
    """(endpoint, request id or None); endpoint None when nothing is served there."""
    path = path.split("?", 1)[0]
    name = _ROUTES.get((method, path))
    if name:
        return name, None
    match = _INVOCATION.match(path)
    if match and method == "POST":
        return match.group(2), match.group(1)
    return None, None


def error_type(header, body):
    """The function error's type: the errorType of the JSON body the runtime posted (what the
    caller receives), else the Lambda-Runtime-Function-Error-Type header normalised as RIE does."""
    try:
        found = json.loads(body).get("errorType")
    except (ValueError, AttributeError, UnicodeDecodeError, TypeError):
        found = None
    if isinstance(found, str) and found:
        return found
    if header and _ERROR_TYPE.match(header):
        return header
    return "Function.Unknown" if header and header.startswith("Function.") else "Runtime.Unknown"


def _transition(current, target):
    return error(403, "InvalidStateTransition",
                 f"State transition from {current} to {target} failed for runtime. "
                 "Error: State transition is not allowed")


def invalid_request_id():
    return error(400, "InvalidRequestID", "Invalid request ID")


class RuntimeState:
    """The runtime's side: Init → (next) Ready ⇄ (event delivered) Running → (response|error)
    Responded → (next) Ready; Init → (init/error) InitError."""

    def __init__(self):
        self.state = "Init"
        self.request_id = None
        self.called_next = False

    def next(self):
        """None when the runtime may wait for an event now, else the error reply."""
        if self.state in ("Running", "InitError"):
            return _transition(self.state, "Ready")
        self.state = "Ready"
        self.called_next = True
        return None

    def deliver(self, request_id):
        self.state, self.request_id = "Running", request_id

    def answer(self, request_id):
        """A response or error for `request_id`: None when accepted, else the error reply."""
        if self.state in ("Init", "InitError"):
            return _transition(self.state, "Responded")
        if self.state != "Running" or request_id != self.request_id:
            return invalid_request_id()
        self.state = "Responded"
        return None

    def init_error(self):
        if self.state != "Init":
            return _transition(self.state, "InitError")
        self.state = "InitError"
        return None


class Extension:
    def __init__(self, name, events):
        self.id = str(uuid.uuid4())
        self.name = name
        self.events = events
        self.waiting = False  # blocked in event/next (or about to be)
        self.ready = False  # called event/next at least once
        self.queue = []  # events not yet handed out
        self.gone = False  # the process exited

    def idle(self):
        return self.gone or (self.waiting and not self.queue)


class Extensions:
    """Registrations and event queues of the Extensions API."""

    def __init__(self, function_name, version, handler, account=""):
        self.info = {"functionName": function_name, "functionVersion": version, "handler": handler}
        self.account = account
        self.by_id = {}
        self.closed = False

    def register(self, name, body, accept_feature=None):
        """(status, body, extension or None); the body names the account when the extension accepts
        the `accountId` feature (Lambda-Extension-Accept-Feature, a comma-separated list)."""
        if not name:
            return (*error(403, "Extension.InvalidExtensionName", "Empty extension name"), None)
        if self.closed:
            return (*error(403, "Extension.RegistrationClosed",
                           "Extension registration closed already"), None)
        try:
            request = json.loads(body or b"{}")
            events = request.get("events", [])
            assert isinstance(events, list) and "configurationKeys" not in request
        except (ValueError, AttributeError, AssertionError):
            return (*error(403, "InvalidRequestFormat", "Invalid register request body"), None)
        if any(event not in EVENT_TYPES for event in events):
            return (*error(403, "Extension.InvalidEventType", f"Invalid event type in {events}"), None)
        if len(self.by_id) >= MAX_EXTENSIONS:
            return (*error(403, "Extension.TooManyExtensions", "Too many extensions registered"), None)
        if any(ext.name == name for ext in self.by_id.values()):
            return (*error(403, "Extension.AlreadyRegistered", f"Extension {name} is already registered"), None)
        extension = Extension(name, tuple(events))
        self.by_id[extension.id] = extension
        answer = dict(self.info)
        if self.account and "accountId" in (f.strip() for f in (accept_feature or "").split(",")):
            answer["accountId"] = self.account
        return 200, answer, extension

    def lookup(self, identifier):
        """(extension, None) or (None, error reply)."""
        if not identifier:
            return None, error(403, "Extension.MissingExtensionIdentifier",
                               "Missing Lambda-Extension-Identifier header")
        try:
            uuid.UUID(identifier)
        except ValueError:
            return None, error(403, "Extension.InvalidExtensionIdentifier",
                               "Invalid Lambda-Extension-Identifier header")
        extension = self.by_id.get(identifier)
        if extension is None:
            return None, error(403, "Extension.UnknownExtensionIdentifier", "Unknown extension " + identifier)
        return extension, None

    def ready(self):
        """Every registered extension has called event/next (Init can complete)."""
        return all(ext.ready or ext.gone for ext in self.by_id.values())

    def idle(self):
        """Every extension is back in event/next with nothing queued (an invoke is complete)."""
        return all(ext.idle() for ext in self.by_id.values())

    def publish(self, event):
        """Queue `event` for the extensions subscribed to its type; how many got it."""
        count = 0
        for ext in self.by_id.values():
            if event["eventType"] in ext.events and not ext.gone:
                ext.queue.append(event)
                count += 1
        return count
