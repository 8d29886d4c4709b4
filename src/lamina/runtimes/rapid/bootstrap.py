"""rapid: the Runtime API server of one execution environment, run inside the sandbox as
`<host python> -s -u bootstrap.py` with the task root as the working directory, exactly as the
managed Python runtime is. Towards the engine it plays that runtime's role over the frame socket
named by _LAMINA_RUNTIME_FD (READY / INIT_ERROR, INVOKE → RESULT / ERROR, output as STREAM
frames); inside, it serves the Runtime, Extensions and Telemetry APIs on a loopback listener
(AWS_LAMBDA_RUNTIME_API) and starts the extensions and the runtime: the custom runtime's
`bootstrap` (provided.*) or `node` with lamina's Node bootstrap (nodejs*; _LAMINA_NODE names the
executable).

Imports nothing from lamina: only the standard library and its rapid_* siblings.
"""

import json
import os
import shutil
import signal
import sys
import threading

import rapid_frames as frames  # siblings, found while this directory is sys.path[0]
import rapid_http
import rapid_supervisor

_HERE = os.path.dirname(os.path.realpath(__file__))
NODE_BOOTSTRAP = next((path for path in (os.path.join(_HERE, "node", "bootstrap.cjs"),  # the runtime image
                                         os.path.join(os.path.dirname(_HERE), "node", "bootstrap.cjs"))
                       if os.path.exists(path)), os.path.join(_HERE, "node", "bootstrap.cjs"))


def _runtime_argv(runtime, environ, opt_dirs):
    """How to start the runtime: None for a custom runtime (its `bootstrap`), argv for Node."""
    if not runtime.startswith("nodejs"):
        return None
    node = environ.pop("_LAMINA_NODE", "") or shutil.which("node", path=environ.get("PATH")) or "/usr/bin/node"
    major = runtime.removeprefix("nodejs").split(".")[0]
    paths = [f"{d}/nodejs/node{major}/node_modules" for d in opt_dirs] + [f"{d}/nodejs/node_modules" for d in opt_dirs]
    if environ.get("NODE_PATH"):
        paths.append(environ["NODE_PATH"])
    environ["NODE_PATH"] = ":".join(paths)
    return [node, NODE_BOOTSTRAP]


def main():
    channel = frames.Channel(int(os.environ.pop("_LAMINA_RUNTIME_FD")))
    environ = dict(os.environ)
    opt_dirs = [d for d in environ.pop("_LAMINA_OPT_DIRS", "").split(":") if d]
    account = environ.pop("_LAMINA_ACCOUNT_ID", "")  # the Extensions API's accountId
    phase = environ.pop("_LAMINA_INIT_PHASE", "") or "init"  # "invoke": an Init retried inside its event
    # INIT_START's runtime version and its ARN (none for an image), for the Telemetry API's initStart
    version, _, version_arn = environ.pop("_LAMINA_RUNTIME_VERSION", "").partition("\t")
    runtime = environ.get("AWS_EXECUTION_ENV", "").removeprefix("AWS_Lambda_")
    argv = _runtime_argv(runtime, environ, opt_dirs)
    for name in environ.pop("_LAMINA_RAPID_ONLY", "").split(","):  # rapid's own (PYTHONHOME in an image)
        environ.pop(name, None)
    image_argv = environ.pop("_LAMINA_IMAGE_ARGV", None)  # a container image: its command line and directory
    image_cwd = environ.pop("_LAMINA_IMAGE_CWD", None)
    if image_argv is not None:
        argv = json.loads(image_argv)
    environ.pop("_LAMINA_NODE", None)
    if "_LAMINA_LD_LIBRARY_PATH" in environ:  # rapid's own libraries are not the bootstrap's
        environ["LD_LIBRARY_PATH"] = environ.pop("_LAMINA_LD_LIBRARY_PATH")
    listener = None

    def serve():
        threading.Thread(target=listener.serve_forever, daemon=True, name="runtime-api").start()

    supervisor = rapid_supervisor.Supervisor(channel, environ, opt_dirs, argv, cwd=image_cwd, serve=serve,
                                             account=account, phase=phase,
                                             runtime_version=(version, version_arn) if version else None)
    listener = rapid_http.Listener(supervisor)
    environ["AWS_LAMBDA_RUNTIME_API"] = listener.address
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=supervisor.shutdown, daemon=True).start())
    supervisor.initialise()
    while True:
        frame = channel.receive()
        if frame is None:  # the engine is gone
            os._exit(0)
        kind, header, payload = frame
        if kind == frames.INVOKE:
            supervisor.dispatch(header, payload)


if __name__ == "__main__":
    sys.exit(main())
