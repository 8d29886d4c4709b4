"""`lamina dev` and `lamina invoke` against a real lamina: a saved edit is redeployed while lamina keeps
running, the next invoke runs the new code, and the functions' logs stream to the terminal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from support import ROLE, lamina_cli, wait_for

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
TEMPLATE = f"""\
Transform: AWS::Serverless-2016-10-31
Resources:
  Greeter:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: {RUNTIME}
      Role: {ROLE}
"""
APP = "def handler(event, context):\n    print('greeting', event.get('who'))\n    return {{'version': {version}}}\n"


def cli(*args, url, **kwargs):
    return lamina_cli(*args, url=url, timeout=120, **kwargs)


def test_dev_redeploys_a_saved_edit_and_streams_logs(tmp_path, lamina, lam):
    root = tmp_path / "devapp"
    (root / "src").mkdir(parents=True)
    (root / "template.yaml").write_text(TEMPLATE)
    (root / "src" / "app.py").write_text(APP.format(version=1))
    output = open(tmp_path / "dev.log", "w+")
    dev = subprocess.Popen([sys.executable, "-m", "lamina.cli", "dev", "--endpoint", lamina.url], cwd=root,
                           stdout=output, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"})
    try:
        wait_for(lambda: "watching" in (tmp_path / "dev.log").read_text())
        name = next(f["FunctionName"] for f in lam.list_functions()["Functions"]
                    if f["FunctionName"].startswith("devapp-Greeter-"))
        first = cli("invoke", name, "--event", "-", url=lamina.url, input=json.dumps({"who": "ada"}))
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout) == {"version": 1}
        assert "greeting ada" in first.stderr and "REPORT RequestId" in first.stderr  # the log tail
        (root / "src" / "app.py").write_text(APP.format(version=2))

        def new_code():
            try:
                out = lam.invoke(FunctionName=name, Payload=json.dumps({"who": "grace"}))
            except lam.exceptions.ResourceConflictException:  # the update is in progress
                return False
            return json.loads(out["Payload"].read()) == {"version": 2}

        wait_for(new_code)
        wait_for(lambda: "greeting grace" in (tmp_path / "dev.log").read_text())
        # the new code can answer (and its logs stream) before the deploy's wait for the stack ends
        wait_for(lambda: "redeployed in" in (tmp_path / "dev.log").read_text(), what="the redeploy's summary")
        text = (tmp_path / "dev.log").read_text()
        assert "Greeter" in text
    finally:
        dev.send_signal(signal.SIGINT)
        assert dev.wait(timeout=30) == 0
        output.close()
    cli("delete", "--stack", "devapp", "--no-confirm", url=lamina.url)


def test_invoke_reports_errors_and_missing_functions(tmp_path, lamina, lam):
    missing = cli("invoke", "no-such-function", url=lamina.url)
    assert missing.returncode == 1 and "ResourceNotFoundException" in missing.stderr
    unreadable = cli("invoke", "x", "--event", str(tmp_path / "nope.json"), url=lamina.url)
    assert unreadable.returncode == 2 and "cannot read the event" in unreadable.stderr


def test_a_sample_event_piped_into_invoke(lamina, lam):
    from support import make_zip

    lam.create_function(FunctionName="event-echo", Runtime=RUNTIME, Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": "def handler(event, context):\n"
                                                             "    return event['Records'][0]['body']\n"})})
    lam.get_waiter("function_active_v2").wait(FunctionName="event-echo")
    sample = subprocess.run([sys.executable, "-m", "lamina.cli", "event", "sqs", "--body", "order 7"],
                            capture_output=True, text=True, timeout=60)
    assert sample.returncode == 0 and json.loads(sample.stdout)["Records"][0]["eventSource"] == "aws:sqs"
    out = cli("invoke", "event-echo", "--event", "-", url=lamina.url, input=sample.stdout)
    assert out.returncode == 0 and json.loads(out.stdout) == "order 7", out.stderr


class Dap:
    """A minimal Debug Adapter Protocol client (what VS Code speaks to debugpy)."""

    def __init__(self, port: int) -> None:
        import socket

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.seq = 0
        self.buffer = b""

    def send(self, command: str, **arguments) -> int:
        self.seq += 1
        body = json.dumps({"seq": self.seq, "type": "request", "command": command, "arguments": arguments}).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self.seq

    def read(self) -> dict:
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(65536)
        header, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        length = int(header.split(b":")[1])
        while len(self.buffer) < length:
            self.buffer += self.sock.recv(65536)
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return json.loads(body)

    def until(self, predicate) -> dict:
        while True:
            message = self.read()
            if predicate(message):
                return message


def test_dev_debug_stops_at_a_breakpoint_and_the_invoke_completes(tmp_path, lamina, lam):
    import threading

    from support import free_port

    root = tmp_path / "debugapp"
    (root / "src").mkdir(parents=True)
    (root / "template.yaml").write_text(TEMPLATE)
    (root / "src" / "app.py").write_text("def handler(event, context):\n    answer = 40 + 2\n    return answer\n")
    port = free_port()
    output = open(tmp_path / "dev.log", "w+")
    dev = subprocess.Popen([sys.executable, "-m", "lamina.cli", "dev", "--debug", f"Greeter:{port}", "--endpoint",
                            lamina.url], cwd=root, stdout=output, stderr=subprocess.STDOUT,
                           env={**os.environ, "COLUMNS": "200"})
    try:
        wait_for(lambda: "debugging Greeter" in (tmp_path / "dev.log").read_text())
        name = next(f["FunctionName"] for f in lam.list_functions()["Functions"]
                    if f["FunctionName"].startswith("debugapp-Greeter-"))
        result = {}
        invoking = threading.Thread(target=lambda: result.update(lam.invoke(FunctionName=name)), daemon=True)
        invoking.start()

        def connected():
            try:
                return Dap(port)
            except OSError:
                return None

        dap = wait_for(connected)
        dap.send("initialize", adapterID="python", clientID="lamina-test", pathFormat="path", linesStartAt1=True,
                 columnsStartAt1=True)
        dap.send("attach", justMyCode=False)
        dap.until(lambda m: m.get("type") == "event" and m.get("event") == "initialized")
        dap.send("setBreakpoints", source={"path": "/var/task/app.py"}, breakpoints=[{"line": 3}])
        dap.send("configurationDone")
        stopped = dap.until(lambda m: m.get("type") == "event" and m.get("event") == "stopped")
        assert stopped["body"]["reason"] == "breakpoint"
        time.sleep(4)  # paused past the function's 3 s timeout: no timeout while debugging
        assert invoking.is_alive()
        dap.send("continue", threadId=stopped["body"]["threadId"])
        invoking.join(timeout=60)
        assert "FunctionError" not in result and json.loads(result["Payload"].read()) == 42
        dap.sock.close()
    finally:
        dev.send_signal(signal.SIGINT)
        assert dev.wait(timeout=30) == 0
        output.close()
    assert "lamina:debug-port" not in lam.list_tags(Resource=lam.get_function(FunctionName=name)
                                                   ["Configuration"]["FunctionArn"])["Tags"]
    cli("delete", "--stack", "debugapp", "--no-confirm", url=lamina.url)
