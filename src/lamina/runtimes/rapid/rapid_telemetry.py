"""The Telemetry API: subscriptions (PUT /2022-07-01/telemetry) and delivery of platform events,
function log lines and extension log lines to each subscriber's listener, batched as its
`buffering` asks (reference 5.3). Each subscription has its own delivery thread, which turns the
events into what its API shows (`Api.view`): the Telemetry API's as they are, the legacy Logs
API's through `rapid_logs`. An extension subscribes through one of the two APIs, not both.

Runs inside the sandbox; imports only the standard library and rapid_logs.
"""

import http.client
import json
import queue
import socket
import threading
import time
import urllib.parse

import rapid_logs as logs

SCHEMAS = ("2022-07-01", "2022-12-13", "2025-01-29")
TYPES = ("platform", "function", "extension")
_BACKLOG = 1000  # events kept for extensions that subscribe during Init
_LOCAL_NAMES = ("sandbox.localdomain", "sandbox", "localhost")


class Api:
    """One subscription API: its name in messages ("Telemetry", "Logs"), the schemaVersions it
    accepts (`default` when the field may be left out), the buffering ranges {key: (min, max,
    default)}, the errorType of a bad request, the event announcing a subscription, and its view:
    (event, schemaVersion) → the events its subscriber receives for one of rapid's."""

    def __init__(self, name, schemas, default, limits, invalid, subscribed, view):
        self.name, self.schemas, self.default, self.limits = name, schemas, default, limits
        self.invalid, self.subscribed, self.view = invalid, subscribed, view


def _as_telemetry(event, schema):
    return () if event["type"] in logs.OWN else (event,)


TELEMETRY = Api("Telemetry", SCHEMAS, None,
                {"maxItems": (1000, 10000, 1000), "maxBytes": (262144, 1048576, 262144), "timeoutMs": (25, 30000, 1000)},
                "ValidationError", "platform.telemetrySubscription", _as_telemetry)
LOGS = Api("Logs", logs.SCHEMAS, logs.DEFAULT_SCHEMA, logs.LIMITS, logs.INVALID, logs.SUBSCRIBED, logs.view)
APIS = {"telemetry": TELEMETRY, "logs": LOGS}  # by the endpoint's name (rapid_api.route)


def iso_time(now=None):
    now = time.time() if now is None else now
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def parse_subscription(body, api=TELEMETRY):
    """(settings, None) or (None, the 400 reply) for a subscription request body sent to `api`."""
    def _bad(message):
        return 400, {"errorMessage": message, "errorType": api.invalid}

    try:
        request = json.loads(body or b"")
        assert isinstance(request, dict)
    except (ValueError, AssertionError):
        return None, _bad("Invalid subscription request body")
    schema = request.get("schemaVersion") or api.default
    if schema not in api.schemas:
        return None, _bad(f"Invalid schemaVersion: {request.get('schemaVersion')}")
    destination = request.get("destination")
    if not isinstance(destination, dict):
        return None, _bad("destination is required")
    if destination.get("protocol") == "HTTP":
        uri = urllib.parse.urlsplit(str(destination.get("URI", "")))
        if uri.scheme != "http" or not uri.port:
            return None, _bad("destination.URI must be http://host:port/path")
        host = "127.0.0.1" if uri.hostname in _LOCAL_NAMES else uri.hostname
        target = ("HTTP", host, uri.port, uri.path or "/")
        method = destination.get("method") or "POST"  # the Logs API lets a listener take PUT
        if method not in ("POST", "PUT"):
            return None, _bad("destination.method must be POST or PUT")
    elif destination.get("protocol") == "TCP" and isinstance(destination.get("port"), int):
        target, method = ("TCP", "127.0.0.1", destination["port"], None), None
    else:
        return None, _bad("destination.protocol must be HTTP or TCP")
    types = request.get("types")
    if not isinstance(types, list) or not types or any(t not in TYPES for t in types):
        return None, _bad(f"types must be a non-empty list of {list(TYPES)}")
    buffering = request.get("buffering") or {}
    if not isinstance(buffering, dict):
        return None, _bad("buffering must be an object")
    limits = {}
    for key, (low, high, default) in api.limits.items():
        value = buffering.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            return None, _bad(f"buffering.{key} must be between {low} and {high}")
        limits[key] = value
    return {"api": api, "schema": schema, "target": target, "method": method, "types": tuple(types), **limits}, None


