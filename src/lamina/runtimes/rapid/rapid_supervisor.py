"""The environment as seen from inside: the phases (Init, Invoke, Shutdown) that tie the engine's
frames to the Runtime, Extensions and Telemetry APIs. It starts the extensions and the runtime,
decides when Init is complete (the runtime and every registered extension called `next`), hands
each INVOKE to the runtime and the subscribed extensions, turns the runtime's answer into a
RESULT / ERROR frame, emits the platform.* telemetry events, and delivers SHUTDOWN on SIGTERM.
The runtime's exit is the environment's exit: rapid exits with its status.

Every method called from an HTTP thread returns (status, headers, body). Runs inside the
sandbox; imports only the standard library and its rapid_* siblings.
"""

import base64
import json
import math
import os
import resource
import signal
import threading
import time
import uuid

import rapid_api as api
import rapid_frames as frames
import rapid_processes as processes
import rapid_telemetry as telemetry

_JSON = {"Content-Type": "application/json"}
SHUTDOWN_MS = 2000  # what Lambda gives external extensions to shut down


def _json(reply, headers=None):
    status, body = reply
    return status, {**_JSON, **(headers or {})}, json.dumps(body).encode()


def _hwm_kb(pid):
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class Supervisor:
    def __init__(self, channel, environ, opt_dirs, runtime_argv, cwd=None, serve=None, account="", phase="init",
                 runtime_version=None):
        self.channel = channel
        self.runtime_version = runtime_version  # (as INIT_START names it, its ARN); None: an image's (no runtime)
        self.phase = phase  # "invoke": this Init is one retried inside its event (suppressed init)
        self._serve = serve  # starts the Runtime API listener's thread (its socket listens already)
        self._serving = False
        self.environ = environ  # what the runtime and extensions get (AWS_LAMBDA_RUNTIME_API included)
        self.opt_dirs = opt_dirs
        self.runtime_argv = runtime_argv  # None: a custom runtime's bootstrap
        self.task_root = environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
        self.cwd = cwd or self.task_root  # where the runtime starts (an image's WorkingDirectory)
        self.version = environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_mb = int(environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128") or 128)
        self.cv = threading.Condition()
        self.state = api.RuntimeState()
        self.extensions = api.Extensions(environ.get("AWS_LAMBDA_FUNCTION_NAME", ""), self.version,
                                         environ.get("_HANDLER", ""), account)
        self.telemetry = telemetry.Telemetry()
        self.function_output = processes.Output(channel, self.telemetry, "function")
        self.extension_output = processes.Output(channel, self.telemetry, "extension")
        self.launched = {}  # extension name → Popen
        self.runtime = None
        self.runtime_status = None
        self.init_failure = None  # (error type, body)
        self.platform_failure = None  # the message of an init failure rapid itself found
        self.init_ms = None
        self.initialised = False  # READY went out: from then on the runtime's exit ends rapid (its watcher)
        self.pending = None  # the INVOKE frame the runtime has not fetched yet
        self.invoke = None  # the invoke in flight: id, started, status, produced
        self.shutting_down = False
        self.started = time.monotonic()

    # ---- Init ----------------------------------------------------------------------------------

    def initialise(self):
        """Start the extensions, then the runtime; READY or INIT_ERROR to the engine."""
        env = self.environ
        record = {"initializationType": env.get("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"), "phase": self.phase}
        if self.runtime_version is not None:
            record["runtimeVersion"], record["runtimeVersionArn"] = self.runtime_version
        record.update({"functionName": env.get("AWS_LAMBDA_FUNCTION_NAME", ""), "functionVersion": self.version,
                       "instanceId": env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")[-32:],
                       "instanceMaxMemory": self.memory_mb})
        self.telemetry.emit("platform.initStart", record)
        extensions = processes.find_extensions(self.opt_dirs)
        if extensions:  # they register through the API before the runtime starts
            self._start_threads()
        for name, path in extensions.items():
            try:
                proc = processes.start([path], env, self.task_root, self.extension_output, shielded=True)
            except OSError as exc:
                self._fail("Extension.LaunchError", f"fork/exec {path}: {exc.strerror or exc}".lower())
                break
            self.launched[name] = proc
            threading.Thread(target=self._watch_extension, args=(name, proc), daemon=True).start()
        self.extension_output.close_writer()
        with self.cv:
            self.cv.wait_for(lambda: self.init_failure or all(
                self._registered(name) or proc.poll() is not None for name, proc in self.launched.items()))
            crashed = [name for name, proc in self.launched.items()
                       if proc.poll() is not None and not self._registered(name)]
            if crashed and not self.init_failure:
                self.init_failure = ("Extension.Crash", self._body("Extension.Crash",
                                                                   f"extension {crashed[0]} exited before registering"))
        if not self.init_failure:
            self._start_runtime()
        self._start_threads()
        with self.cv:
            self.cv.wait_for(lambda: self.init_failure or self.runtime_status is not None or (
                self.state.called_next and self.extensions.ready()))
            self.extensions.closed = True
            failure, status = self.init_failure, self.runtime_status
        self.init_ms = (time.monotonic() - self.started) * 1000
        if failure is None and status is not None:
            self.exit_with(status)
        self._drain()
        if failure is not None:
            error_type, body = failure
            self._init_done("failure", error_type)
            header = {"type": error_type, "rss": self.rss_kb()}
            if self.platform_failure is not None:
                header["platform"] = self.platform_failure
            self.channel.send(frames.INIT_ERROR, header, body)
            self.telemetry.close(0.2)
            os._exit(1)
        self._init_done("success", None)
        self.channel.send(frames.READY, {"rss": self.rss_kb()})
        with self.cv:  # a runtime gone before this ends rapid now (its watcher left it to Init)
            self.initialised = True
            status = self.runtime_status
        if status is not None and not self.shutting_down:
            self.exit_with(status)

    def _start_threads(self):
        """The listener's and the output pipes' threads, once: after the runtime's start when no
        extension needs them earlier. Each start waits for its thread to run, which on a busy
        host costs a scheduling round each (2-8 ms of a cold start when they came first); the
        runtime's own start takes far longer than that, and connecting meanwhile just queues."""
        if not self._serving:
            self._serving = True
            if self._serve is not None:
                self._serve()
            self.function_output.start()
            self.extension_output.start()

    def _init_done(self, status, error_type):
        phase = {"initializationType": self.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
                 "phase": self.phase, "status": status}
        if error_type:
            phase["errorType"] = error_type
        self.telemetry.emit("platform.initRuntimeDone", dict(phase))
        self.telemetry.emit("platform.initReport", {**phase, "metrics": {"durationMs": round(self.init_ms, 3)}})

    def _registered(self, name):
        return any(ext.name == name for ext in self.extensions.by_id.values())

    @staticmethod
    def _body(error_type, message):
        return json.dumps({"errorMessage": message, "errorType": error_type}, separators=(",", ":")).encode()

    def _fail(self, error_type, message):
        """A failure of rapid's own (the platform's, not the runtime's): the engine words its body
        `RequestId: <id> Error: <message>`, as AWS does, once it knows the invoke."""
        with self.cv:
            if not self.init_failure:
                self.init_failure = (error_type, self._body(error_type, message))
                self.platform_failure = message
            self.cv.notify_all()

    def _start_runtime(self):
        argv = self.runtime_argv
        if argv is None:
            path, problem = processes.find_bootstrap(self.task_root, self.opt_dirs)
            if problem:
                self._fail("Runtime.InvalidEntrypoint", problem)
                return
            argv = [path]
        if not argv:
            self._fail("Runtime.InvalidEntrypoint", "the image has no entrypoint or command (ImageConfig "
                                                    "EntryPoint/Command)")
            self.function_output.close_writer()
            return
        try:
            self.runtime = processes.start(argv, self.environ, self.cwd, self.function_output)
        except OSError as exc:
            self._fail("Runtime.InvalidEntrypoint", f"fork/exec {argv[0]}: {exc.strerror or exc}".lower())
            return
        finally:
            self.function_output.close_writer()
        threading.Thread(target=self._watch_runtime, daemon=True).start()

    def _watch_runtime(self):
        """The runtime's exit ends rapid once Init is done. Until READY went out, Init ends it
        instead: after the INIT_ERROR frame of a runtime that posted init/error and exited at once,
        or after READY (a runtime gone meanwhile); one thread ends rapid, never both."""
        status = self.runtime.wait()
        with self.cv:
            self.runtime_status = status
            self.cv.notify_all()
            initialised = self.initialised
        if initialised and not self.shutting_down:
            self.exit_with(status)

    def _watch_extension(self, name, proc):
        proc.wait()
        with self.cv:
            for ext in self.extensions.by_id.values():
                if ext.name == name:
                    ext.gone = True
            self._maybe_report()
            self.cv.notify_all()

    def exit_with(self, status):
        """The runtime is gone: so is the environment, with the same status."""
        self._drain()
        self._fault()
        self.telemetry.close(0.2)
        if status < 0:
            signal.signal(-status, signal.SIG_DFL)
            os.kill(os.getpid(), -status)
        os._exit(status)

    def _fault(self):
        """platform.fault (a Logs API event) when the runtime went in the middle of an invoke."""
        with self.cv:
            invoke = self.invoke
        if invoke is not None and invoke["status"] is None:
            self.telemetry.emit("platform.fault", f"RequestId: {invoke['id']} Process exited before completing request")

    def _drain(self):
        self.function_output.drain()
        self.extension_output.drain()

    def rss_kb(self):
        pids = [proc.pid for proc in (self.runtime, *self.launched.values()) if proc is not None]
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + sum(_hwm_kb(pid) for pid in pids)

    # ---- Invoke --------------------------------------------------------------------------------

    def dispatch(self, header, payload):
        """An INVOKE frame: once the extensions are done with the previous event, hand it out."""
        with self.cv:
            self.cv.wait_for(lambda: self.extensions.idle() and self.invoke is None)
            request_id = header["id"]
            self.invoke = {"id": request_id, "started": time.monotonic(), "status": None}
            self.pending = (header, payload)
            tracing = {"type": "X-Amzn-Trace-Id", "value": header.get("trace", "")}
            self.extensions.publish({"eventType": "INVOKE", "deadlineMs": header["deadline"],
                                     "requestId": request_id, "invokedFunctionArn": header.get("arn", ""),
                                     "tracing": tracing})
            self.telemetry.emit("platform.start", {"requestId": request_id, "version": self.version,
                                                   "tracing": tracing})
            self.cv.notify_all()

    def runtime_next(self):
        with self.cv:
            problem = self.state.next()
            if problem:
                return _json(problem)
            self.cv.notify_all()
            self.cv.wait_for(lambda: self.pending is not None)
            header, payload = self.pending
            self.pending = None
            self.state.deliver(header["id"])
        headers = {"Content-Type": header.get("ct", "application/json"),
                   "Lambda-Runtime-Aws-Request-Id": header["id"],
                   "Lambda-Runtime-Deadline-Ms": str(header["deadline"]),
                   "Lambda-Runtime-Invoked-Function-Arn": header.get("arn", ""),
                   "Lambda-Runtime-Trace-Id": header.get("trace", "")}
        for key, name in (("cc", "Lambda-Runtime-Client-Context"), ("ci", "Lambda-Runtime-Cognito-Identity"),
                          ("tenant", "Lambda-Runtime-Aws-Tenant-Id")):
            if header.get(key):
                headers[name] = header[key]
        return 200, headers, payload

    def runtime_answer(self, kind, request_id, headers, body):
        """POST …/{id}/response or …/{id}/error; `body` None when it was over the size limit."""
        with self.cv:
            problem = self.state.answer(request_id)
            if problem:
                return _json(problem)
        self.function_output.drain()  # what it printed first is logged first
        rss = self.rss_kb()
        if body is None:
            self.channel.send_oversized(frames.RESULT if kind == "response" else frames.ERROR, {"rss": rss})
            status, error_type = "failure", "Function.ResponseSizeTooLarge"
            reply = _json(api.error(413, "RequestEntityTooLarge",
                                    f"Exceeded maximum allowed payload size ({frames.MAX_RESPONSE} bytes)."))
        elif kind == "response":
            content_type = headers.get("Content-Type") or "application/json"
            frame_header = {"rss": rss} if content_type == "application/json" else {"ct": content_type, "rss": rss}
            self.channel.send(frames.RESULT, frame_header, body)
            status, error_type, reply = "success", None, _json(api.ACCEPTED)
        else:
            error_type = api.error_type(headers.get("Lambda-Runtime-Function-Error-Type"), body)
            self.channel.send(frames.ERROR, {"type": error_type, "rss": rss}, body)
            status, reply = "error", _json(api.ACCEPTED)
        self._runtime_done(request_id, status, error_type, len(body or b""))
        return reply

    def runtime_stream(self, request_id, mode, headers, pieces, trailers):
        """POST …/{id}/response in streaming mode: each piece of the body goes to the engine as a
        CHUNK frame as it arrives; the trailers say whether it ended in an error (reference 2.9)."""
        if mode.lower() != "streaming":
            for _ in pieces:
                pass
            return _json(api.error(400, "InvalidFunctionResponseMode",
                                   f"Function response mode {mode} is not supported"))
        with self.cv:
            problem = self.state.answer(request_id)
        if problem:
            for _ in pieces:
                pass
            return _json(problem)
        self.function_output.drain()
        content_type = headers.get("Content-Type") or "application/octet-stream"
        self.channel.send(frames.CHUNK, {"ct": content_type}, b"")
        produced = 0
        for piece in pieces:
            produced += len(piece)
            self.channel.send(frames.CHUNK, None, piece)
        found = trailers()
        error_type = found.get("lambda-runtime-function-error-type")
        rss = self.rss_kb()
        if error_type:
            try:
                body = base64.b64decode(found.get("lambda-runtime-function-error-body", ""), validate=True)
            except ValueError:
                body = b""
            error_type = api.error_type(error_type, body)
            self.channel.send(frames.ERROR, {"type": error_type, "rss": rss},
                              body or self._body(error_type, ""))
            status = "error"
        else:
            self.channel.send(frames.RESULT, {"rss": rss, "streamed": 1}, b"")
            status = "success"
        self._runtime_done(request_id, status, error_type, produced)
        return _json(api.ACCEPTED)

    def _runtime_done(self, request_id, status, error_type, produced):
        with self.cv:
            invoke = self.invoke
            if invoke is not None:
                invoke["status"], invoke["errorType"] = status, error_type
                record = {"requestId": request_id, "status": status,
                          "metrics": {"durationMs": round((time.monotonic() - invoke["started"]) * 1000, 3),
                                      "producedBytes": produced}}
                if error_type:
                    record["errorType"] = error_type
                self.telemetry.emit("platform.runtimeDone", record)
            self._maybe_report()
            self.cv.notify_all()

    def runtime_init_error(self, headers, body):
        with self.cv:
            problem = self.state.init_error()
            if problem:
                return _json(problem)
            error_type = api.error_type(headers.get("Lambda-Runtime-Function-Error-Type"), body)
            self.init_failure = (error_type, body or self._body(error_type, ""))
            self.cv.notify_all()
        return _json(api.ACCEPTED)

    def _maybe_report(self):
        """platform.report once the runtime answered and the extensions are back in next (cv held)."""
        invoke = self.invoke
        if invoke is None or invoke["status"] is None or not self.extensions.idle():
            return
        self.invoke = None
        duration = (time.monotonic() - invoke["started"]) * 1000
        metrics = {"durationMs": round(duration, 3), "billedDurationMs": math.ceil(duration),
                   "memorySizeMB": self.memory_mb, "maxMemoryUsedMB": self.rss_kb() // 1024}
        if not getattr(self, "_reported", False):
            self._reported = True
            metrics["initDurationMs"] = round(self.init_ms or 0.0, 3)
        record = {"requestId": invoke["id"], "status": invoke["status"], "metrics": metrics}
        if invoke.get("errorType"):
            record["errorType"] = invoke["errorType"]
        self.telemetry.emit("platform.report", record)
        self.cv.notify_all()

    # ---- Extensions, Telemetry and Logs APIs ------------------------------------------------------

    def register(self, headers, body):
        with self.cv:
            status, answer, ext = self.extensions.register(headers.get("Lambda-Extension-Name"), body,
                                                           headers.get("Lambda-Extension-Accept-Feature"))
            if ext is None:
                return _json((status, answer))
            self.telemetry.emit("platform.extension", {"name": ext.name, "state": "Ready",
                                                       "events": list(ext.events)})
            self.cv.notify_all()
        return _json((200, answer), {"Lambda-Extension-Identifier": ext.id})

    def event_next(self, headers):
        with self.cv:
            ext, problem = self.extensions.lookup(headers.get("Lambda-Extension-Identifier"))
            if problem:
                return _json(problem)
            ext.waiting = ext.ready = True
            self._maybe_report()
            self.cv.notify_all()
            self.cv.wait_for(lambda: ext.queue)
            event = ext.queue.pop(0)
            ext.waiting = False
        return 200, {**_JSON, "Lambda-Extension-Event-Identifier": str(uuid.uuid4())}, json.dumps(event).encode()

    def extension_error(self, endpoint, headers, body):
        with self.cv:
            ext, problem = self.extensions.lookup(headers.get("Lambda-Extension-Identifier"))
            if problem:
                return _json(problem)
            error_type = headers.get("Lambda-Extension-Function-Error-Type")
            if not error_type:
                return _json(api.error(403, "Extension.MissingHeader",
                                       "Missing Lambda-Extension-Function-Error-Type header"))
            if endpoint == "extension_init_error":
                if self.init_ms is not None:
                    return _json(api.error(403, "Extension.InvalidExtensionState",
                                           "init/error is only allowed during Init"))
                self.init_failure = self.init_failure or (error_type, body or self._body(error_type, ""))
            ext.gone = True
            self.cv.notify_all()
        return _json(api.ACCEPTED)

    def subscribe(self, endpoint, headers, body):
        """PUT /2022-07-01/telemetry or /2020-08-15/logs (`endpoint` "telemetry" or "logs"): a
        registered extension, during Init, through one of the two APIs (reference 5.3)."""
        through = telemetry.APIS[endpoint]
        with self.cv:
            ext, problem = self.extensions.lookup(headers.get("Lambda-Extension-Identifier"))
            closed = self.init_ms is not None
        if problem:
            return _json(problem)
        if closed:  # Lambda takes subscriptions during Init only
            return _json(api.error(403, f"{through.name}.SubscriptionClosed",
                                   f"{through.name} API subscription is closed already"))
        settings, problem = telemetry.parse_subscription(body, through)
        if problem is None:
            problem = self.telemetry.subscribe(ext.name, settings)
        if problem:
            return _json(problem)
        return 200, _JSON, b'"OK"'

    # ---- Shutdown ------------------------------------------------------------------------------

    def shutdown(self, reason="spindown"):
        """SIGTERM: the runtime is asked to end; extensions get SHUTDOWN and until the deadline to
        come back to next (or exit); then rapid exits."""
        with self.cv:
            if self.shutting_down:
                return
            self.shutting_down = True
        if self.runtime is not None and self.runtime.poll() is None:
            self.runtime.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_MS / 1000
        with self.cv:
            self.invoke = None
            self.extensions.publish({"eventType": "SHUTDOWN", "shutdownReason": reason,
                                     "deadlineMs": int(time.time() * 1000) + SHUTDOWN_MS})
            self.cv.notify_all()
            self.cv.wait_for(self.extensions.idle, timeout=max(0.0, deadline - time.monotonic()))
        self.telemetry.close(max(0.05, min(0.3, deadline - time.monotonic())))
        self._drain()
        os._exit(0)
