"""The console in a real headless Chromium (Debian's `chromium`, driven by Playwright for Python):
the seed's getting-started path, from a blueprint to clean-up, at 1280 and 390 pixels wide.

Every page is screenshotted into test-artifacts/console/ (gitignored) and checked not blank; any
browser console error or uncaught page error fails the test. Steps run in order on one server and
one browser (module scope); each test is one step of the walk.
"""

from __future__ import annotations

import json
import os
import struct
import threading
import zlib
from pathlib import Path

import pytest

from support import ROLE, LaminaProcess, client_for, make_zip, needs_chromium

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
HOST_PYTHON = "/usr/bin/python3.11"  # an interpreter under /usr is visible inside the sandbox: py-spy reads it
FUNCTION = "walk"

pytestmark = needs_chromium


def png_is_blank(data: bytes) -> bool:
    """Whether a PNG screenshot is one flat colour (decoded by hand: the idea is only 'not blank')."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat = 8, b""
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IDAT":
            idat += data[offset + 8:offset + 8 + length]
        offset += 12 + length
    pixels = zlib.decompress(idat)
    return len(set(pixels)) < 16


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {"LAMINA_RUNTIME_PATHS": f"python3.11={HOST_PYTHON}"} if Path(HOST_PYTHON).exists() else {}
    process = LaminaProcess(tmp_path_factory.mktemp("console") / "data", env=env).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def lam(server):
    return client_for(server.url)


class Page:
    """One browser page that records console errors and saves checked screenshots."""

    def __init__(self, browser, base: str, width: int) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
        self.page = self.context.new_page()
        self.base, self.width = base, width
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def goto(self, path: str):
        response = self.page.goto(self.base + path)
        assert response is not None and response.status == 200, (path, response and response.status)
        return self.page

    def shot(self, name: str) -> None:
        data = self.page.screenshot(full_page=True)
        (ARTIFACTS / f"{name}-{self.width}.png").write_bytes(data)
        assert not png_is_blank(data), name

    def check(self) -> None:
        assert self.errors == [], self.errors


@pytest.fixture(scope="module")
def wide(browser, server):
    page = Page(browser, server.url, 1280)
    yield page
    page.context.close()


@pytest.fixture(autouse=True)
def no_console_errors(request):
    yield
    if "wide" in request.fixturenames:
        request.getfixturevalue("wide").check()


def test_functions_list_and_keyboard(wide):
    page = wide.goto("/console/functions")
    assert page.get_by_role("heading", name="Functions").is_visible()
    page.keyboard.press("Tab")
    focused = page.evaluate("() => [document.activeElement.textContent, getComputedStyle(document.activeElement).outlineStyle]")
    assert focused[0] == "Skip to content" and focused[1] != "none"
    wide.shot("functions-empty")


def test_create_from_blueprint(wide):
    page = wide.goto("/console/create")
    wide.shot("create")
    page.get_by_label("Use a blueprint").check()
    page.get_by_label("Function name").fill(FUNCTION)
    page.locator("input[name=blueprint][value=hello-world-python]").check()
    page.get_by_role("button", name="Create function").click()
    page.wait_for_url(f"**/console/functions/{FUNCTION}/code")
    page.locator(".cm-editor").wait_for()
    assert "lambda_handler" in page.locator(".cm-content").inner_text()


def test_edit_and_deploy_code(wide, lam):
    page = wide.page
    page.locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type('print("edited in the browser")')
    assert page.locator("#dirty").is_visible()
    page.get_by_role("button", name="Deploy", exact=True).click()
    page.get_by_text("Deployed. CodeSha256").wait_for()
    assert page.locator("#dirty").is_hidden()
    lam.get_waiter("function_updated_v2").wait(FunctionName=FUNCTION)
    wide.shot("code")


def test_saved_event_and_execution_result(wide):
    page = wide.goto(f"/console/functions/{FUNCTION}/test")
    page.locator("#event-editor .cm-editor").wait_for()
    assert page.get_by_label("Saved events (shared with everyone using this lamina)").input_value() == "default"
    page.get_by_label("Template").select_option("sqs")
    page.get_by_label("Event name").fill("walk-event")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("Saved test event walk-event.").wait_for()
    assert page.get_by_label("Saved events (shared with everyone using this lamina)").input_value() == "walk-event"
    assert '"eventSource": "aws:sqs"' in page.locator("#event").input_value()
    page.get_by_role("button", name="Test", exact=True).click()
    result = page.locator("#result .result")
    result.wait_for()
    assert "Execution result: succeeded" in result.inner_text()
    log = page.locator("#result pre.log").inner_text()
    assert "edited in the browser" in log and "REPORT RequestId" in log and "aws:sqs" in log
    summary = page.locator("#result dl.summary").inner_text()
    for field in ("Duration", "Billed Duration", "Memory Size", "Max Memory Used", "Init Duration"):
        assert field in summary
    assert "ms" in page.locator("#result dl.summary div:has(dt:text-is('Billed Duration')) dd").inner_text()
    wide.shot("test")


def test_monitor_shows_the_invocation(wide):
    page = wide.goto(f"/console/functions/{FUNCTION}/monitor")
    page.locator("#charts[data-loaded=true]").wait_for()
    assert int(page.locator("#charts").get_attribute("data-invocations")) >= 1
    assert page.locator("#charts canvas").count() >= 10
    titles = page.locator("#charts figure h3").all_inner_texts()
    assert {"Async queue depth (events, max)", "Async event age (ms, max)", "Iterator age (ms, max)"} <= set(titles)
    assert page.locator("#queue-depth").inner_text().endswith(" events")  # this function's, from /system/metrics
    assert page.locator("#iterator-age").inner_text().endswith(" ms")
    link = page.locator("#recent a").first
    link.wait_for()
    request_id = link.inner_text()
    wide.shot("monitor")
    link.click()
    page.wait_for_url("**/logs?request=*")
    rows = page.locator("#log-rows").inner_text()
    assert request_id in rows and "REPORT" in rows
    wide.shot("logs")


def test_logs_filter_and_live_tail(wide, lam):
    page = wide.goto(f"/console/functions/{FUNCTION}/logs?filter=edited")
    assert "edited in the browser" in page.locator("#log-rows").inner_text()
    assert "REPORT" not in page.locator("#log-rows").inner_text()
    page = wide.goto(f"/console/functions/{FUNCTION}/logs")
    page.get_by_label("Live tail").check()
    lam.invoke(FunctionName=FUNCTION, Payload=json.dumps({"live": "tail-marker"}).encode())
    page.locator("#log-rows", has_text="tail-marker").wait_for(timeout=20_000)
    page.get_by_label("Live tail").uncheck()


def test_configuration_trigger_and_settings(wide, lam):
    lam.create_function(FunctionName="walk-destination", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return e\n"})})
    destination = lam.get_function(FunctionName="walk-destination")["Configuration"]["FunctionArn"]
    page = wide.goto(f"/console/functions/{FUNCTION}/configuration")
    page.get_by_label("On-success destination (function ARN)").fill(destination)
    page.get_by_label("Retry attempts (0–2)").fill("1")
    page.get_by_role("button", name="Save asynchronous configuration").click()
    page.get_by_text("Saved async.").wait_for()
    config = lam.get_function_event_invoke_config(FunctionName=FUNCTION)
    assert config["DestinationConfig"]["OnSuccess"]["Destination"] == destination
    assert config["MaximumRetryAttempts"] == 1
    page.get_by_label("One KEY=VALUE per line").first.fill("STAGE=walk\n")
    page.get_by_role("button", name="Save environment variables").click()
    page.get_by_text("Saved environment.").wait_for()
    assert lam.get_function_configuration(FunctionName=FUNCTION)["Environment"]["Variables"] == {"STAGE": "walk"}
    text = page.locator("#triggers").inner_text() + page.locator("#permissions").inner_text()
    assert "Function URLs" in text and "Resource-based policy" in text and "not available" not in text
    wide.shot("configuration")


def test_add_list_and_remove_triggers(wide, lam, server):
    """A function URL (AuthType NONE) and an EventBridge schedule rule added through the console are
    listed there, exist for boto3, and the rule goes away again through the console."""
    events = client_for(server.url, "events")
    arn = lam.get_function(FunctionName=FUNCTION)["Configuration"]["FunctionArn"]
    page = wide.goto(f"/console/functions/{FUNCTION}/configuration")
    page.get_by_label("Auth type").select_option("NONE")
    page.get_by_role("button", name="Create function URL").click()
    page.get_by_text("Created function URL").wait_for()
    urls = lam.list_function_url_configs(FunctionName=FUNCTION)["FunctionUrlConfigs"]
    assert [u["AuthType"] for u in urls] == ["NONE"]
    assert page.locator("#url-list").inner_text().startswith(urls[0]["FunctionUrl"])
    policy = json.loads(lam.get_policy(FunctionName=FUNCTION)["Policy"])
    assert {"lambda:InvokeFunctionUrl"} <= {s["Action"] for s in policy["Statement"]}

    page.get_by_label("Rule name").fill("walk-every-5")
    page.get_by_label("Every (minutes)").fill("5")
    page.get_by_role("button", name="Add schedule rule").click()
    page.get_by_text("Added schedule rule walk-every-5 (rate(5 minutes)).").wait_for()
    assert page.locator("#rule-list").inner_text().startswith("walk-every-5")
    assert events.list_rule_names_by_target(TargetArn=arn)["RuleNames"] == ["walk-every-5"]
    assert events.describe_rule(Name="walk-every-5")["ScheduleExpression"] == "rate(5 minutes)"
    assert [t["Arn"] for t in events.list_targets_by_rule(Rule="walk-every-5")["Targets"]] == [arn]
    wide.shot("triggers")

    page.get_by_role("button", name="Remove rule walk-every-5").click()
    page.get_by_text("Removed rule walk-every-5.").wait_for()
    assert page.locator("#rule-list").count() == 0
    assert events.list_rule_names_by_target(TargetArn=arn)["RuleNames"] == []
    assert "walk-every-5" not in [r["Name"] for r in events.list_rules()["Rules"]]


def test_versions_and_weighted_alias(wide, lam):
    page = wide.goto(f"/console/functions/{FUNCTION}/aliases")
    page.get_by_role("button", name="Publish new version").click()
    page.get_by_text("Published version 1.").wait_for()
    lam.update_function_configuration(FunctionName=FUNCTION, Description="second")
    lam.get_waiter("function_updated_v2").wait(FunctionName=FUNCTION)
    page.get_by_role("button", name="Publish new version").click()
    page.get_by_text("Published version 2.").wait_for()
    page.get_by_label("Name").fill("live")
    page.get_by_label("Version", exact=True).select_option("1")
    page.get_by_label("Additional version", exact=True).select_option("2")
    page.locator("#weight").fill("25")
    page.get_by_role("button", name="Save alias").click()
    page.get_by_text("Saved alias live.").wait_for()
    alias = lam.get_alias(FunctionName=FUNCTION, Name="live")
    assert alias["FunctionVersion"] == "1" and alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.25}
    wide.shot("aliases")


@pytest.mark.skipif(not Path(HOST_PYTHON).exists() or os.geteuid() != 0,
                    reason=f"profiling a namespaced environment needs root and an interpreter under /usr ({HOST_PYTHON})")
def test_profile_flame_graph(wide, lam, tmp_path):
    spin = ("import time\n\ndef spin(seconds):\n    end = time.time() + seconds\n    while time.time() < end:\n"
            "        sum(range(1000))\n\ndef lambda_handler(event, context):\n    spin(0.3)\n    return 'spun'\n")
    lam.update_function_code(FunctionName=FUNCTION, ZipFile=make_zip({"lambda_function.py": spin}))
    lam.get_waiter("function_updated_v2").wait(FunctionName=FUNCTION)
    lam.invoke(FunctionName=FUNCTION)  # a warm environment to sample
    page = wide.goto(f"/console/functions/{FUNCTION}/profile")
    page.get_by_label("Seconds to sample (1–60)").fill("3")
    stop = threading.Event()

    def invoke_until_stopped():
        while not stop.is_set():
            lam.invoke(FunctionName=FUNCTION)

    worker = threading.Thread(target=invoke_until_stopped)
    worker.start()
    try:
        page.get_by_role("button", name="Start profiling").click()
        page.locator("#flame .flame-bar").first.wait_for(timeout=30_000)
    finally:
        stop.set()
        worker.join()
    assert "spin" in page.locator("#flame").inner_text()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download speedscope JSON").click()
    document = json.loads(Path(download.value.path()).read_text())
    assert document["$schema"].startswith("https://www.speedscope.app/") and document["profiles"]
    wide.shot("profile")


def test_cost_layers_account_server_pages(wide):
    for path, name in ((f"/console/functions/{FUNCTION}/cost", "cost"), ("/console/layers", "layers"),
                       ("/console/account", "account"), ("/console/server", "server")):
        page = wide.goto(path)
        assert page.locator("h1, h2").first.is_visible()
        wide.shot(name)
    assert "python3.11" in wide.page.locator("body").inner_text()


def test_nav_reaches_code_signing_and_mappings(wide, lam):
    """The nav's Code signing configurations and Event source mappings links: the lists, a mapping's
    function link back to the function."""
    mapping = lam.create_event_source_mapping(EventSourceArn="arn:aws:sqs:us-east-1:000000000000:walk-queue",
                                              FunctionName=FUNCTION, Enabled=False)
    try:
        page = wide.goto("/console/functions")
        page.get_by_role("navigation", name="Console").get_by_role("link", name="Code signing configurations").click()
        page.wait_for_url("**/console/code-signing-configs")
        assert page.get_by_role("heading", name="Code signing configurations").is_visible()
        assert "aws lambda create-code-signing-config" in page.locator("table").inner_text()
        wide.shot("code-signing-configs")
        page.get_by_role("navigation", name="Console").get_by_role("link", name="Event source mappings").click()
        page.wait_for_url("**/console/event-source-mappings")
        row = page.get_by_role("row").filter(has_text=mapping["UUID"])
        assert "walk-queue" in row.inner_text() and "Disabled" in row.inner_text()
        wide.shot("event-source-mappings")
        row.get_by_role("link", name=FUNCTION, exact=True).click()
        page.wait_for_url(f"**/console/functions/{FUNCTION}/code")
    finally:
        lam.delete_event_source_mapping(UUID=mapping["UUID"])


def test_narrow_viewport(browser, server):
    narrow = Page(browser, server.url, 390)
    try:
        for path, name in (("/console/functions", "functions"), (f"/console/functions/{FUNCTION}/test", "test"),
                           (f"/console/functions/{FUNCTION}/configuration", "configuration"),
                           (f"/console/functions/{FUNCTION}/monitor", "monitor"), ("/console/create", "create"),
                           (f"/console/functions/{FUNCTION}/code", "code"), (f"/console/functions/{FUNCTION}/logs", "logs"),
                           (f"/console/functions/{FUNCTION}/aliases", "aliases"), ("/console/server", "server"),
                           ("/console/code-signing-configs", "code-signing-configs"),
                           ("/console/event-source-mappings", "event-source-mappings")):
            page = narrow.goto(path)
            page.wait_for_load_state("networkidle")
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, (path, overflow)
            narrow.shot(name)
        narrow.check()
    finally:
        narrow.context.close()


def test_delete_function_and_its_log_group(wide, lam, server):
    logs = client_for(server.url, "logs")
    assert logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{FUNCTION}")["logGroups"]
    page = wide.goto("/console/functions")
    page.get_by_label("Filter by name").fill(FUNCTION)
    page.wait_for_url(f"**/console/functions?q={FUNCTION}")  # htmx swapped the filtered list in and pushed its URL
    page.wait_for_load_state("networkidle")
    wide.shot("functions")
    page.get_by_label(f"Select {FUNCTION}", exact=True).check()
    page.get_by_label("Also delete their log groups").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete selected").click()
    page.wait_for_url("**/console/functions?flash=*")
    assert page.locator(".flash").inner_text() == "Deleted 1 function and their log groups."
    names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    assert FUNCTION not in names and "walk-destination" in names
    groups = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{FUNCTION}")["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/aws/lambda/walk-destination"] or groups == []
