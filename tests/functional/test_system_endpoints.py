"""/metrics, /system/metrics and /system/cost on a real uvicorn, and the `lamina cost` and
`lamina logs` commands run as processes against real HTTP servers."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Route

from lamina.api.logs import logs_endpoint
from lamina.api.system import system_routes
from lamina.cli import log_line, message_style, parse_since, short_stream
from lamina.control.logs import Logs
from lamina.control.usage import Usage
from lamina.store.database import open_database, sqlite_url
from lamina.store.logs import LogStore
from lamina.store.metrics import MetricStore
from lamina.telemetry.metrics import InvocationSample, Metrics
from support import free_port


@contextlib.contextmanager
def serving(app):
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["content-type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["content-type"], error.read()


def cli_env(tmp_path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "FORCE_COLOR", "NO_COLOR"))}
    env.update({"AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                "COLUMNS": "200", "PYTHONUNBUFFERED": "1", **extra})
    return env


def lamina(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lamina.cli", *args], capture_output=True, text=True, env=env,
                          timeout=60)


# -- metrics, series and cost ---------------------------------------------------------------------
@pytest.fixture
def monitored(tmp_path):
    engine = open_database(sqlite_url(tmp_path))
    store = MetricStore(engine)
    metrics = Metrics(write_minutes=store.add_minutes, expire=store.expire, flush_interval=3600)
    metrics.start()
    with serving(Starlette(routes=system_routes(Usage(metrics, store)))) as url:
        yield SimpleNamespace(url=url, metrics=metrics, store=store)
    metrics.close()
    engine.dispose()


def drive(metrics: Metrics) -> None:
    """hello: 3 runs on x86 (one error, one cold start) and a throttle; crunch: 2 runs on arm64."""
    for duration, billed, error, init in ((10.2, 11, False, 120.0), (20.0, 20, True, None), (30.0, 30, False, None)):
        metrics.invocation(InvocationSample("hello", "$LATEST", None, duration, billed, 1024, init, error))
    metrics.throttle("hello", "$LATEST", None)
    for _ in range(2):
        metrics.invocation(InvocationSample("crunch", "2", "live", 1000.0, 1000, 2048, None, False,
                                            architecture="arm64"))
    metrics.concurrency("hello", 2)
    metrics.concurrency("crunch", 1)
    metrics.queue(5, 12.0, {"hello": (4, 12.0), "crunch": (1, 3.0)})
    metrics.iterator_age("mapping-1", 800.0, "hello")
    metrics.dropped("crunch")


def test_prometheus_endpoint(monitored):
    drive(monitored.metrics)
    status, content_type, body = get(monitored.url + "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    found = {(s.name, tuple(sorted(s.labels.items()))): s.value
             for family in text_string_to_metric_families(body.decode()) for s in family.samples}
    hello = (("alias", ""), ("function", "hello"), ("version", "$LATEST"))
    crunch = (("alias", "live"), ("function", "crunch"), ("version", "2"))
    assert found[("lamina_invocations_total", hello)] == 3
    assert found[("lamina_errors_total", hello)] == 1
    assert found[("lamina_throttles_total", hello)] == 1
    assert found[("lamina_invocations_total", crunch)] == 2
    assert found[("lamina_duration_seconds_count", crunch)] == 2
    assert found[("lamina_duration_seconds_sum", crunch)] == pytest.approx(2.0)
    assert found[("lamina_init_duration_seconds_count", hello)] == 1
    assert found[("lamina_concurrent_executions", (("function", "hello"),))] == 2
    assert found[("lamina_account_concurrent_executions", ())] == 3
    assert found[("lamina_async_queue_depth", ())] == 5
    assert found[("lamina_async_oldest_event_age_seconds", ())] == 12
    assert found[("lamina_async_dropped_events_total", (("function", "crunch"),))] == 1


def test_minute_series_are_zero_filled_and_include_unflushed_minutes(monitored):
    drive(monitored.metrics)  # nothing flushed yet: the endpoint flushes before it reads
    status, content_type, body = get(monitored.url + "/system/metrics?function=hello&minutes=5")
    assert status == 200 and content_type == "application/json"
    answer = json.loads(body)
    assert answer["function"] == "hello" and answer["minutes"] == 5
    series = answer["series"]
    minutes = [entry["minute"] for entry in series]
    assert len(series) == 5 and all(later - earlier == 60 for earlier, later in zip(minutes, minutes[1:], strict=False))
    assert int(time.time() // 60) * 60 - minutes[-1] in (0, 60)  # the current minute (a new one may have begun)
    assert sum(entry["invocations"] for entry in series) == 3
    assert sum(entry["errors"] for entry in series) == 1
    assert sum(entry["throttles"] for entry in series) == 1
    assert sum(entry["billed_ms_sum"] for entry in series) == 61
    assert sum(entry["gb_seconds"] for entry in series) == pytest.approx(0.061)
    assert max(entry["duration_ms_max"] for entry in series) == 30.0
    assert max(entry["concurrency_max"] for entry in series) == 2
    assert sum(entry["cold_starts"] for entry in series) == 1
    assert set(series[0]) >= {"minute", "invocations", "errors", "throttles", "duration_ms_sum", "duration_ms_max",
                              "billed_ms_sum", "gb_seconds", "concurrency_max"}
    everyone = json.loads(get(monitored.url + "/system/metrics")[2])  # default: ALL over 60 minutes
    assert everyone["function"] == "ALL" and len(everyone["series"]) == 60
    assert sum(entry["invocations"] for entry in everyone["series"]) == 5
    assert max(entry["concurrency_max"] for entry in everyone["series"]) == 3
    # The backlog per function: each minute's largest sample of queue depth, oldest age and iterator age.
    assert max(entry["async_depth_max"] for entry in series) == 4
    assert max(entry["async_age_ms_max"] for entry in series) == 12_000.0
    assert max(entry["iterator_age_ms_max"] for entry in series) == 800.0
    assert max(entry["async_depth_max"] for entry in everyone["series"]) == 5
    crunch = json.loads(get(monitored.url + "/system/metrics?function=crunch&minutes=5")[2])["series"]
    assert (max(e["async_depth_max"] for e in crunch), max(e["iterator_age_ms_max"] for e in crunch)) == (1, 0)
    unknown = json.loads(get(monitored.url + "/system/metrics?function=nobody&minutes=2")[2])
    assert [entry["invocations"] for entry in unknown["series"]] == [0, 0]


@pytest.mark.parametrize("minutes", ["0", "abc", "999999"])
def test_bad_minutes_are_refused(monitored, minutes):
    status, _, body = get(monitored.url + f"/system/metrics?minutes={minutes}")
    assert status == 400
    assert "minutes must be" in json.loads(body)["message"]


def test_cost_endpoint_and_cli(monitored, tmp_path):
    drive(monitored.metrics)
    status, _, body = get(monitored.url + "/system/cost")
    assert status == 200
    report = json.loads(body)
    by_name = {entry["function"]: entry for entry in report["functions"]}
    crunch, hello = by_name["crunch"], by_name["hello"]
    assert crunch["architecture"] == "arm64" and hello["architecture"] == "x86_64"
    assert crunch["requests"] == 2 and crunch["gb_seconds"] == pytest.approx(4.0)
    assert crunch["duration_cost"] == pytest.approx(4.0 * 0.0000133334)
    assert hello["requests"] == 3 and hello["gb_seconds"] == pytest.approx(0.061)
    assert hello["duration_cost"] == pytest.approx(0.061 * 0.0000166667)
    assert hello["request_cost"] == pytest.approx(3 * 0.0000002)
    assert report["totals"]["requests"] == 5
    assert report["totals"]["total"] == pytest.approx(crunch["total"] + hello["total"])
    assert report["free_tier"] == {"requests": 1_000_000, "gb_seconds": 400_000,
                                   "note": report["free_tier"]["note"]}

    out = lamina("cost", "--endpoint", monitored.url, env=cli_env(tmp_path))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any("Estimated AWS Lambda cost" in line for line in lines)
    crunch_line = next(line for line in lines if "crunch" in line)
    assert "arm64" in crunch_line and "4.000" in crunch_line and "$0.00005333" in crunch_line
    hello_line = next(line for line in lines if "hello" in line)
    assert "x86_64" in hello_line and " 3 " in hello_line
    total_line = next(line for line in lines if "Total" in line and "$0" in line)
    assert "5" in total_line and "4.061" in total_line
    words = " ".join(out.stdout.split())  # the caption wraps at the table's width
    assert "x86_64 $0.0000166667/GB-s" in words and "arm64 $0.0000133334/GB-s" in words
    assert "$0.20 per 1M requests" in words and "free tier" in words and "not subtracted" in words

    as_json = lamina("cost", "--json", "--endpoint", monitored.url, env=cli_env(tmp_path))
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["totals"]["requests"] == 5

    env = cli_env(tmp_path, AWS_ENDPOINT_URL=monitored.url)
    assert "crunch" in lamina("cost", env=env).stdout  # the endpoint from $AWS_ENDPOINT_URL


def test_cost_cli_without_a_server(tmp_path):
    out = lamina("cost", "--endpoint", f"http://127.0.0.1:{free_port()}", env=cli_env(tmp_path))
    assert out.returncode == 1
    assert "cannot read" in out.stderr and "Traceback" not in out.stderr


# -- lamina logs ------------------------------------------------------------------------------------
GROUP = "/aws/lambda/hello"
STREAM = "2024/02/21/[$LATEST]0123456789abcdef0123456789abcdef"


def batch(*messages: str, at: int, stream: str = STREAM, group: str = GROUP):
    events = tuple(SimpleNamespace(timestamp_ms=at + index, message=message) for index, message in enumerate(messages))
    return SimpleNamespace(group=group, stream=stream, events=events)


@pytest.fixture
def logs_server(tmp_path):
    engine = open_database(sqlite_url(tmp_path))
    store = LogStore(engine)
    api = Logs(store, "us-east-1", "000000000000")
    with serving(Starlette(routes=[Route("/", logs_endpoint(api), methods=["POST"])])) as url:
        yield SimpleNamespace(url=url, store=store)
    engine.dispose()


def seed(store: LogStore) -> int:
    now = int(time.time() * 1000) - 5_000
    store.append([batch(
        "START RequestId: 4439301b Version: $LATEST\n",
        "[INFO]\t2024-02-21T13:12:33.933Z\t4439301b\tsaying hello\n",
        "[WARNING]\t2024-02-21T13:12:33.934Z\t4439301b\tcareful\n",
        "[ERROR] ValueError: boom\rTraceback (most recent call last):\r\u00a0\u00a0File \"/var/task/app.py\"\n",
        "END RequestId: 4439301b\n",
        "REPORT RequestId: 4439301b\tDuration: 1.00 ms\tBilled Duration: 1 ms\n",
        at=now)])
    store.append([batch("an hour ago\n", at=now - 3_600_000)])
    store.append([batch("someone else\n", at=now, group="/aws/lambda/other")])
    return now


def test_logs_prints_a_function_log_group(logs_server, tmp_path):
    now = seed(logs_server.store)
    out = lamina("logs", "hello", "--endpoint", logs_server.url, env=cli_env(tmp_path))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].endswith("[$LATEST]01234567 START RequestId: 4439301b Version: $LATEST")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now / 1000))
    assert lines[0].startswith(stamp + f".{now % 1000:03d}Z ")
    assert any("saying hello" in line for line in lines)
    error = next(index for index, line in enumerate(lines) if "[ERROR] ValueError: boom" in line)
    assert lines[error + 1].strip() == "Traceback (most recent call last):"  # the \r-joined traceback, unfolded
    assert lines[error + 1].startswith(" " * 20)
    assert "REPORT RequestId" in lines[-1]
    assert "an hour ago" not in out.stdout and "someone else" not in out.stdout  # --since 10m, one group

    older = lamina("logs", "hello", "--since", "2h", "--endpoint", logs_server.url, env=cli_env(tmp_path))
    assert "an hour ago" in older.stdout.splitlines()[0]

    only = lamina("logs", "hello", "--filter", "ERROR", "--endpoint", logs_server.url, env=cli_env(tmp_path))
    assert only.returncode == 0
    assert "[ERROR] ValueError: boom" in only.stdout and "saying hello" not in only.stdout


def test_logs_colours_platform_lines_errors_and_warnings(logs_server, tmp_path):
    seed(logs_server.store)
    out = lamina("logs", "hello", "--endpoint", logs_server.url, env=cli_env(tmp_path, FORCE_COLOR="1",
                                                                             TERM="xterm-256color"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    start = next(line for line in lines if "START RequestId" in line)
    error = next(line for line in lines if "[ERROR]" in line)
    warning = next(line for line in lines if "[WARNING]" in line)
    assert "\x1b[2m" in start
    assert "\x1b[31m" in error
    assert "\x1b[33m" in warning


def test_logs_of_a_function_that_never_ran(logs_server, tmp_path):
    out = lamina("logs", "nobody", "--endpoint", logs_server.url, env=cli_env(tmp_path))
    assert out.returncode == 1
    assert "/aws/lambda/nobody does not exist" in out.stderr and "Traceback" not in out.stderr


def test_logs_follow_prints_new_events_once(logs_server, tmp_path):
    seed(logs_server.store)
    proc = subprocess.Popen([sys.executable, "-m", "lamina.cli", "logs", "hello", "--follow", "--endpoint",
                             logs_server.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env(tmp_path))
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True)
    reader.start()

    def read_until(text: str) -> list[str]:
        seen = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append(line)
            if text in line:
                return seen
        raise AssertionError(f"{text!r} never came; got {seen}")

    try:
        read_until("REPORT RequestId")
        logs_server.store.append([batch("fresh news\n", at=int(time.time() * 1000))])
        read_until("fresh news")
        logs_server.store.append([batch("second stream\n", at=int(time.time() * 1000),
                                        stream="2024/02/21/[3]fedcba9876543210fedcba9876543210")])
        late = read_until("second stream")
        assert late[-1].split()[1] == "[3]fedcba98"
        time.sleep(2.5)  # a few more polls: nothing is printed twice
        assert lines.empty()
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=10) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


# -- formatting helpers ------------------------------------------------------------------------------
@pytest.mark.parametrize(("message", "style"), [
    ("START RequestId: x Version: $LATEST", "dim"),
    ("END RequestId: x", "dim"),
    ("REPORT RequestId: x\tDuration: 1.00 ms", "dim"),
    ("INIT_START Runtime Version: python:3.12", "dim"),
    ("[ERROR] KeyError: 'a'\rTraceback (most recent call last):", "red"),
    ("Traceback (most recent call last):\n  File x", "red"),
    ("2024-02-21T13:12:33.933Z 4439301b Task timed out after 3.03 seconds", "red"),
    ("[WARNING]\t2024-02-21T13:12:33.933Z\tx\tcareful", "yellow"),
    ('{"level":"ERROR","message":"bad"}', "red"),
    ('{"level":"WARN","message":"hmm"}', "yellow"),
    ('{"time":"t","type":"platform.report","record":{}}', "dim"),
    ("[INFO]\t2024-02-21T13:12:33.933Z\tx\tfine", None),
    ("plain print output", None),
])
def test_message_style(message, style):
    assert message_style(message) == style


@pytest.mark.parametrize(("stream", "short"), [
    ("2024/02/21/[$LATEST]0123456789abcdef0123456789abcdef", "[$LATEST]01234567"),
    ("2024/02/21/[12]fedcba9876543210fedcba9876543210", "[12]fedcba98"),
    ("my-own-stream", "my-own-stream"),
])
def test_short_stream(stream, short):
    assert short_stream(stream) == short


def test_parse_since():
    now = 1_700_000_000.0
    assert parse_since("10m", now) == (now - 600) * 1000
    assert parse_since("30s", now) == (now - 30) * 1000
    assert parse_since("2h", now) == (now - 7200) * 1000
    assert parse_since("1w", now) == (now - 604800) * 1000
    assert parse_since("2023-11-14T22:13:20+00:00", now) == 1_700_000_000_000
    with pytest.raises(ValueError, match="--since"):
        parse_since("yesterday", now)


def test_log_line_text():
    line = log_line({"timestamp": 1_700_000_000_123, "logStreamName": "2024/02/21/[$LATEST]00112233445566778899",
                     "message": "one\rtwo\n"})
    assert line.plain == "2023-11-14T22:13:20.123Z [$LATEST]00112233 one\n" + " " * 43 + "two"