def subscribing(subscribed, name, api):
    """What a subscribe request of extension `name` through `api` does, given the (name, api name)
    pairs subscribed already: "new", "again" (idempotent: nothing changes, as on Lambda), or the
    400 reply when it subscribed through the other API (Lambda refuses one extension both)."""
    for who, through in subscribed:
        if who == name:
            if through == api.name:
                return "again"
            return 400, {"errorMessage": f"Extension {name} is already subscribed to the {through} API",
                         "errorType": api.invalid}
    return "new"


class Subscription(threading.Thread):
    def __init__(self, name, settings):
        super().__init__(daemon=True, name=f"telemetry-{name}")
        self.name_ = name
        self.settings = settings
        self.api = settings.get("api", TELEMETRY)
        self.schema = settings.get("schema")
        self.types = settings["types"]
        self.inbox = queue.Queue()
        self.closing = threading.Event()

    def run(self):
        batch, size, first = [], 0, None
        while True:
            timeout = None if first is None else max(0.0, first + self.settings["timeoutMs"] / 1000 - time.monotonic())
            try:
                item = self.inbox.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is not None and item is not StopIteration:
                for shown in self.api.view(item, self.schema):
                    encoded = json.dumps(shown, separators=(",", ":"), ensure_ascii=False)
                    batch.append(encoded)
                    size += len(encoded)
                    first = first or time.monotonic()
            full = len(batch) >= self.settings["maxItems"] or size >= self.settings["maxBytes"]
            due = first is not None and time.monotonic() >= first + self.settings["timeoutMs"] / 1000
            if batch and (full or due or item is StopIteration or self.closing.is_set()):
                self._deliver(batch)
                batch, size, first = [], 0, None
            if item is StopIteration:
                return

    def _deliver(self, batch):
        kind, host, port, path = self.settings["target"]
        try:
            if kind == "HTTP":
                body = ("[" + ",".join(batch) + "]").encode()
                connection = http.client.HTTPConnection(host, port, timeout=5)
                connection.request(self.settings.get("method") or "POST", path, body,
                                   {"Content-Type": "application/json"})
                connection.getresponse().read()
                connection.close()
            else:
                with socket.create_connection((host, port), timeout=5) as sock:
                    sock.sendall(("\n".join(batch) + "\n").encode())
        except OSError:
            pass  # a listener that is gone loses its events, as on Lambda

    def close(self, timeout):
        self.closing.set()
        self.inbox.put(StopIteration)
        self.join(timeout)


class Telemetry:
    """Subscriptions and the events they receive."""

    def __init__(self):
        self._lock = threading.Lock()
        self._subscriptions = []
        self._backlog = []

    def __bool__(self):
        return bool(self._subscriptions)

    def subscribe(self, name, settings):
        """None once `name` is subscribed as `settings` say (or was already), else the error reply."""
        subscription = Subscription(name, settings)
        with self._lock:
            outcome = subscribing([(s.name_, s.api.name) for s in self._subscriptions], name, subscription.api)
            if outcome != "new":
                return None if outcome == "again" else outcome
            self._subscriptions.append(subscription)
            backlog = list(self._backlog)
        for event in backlog:
            if self._category(event["type"]) in subscription.types:
                subscription.inbox.put(event)
        subscription.start()
        self.emit(subscription.api.subscribed, {"name": name, "state": "Subscribed",
                                                "types": list(settings["types"])})
        return None

    @staticmethod
    def _category(kind):
        return "platform" if kind.startswith("platform.") else kind

    def emit(self, kind, record, now=None):
        event = {"time": iso_time(now), "type": kind, "record": record}
        category = self._category(kind)
        with self._lock:
            if len(self._backlog) < _BACKLOG:
                self._backlog.append(event)
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            if category in subscription.types:
                subscription.inbox.put(event)

    def close(self, timeout=1.0):
        """Deliver what is buffered (at shutdown)."""
        deadline = time.monotonic() + timeout
        for subscription in list(self._subscriptions):
            subscription.close(max(0.0, deadline - time.monotonic()))
