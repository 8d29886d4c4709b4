"""The Node runtime's _X_AMZN_TRACE_ID (bootstrap.cjs): the handler sees the invoke's trace id in
process.env (and children spawned with the default env), removed when the invoke has none, and
setting it does not go through glibc's setenv, which keeps a copy of every value it is given.
Driven by a minimal Runtime API served here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

BOOTSTRAP = Path(__file__).resolve().parents[3] / "src" / "lamina" / "runtimes" / "node" / "bootstrap.cjs"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="no node on this host")

HANDLER = r"""
const { execFileSync } = require("child_process");
const NAME = "_X_AMZN_TRACE_ID";
const rss = () => Number(require("fs").readFileSync("/proc/self/status", "utf8").match(/VmRSS:\s+(\d+)/)[1]);
function churn(from, count) {
  for (let i = from; i < from + count; i++) {
    process.env[NAME] = `Root=1-${i.toString(16).padStart(8, "0")}-${i.toString(16).padStart(24, "0")};Sampled=0`;
  }
}
exports.handler = async (event) => {
  if (event.churn) {
    churn(0, event.churn);  // the first pass grows V8's heap to what the loop needs
    const before = rss();
    churn(event.churn, event.churn);  // new values, as each warm invoke brings
    return { growthKb: rss() - before };
  }
  const seen = {
    value: process.env[NAME] === undefined ? null : process.env[NAME],
    has: NAME in process.env,
    listed: Object.keys(process.env).includes(NAME),
    json: JSON.parse(JSON.stringify(process.env))[NAME] || null,
    child: execFileSync("sh", ["-c", `printf %s "\${${NAME}-unset}"`]).toString(),
    other: process.env.AWS_LAMBDA_FUNCTION_NAME,
  };
  if (event.set !== undefined) {
    process.env[NAME] = event.set;
    seen.afterSet = process.env[NAME];
  }
  return seen;
};
"""


class _RuntimeApi:
    """Hands out the queued invokes on invocation/next and collects the responses."""

    def __init__(self, invokes: list[tuple[dict, str | None]]) -> None:
        self.invokes = list(invokes)
        self.responses: list = []
        self.done = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, *args) -> None:
                pass

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if not api.invokes:
                    api.done.wait(30)
                    self._answer(500, b"", {})
                    return
                event, trace = api.invokes.pop(0)
                headers = {"Lambda-Runtime-Aws-Request-Id": f"req-{len(api.responses)}",
                           "Lambda-Runtime-Deadline-Ms": "99999999999999",
                           "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:000000000000:function:fn"}
                if trace is not None:
                    headers["Lambda-Runtime-Trace-Id"] = trace
                self._answer(200, json.dumps(event).encode(), headers)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                api.responses.append((self.path.rsplit("/", 1)[-1], json.loads(body)))
                if not api.invokes:
                    api.done.set()
                self._answer(202, b"{}", {"Content-Type": "application/json"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def _run(tmp_path: Path, invokes: list[tuple[dict, str | None]], initial: str | None = None,
         timeout: float = 60) -> list:
    (tmp_path / "app.js").write_text(HANDLER)
    api = _RuntimeApi(invokes)
    thread = threading.Thread(target=api.server.serve_forever, daemon=True)
    thread.start()
    env = {key: value for key, value in os.environ.items() if key != "_X_AMZN_TRACE_ID"}
    env.update(AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{api.server.server_address[1]}", LAMBDA_TASK_ROOT=str(tmp_path),
               _HANDLER="app.handler", AWS_LAMBDA_FUNCTION_NAME="fn")
    if initial is not None:
        env["_X_AMZN_TRACE_ID"] = initial
    process = subprocess.Popen([NODE, str(BOOTSTRAP)], env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert api.done.wait(timeout), process.stdout.read1() if process.poll() is not None else "no answer"
    finally:
        process.kill()
        process.wait()
        api.server.shutdown()
        api.server.server_close()
    return api.responses


TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def test_handler_sees_the_invokes_trace_id_and_none_when_absent(tmp_path):
    responses = _run(tmp_path, [({}, TRACE), ({}, None), ({"set": 42}, "Root=1-second"), ({}, None)])
    assert [path for path, _ in responses] == ["response"] * 4
    seen = [body for _, body in responses]
    assert seen[0] == {"value": TRACE, "has": True, "listed": True, "json": TRACE, "child": TRACE, "other": "fn"}
    assert seen[1] == {"value": None, "has": False, "listed": False, "json": None, "child": "unset", "other": "fn"}
    assert seen[2]["value"] == "Root=1-second" and seen[2]["child"] == "Root=1-second"
    assert seen[2]["afterSet"] == "42"  # coerced to a string, as node's process.env does
    assert seen[3]["value"] is None and seen[3]["child"] == "unset"


def test_a_trace_id_in_the_starting_environment_gives_way_to_the_first_invokes(tmp_path):
    responses = _run(tmp_path, [({}, None)], initial="Root=1-initial")
    assert responses[0][1]["value"] is None and responses[0][1]["child"] == "unset"


def test_setting_the_variable_does_not_grow_the_c_heap(tmp_path):
    # 100,000 distinct values through glibc's setenv keep ~14 MB resident (a copy of each); held in
    # JavaScript the second pass over an already grown heap adds nothing measurable.
    responses = _run(tmp_path, [({"churn": 100_000}, TRACE)])
    assert responses[0][1]["growthKb"] < 4096, responses
