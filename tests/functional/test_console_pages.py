"""The console's server side over plain HTTP (no browser): its pages, the saved test events API
(/_lamina/test-events) and the profiling API (/_lamina/profiles), against a real server."""

from __future__ import annotations

import datetime
import json
import re
import time

import httpx
import pytest

from support import ROLE, client_for, make_zip

TABS = ("code", "test", "monitor", "monitor/recent", "logs", "logs/rows", "configuration", "aliases", "profile",
        "cost")


@pytest.fixture(scope="module")
def http(lamina):
    with httpx.Client(base_url=lamina.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def iam(lamina):
    return client_for(lamina.url, "iam")


@pytest.fixture(scope="module")
def function(lam):
    lam.create_function(FunctionName="pages", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    print('hi')\n    return e\n"})})
    lam.get_waiter("function_active_v2").wait(FunctionName="pages")
    lam.invoke(FunctionName="pages", Payload=b"{}")
    return "pages"


def test_every_page_renders(http, function):
    for path in ("/console/functions", "/console/create", "/console/layers", "/console/code-signing-configs",
                 "/console/event-source-mappings", "/console/account", "/console/server",
                 *(f"/console/functions/{function}/{tab}" for tab in TABS)):
        response = http.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        assert response.headers["content-type"].startswith("text/html")
    assert http.get("/console", follow_redirects=False).headers["location"] == "/console/functions"
    assert "pages" in http.get("/console/functions?q=pag").text
    assert "pages" not in http.get("/console/functions?q=zzz").text.split("<tbody>")[1]


def test_missing_function_is_a_404_page(http):
    response = http.get("/console/functions/nope/code")
    assert response.status_code == 404
    assert "ResourceNotFoundException" in response.text and "function:nope" in response.text


def test_create_shows_the_api_error(http, iam):
    response = http.post("/console/create", data={"mode": "scratch", "name": "bad name!", "runtime": "python3.11",
                                                  "architecture": "x86_64", "role_mode": "basic"})
    assert response.status_code == 400
    # Lambda's own refusal of the name, before any role is made for the function.
    assert "1 validation error detected" in response.text and "bad name!" in response.text
    assert "functionName" in response.text and "roleName" not in response.text
    assert not [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("bad")]


def test_create_from_scratch_and_configure(http, lam):
    response = http.post("/console/create", data={"mode": "scratch", "name": "scratchy", "runtime": "python3.11",
                                                  "architecture": "arm64", "role_mode": "basic"})
    assert response.status_code == 303 and response.headers["location"] == "/console/functions/scratchy/code"
    config = lam.get_function_configuration(FunctionName="scratchy")
    assert config["Architectures"] == ["arm64"] and config["Handler"] == "lambda_function.lambda_handler"
    # "Create a new role with basic Lambda permissions" made one for it, as the AWS console names it.
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/service-role/scratchy-role-[a-z0-9]{8}", config["Role"])
    lam.get_waiter("function_active_v2").wait(FunctionName="scratchy")
    saved = http.post("/console/functions/scratchy/configuration/general",
                      data={"description": "from the console", "memory": "256", "timeout": "10", "ephemeral": "1024",
                            "handler": "lambda_function.lambda_handler", "role": config["Role"]})
    assert saved.status_code == 303 and "flash=Saved+general" in saved.headers["location"]
    config = lam.get_function_configuration(FunctionName="scratchy")
    assert (config["MemorySize"], config["Timeout"], config["EphemeralStorage"]["Size"]) == (256, 10, 1024)
    refused = http.post("/console/functions/scratchy/configuration/general",
                        data={"memory": "64", "timeout": "10", "ephemeral": "512", "handler": "x.y"})
    assert "problem=" in refused.headers["location"] and "'memorySize'" in httpx.URL(refused.headers["location"]).params["problem"]
    tagged = http.post("/console/functions/scratchy/configuration/tags", data={"tags": "team=web\nstage=dev"})
    assert tagged.status_code == 303
    arn = config["FunctionArn"]
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "web", "stage": "dev"}
    http.post("/console/functions/scratchy/configuration/tags", data={"tags": "team=api"})
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "api"}
    http.post("/console/functions/scratchy/configuration/concurrency", data={"reserved": "3"})
    assert lam.get_function_concurrency(FunctionName="scratchy")["ReservedConcurrentExecutions"] == 3
    http.post("/console/functions/scratchy/configuration/concurrency", data={"reserved": ""})
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName="scratchy")


def test_deploy_keeps_other_files(http, lam, function):
    answer = http.post(f"/console/functions/{function}/code",
                       json={"files": {"app.py": "def handler(e, c):\n    return 'deployed'\n", "extra.txt": "x"}})
    assert answer.status_code == 200, answer.text
    lam.get_waiter("function_updated_v2").wait(FunctionName=function)
    assert json.loads(lam.invoke(FunctionName=function)["Payload"].read()) == "deployed"
    bad = http.post(f"/console/functions/{function}/zip", content=b"not a zip")
    assert bad.status_code == 400 and "InvalidParameterValueException" in bad.json()["error"]


def test_test_events_api(http, lam):
    lam.create_function(FunctionName="events", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return e\n"})})
    assert http.get("/_lamina/test-events/events").json() == {"TestEvents": []}
    saved = http.put("/_lamina/test-events/events/first", json={"Event": '{"a": 1}'})
    assert saved.status_code == 200
    assert saved.json()["Name"] == "first" and saved.json()["Event"] == '{"a": 1}'
    listed = http.get("/_lamina/test-events/events").json()["TestEvents"]
    assert [e["Name"] for e in listed] == ["first"] and isinstance(listed[0]["LastModified"], float)
    for path, body, status, code in (
        ("/_lamina/test-events/events/bad name", {"Event": "{}"}, 400, "InvalidParameterValueException"),
        ("/_lamina/test-events/events/ok", {"Event": "{"}, 400, "InvalidParameterValueException"),
        ("/_lamina/test-events/events/ok", {"Event": {"a": 1}}, 400, "InvalidParameterValueException"),
        ("/_lamina/test-events/missing/ok", {"Event": "{}"}, 404, "ResourceNotFoundException"),
    ):
        answer = http.put(path, json=body)
        assert (answer.status_code, answer.headers["x-amzn-errortype"]) == (status, code), answer.text
    not_json = http.put("/_lamina/test-events/events/ok", content=b"{nope")
    assert not_json.headers["x-amzn-errortype"] == "InvalidRequestContentException"
    assert http.delete("/_lamina/test-events/events/first").status_code == 204
    assert http.delete("/_lamina/test-events/events/first").status_code == 404
    http.put("/_lamina/test-events/events/kept", json={"Event": "[]"})
    lam.delete_function(FunctionName="events")  # its events go with it
    lam.create_function(FunctionName="events", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return e\n"})})
    assert http.get("/_lamina/test-events/events").json() == {"TestEvents": []}


def test_profiles_api_errors(http, lam):
    lam.create_function(FunctionName="node-fn", Runtime="nodejs20.x", Handler="index.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"index.js": "exports.handler = async () => 1;\n"})})
    for body, status, code in (
        ({"FunctionName": "missing"}, 404, "ResourceNotFoundException"),
        ({"FunctionName": "node-fn"}, 400, "InvalidParameterValueException"),
        ({"FunctionName": "node-fn", "DurationSeconds": 0}, 400, "InvalidParameterValueException"),
        ({}, 400, "InvalidParameterValueException"),
    ):
        answer = http.post("/_lamina/profiles", json=body)
        assert (answer.status_code, answer.headers["x-amzn-errortype"]) == (status, code), answer.text


def test_health_lists_the_runtimes_this_host_runs(http):
    health = http.get("/health").json()
    assert health["runtimes"]["python3.11"] is None
    assert health["accountId"] == "000000000000" and health["region"] == "us-east-1"


def test_duration_percentiles_from_report_lines(http, lam, function):
    for _ in range(3):
        lam.invoke(FunctionName=function)
    deadline = time.monotonic() + 20  # REPORT lines reach the log store in batches, off the hot path
    while True:
        answer = http.get(f"/console/functions/{function}/monitor/durations?minutes=15").json()
        if answer["reports"] >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert answer["reports"] >= 3 and not answer["truncated"]
    minute = next(iter(answer["minutes"].values()))
    assert 0 < minute["p50"] <= minute["p99"] and minute["count"] >= 1


def test_delete_from_the_function_page(http, lam):
    lam.create_function(FunctionName="doomed", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return e\n"})})
    page = http.get("/console/functions/doomed/code").text
    assert 'name="name" value="doomed"' in page and "Delete function" in page
    answer = http.post("/console/functions/delete", data={"name": "doomed"})
    assert answer.status_code == 303 and "Deleted+1+function." in answer.headers["location"]
    assert "doomed" not in [f["FunctionName"] for f in lam.list_functions()["Functions"]]


def test_forged_cross_site_post_is_refused(http, lam):
    lam.create_function(FunctionName="guarded", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return e\n"})})
    answer = http.post("/console/functions/delete", data={"name": "guarded"},
                       headers={"Origin": "http://evil.example"})
    assert answer.status_code == 403
    assert "guarded" in [f["FunctionName"] for f in lam.list_functions()["Functions"]]


def test_sections_say_when_their_api_is_not_on_this_server(http, function):
    """Each trigger/permission section asks its public API; one this server lacks is named, not an error."""
    page = http.get(f"/console/functions/{function}/configuration").text
    probes = {
        "Event source mappings (ListEventSourceMappings)": ("GET", f"/2015-03-31/event-source-mappings?FunctionName={function}"),
        "Function URLs (ListFunctionUrlConfigs)": ("GET", f"/2021-10-31/functions/{function}/urls"),
        "Resource-based policies (GetPolicy)": ("GET", f"/2015-03-31/functions/{function}/policy"),
    }
    for label, (method, path) in probes.items():
        answer = http.request(method, path)
        missing = answer.headers.get("x-amzn-errortype", "").startswith("UnknownOperationException")
        assert (f"{label}: not available on this server." in page) is missing, (label, answer.status_code)
    assert "Traceback" not in page and "internal error" not in page


def test_test_tab_invoke_fragment(http, lam):
    lam.create_function(FunctionName="fails", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    print('about to fail')\n"
                                                             "    raise ValueError('no')\n"})})
    lam.get_waiter("function_active_v2").wait(FunctionName="fails")
    fragment = http.post("/console/functions/fails/test/invoke", data={"event": '{"x": 1}'}).text
    assert "Execution result: failed (Unhandled)" in fragment
    assert "ValueError" in fragment and "about to fail" in fragment and "Billed Duration" in fragment
    refused = http.post("/console/functions/fails/test/invoke", data={"event": "{not json"}).text
    assert "The event is not valid JSON" in refused


def test_triggers_added_and_removed_over_plain_http(http, lam, function):
    """The Triggers forms: an SQS mapping (disabled, so nothing polls), a function URL and its public grant,
    each deleted again; bad input comes back as the page's problem, not an error page."""
    base = f"/console/functions/{function}/configuration/"

    def problem(response) -> str:
        assert response.status_code == 303, response.status_code
        return httpx.URL(response.headers["location"]).params.get("problem", "")

    assert "arn:aws:sqs:REGION" in problem(http.post(base + "trigger-sqs", data={"queue": "orders", "batch": "10"}))
    assert problem(http.post(base + "trigger-schedule", data={"rule": "r", "minutes": "0"})) == \
        "Every (minutes) must be at least 1."
    queue_arn = "arn:aws:sqs:us-east-1:000000000000:console-orders"
    assert problem(http.post(base + "trigger-sqs", data={"queue": queue_arn, "batch": "7"})) == ""
    mappings = lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
    assert [(m["EventSourceArn"], m["BatchSize"], m["State"]) for m in mappings] == [(queue_arn, 7, "Disabled")]
    page = http.get(f"/console/functions/{function}/configuration").text
    assert queue_arn in page and mappings[0]["UUID"] in page
    assert problem(http.post(base + "trigger-mapping-delete", data={"uuid": mappings[0]["UUID"]})) == ""
    deadline = time.monotonic() + 20
    while lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]:
        assert time.monotonic() < deadline, "the mapping was not deleted"
        time.sleep(0.2)

    assert problem(http.post(base + "trigger-url", data={"auth": "NONE", "qualifier": ""})) == ""
    url = lam.get_function_url_config(FunctionName=function)["FunctionUrl"]
    assert url in http.get(f"/console/functions/{function}/configuration").text
    sids = [s["Sid"] for s in json.loads(lam.get_policy(FunctionName=function)["Policy"])["Statement"]]
    assert "FunctionURLAllowPublicAccess" in sids
    again = problem(http.post(base + "trigger-url", data={"auth": "NONE", "qualifier": ""}))
    assert again.startswith("ResourceConflictException")  # the API's own answer: one URL per qualifier
    assert problem(http.post(base + "trigger-url-delete", data={"qualifier": ""})) == ""
    assert lam.list_function_url_configs(FunctionName=function)["FunctionUrlConfigs"] == []
    try:
        statements = json.loads(lam.get_policy(FunctionName=function)["Policy"])["Statement"]
    except lam.exceptions.ResourceNotFoundException:
        statements = []
    assert "FunctionURLAllowPublicAccess" not in [s["Sid"] for s in statements]


def test_triggers_show_each_mappings_tags(http, lam, function):
    """Configuration → Triggers shows a mapping's tags (ListTags on its ARN) next to it, and follows
    TagResource/UntagResource; a mapping without tags shows none."""
    tagged = lam.create_event_source_mapping(
        EventSourceArn="arn:aws:sqs:us-east-1:000000000000:console-tagged", FunctionName=function, Enabled=False,
        Tags={"team": "core", "stage": "dev"})
    plain = lam.create_event_source_mapping(
        EventSourceArn="arn:aws:sqs:us-east-1:000000000000:console-plain", FunctionName=function, Enabled=False)
    try:
        def tags_on_page() -> dict[str, list[str]]:
            page = http.get(f"/console/functions/{function}/configuration").text
            assert "Traceback" not in page
            shown = dict(re.findall(r'aria-label="Tags of mapping ([0-9a-f-]{36})">(.*?)</span>', page))
            return {uuid: re.findall(r'<code class="tag">([^<]*)</code>', html) for uuid, html in shown.items()}

        assert tags_on_page() == {tagged["UUID"]: ["stage=dev", "team=core"]}  # none shown for the plain one
        lam.tag_resource(Resource=plain["EventSourceMappingArn"], Tags={"owner": "ana@example"})
        lam.untag_resource(Resource=tagged["EventSourceMappingArn"], TagKeys=["stage"])
        assert tags_on_page() == {tagged["UUID"]: ["team=core"], plain["UUID"]: ["owner=ana@example"]}
    finally:
        for mapping in (tagged, plain):
            lam.delete_event_source_mapping(UUID=mapping["UUID"])


def table_rows(page: str) -> list[str]:
    """The <tr>s of a list page's table body, as HTML."""
    return re.findall(r"<tr>(.*?)</tr>", page.split("<tbody>")[1].split("</tbody>")[0], re.S)


def test_code_signing_configs_page(http, lam, lamina):
    """Code signing configurations: one row per config (all pages of ListCodeSigningConfigs) with its
    publishers, policy and the functions using it, linked; escaped; the empty state names the CLI."""
    path = "/console/code-signing-configs"
    assert lam.list_code_signing_configs()["CodeSigningConfigs"] == []
    empty = http.get(path)
    assert empty.status_code == 200 and "aws lambda create-code-signing-config" in empty.text
    assert 'href="/console/code-signing-configs"' in empty.text  # in the nav

    signer = client_for(lamina.url, "signer")
    profile = signer.put_signing_profile(profileName="consolepages", platformId="AWSLambda-SHA384-ECDSA")
    publishers = {"SigningProfileVersionArns": [profile["profileVersionArn"]]}
    enforce = lam.create_code_signing_config(Description="orders <b>team</b>", AllowedPublishers=publishers,
                                             CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Enforce"})
    warn = lam.create_code_signing_config(AllowedPublishers=publishers,
                                          CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Warn"})
    enforce_arn, warn_arn = (c["CodeSigningConfig"]["CodeSigningConfigArn"] for c in (enforce, warn))
    # more than one page of ListCodeSigningConfigs (50 a page)
    extra = [lam.create_code_signing_config(AllowedPublishers=publishers)["CodeSigningConfig"]["CodeSigningConfigArn"]
             for _ in range(50)]
    code = {"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return e\n"})}
    # unsigned code may be deployed under Warn; the Enforce config is bound after the code is in place
    lam.create_function(FunctionName="csc-warned", Runtime="python3.11", Handler="app.handler", Role=ROLE, Code=code,
                        CodeSigningConfigArn=warn_arn)
    lam.create_function(FunctionName="csc-enforced", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                        Code=code)
    lam.put_function_code_signing_config(FunctionName="csc-enforced", CodeSigningConfigArn=enforce_arn)
    try:
        page = http.get(path)
        assert page.status_code == 200 and "Traceback" not in page.text
        rows = {re.search(r'<span title="([^"]+)">', row)[1]: row for row in table_rows(page.text)}
        assert set(rows) == {enforce_arn, warn_arn, *extra}
        assert "(52)" in page.text
        shown = rows[enforce_arn]
        assert enforce["CodeSigningConfig"]["CodeSigningConfigId"] in shown
        assert "orders &lt;b&gt;team&lt;/b&gt;" in shown and "<b>" not in shown
        assert profile["profileVersionArn"] in shown and "<td>Enforce</td>" in shown
        assert '<a href="/console/functions/csc-enforced/code">csc-enforced</a>' in shown and "csc-warned" not in shown
        assert enforce["CodeSigningConfig"]["LastModified"][:19].replace("T", " ") in shown
        assert "<td>Warn</td>" in rows[warn_arn]
        assert '<a href="/console/functions/csc-warned/code">csc-warned</a>' in rows[warn_arn]
        assert "<td>None</td>" in rows[extra[0]]
    finally:
        for name in ("csc-warned", "csc-enforced"):
            lam.delete_function(FunctionName=name)
        for arn in (enforce_arn, warn_arn, *extra):
            lam.delete_code_signing_config(CodeSigningConfigArn=arn)
    assert "aws lambda create-code-signing-config" in http.get(path).text


def test_event_source_mappings_page(http, lam, function):
    """Event source mappings: one row per mapping (all pages of ListEventSourceMappings) with its
    function linked (qualifier kept), source, state and batch size; the empty state names the CLI."""
    path = "/console/event-source-mappings"
    assert lam.list_event_source_mappings()["EventSourceMappings"] == []
    empty = http.get(path)
    assert empty.status_code == 200 and "aws lambda create-event-source-mapping" in empty.text
    assert 'href="/console/event-source-mappings"' in empty.text  # in the nav

    version = lam.publish_version(FunctionName=function)["Version"]
    lam.create_alias(FunctionName=function, Name="live", FunctionVersion=version)
    queue = "arn:aws:sqs:us-east-1:000000000000:console-list-{}"
    # disabled, so nothing polls the queues (there are none); more than one page (100 a page)
    made = [lam.create_event_source_mapping(EventSourceArn=queue.format(n), FunctionName=function, Enabled=False,
                                            BatchSize=5)
            for n in range(100)]
    aliased = lam.create_event_source_mapping(EventSourceArn=queue.format("aliased"), FunctionName=f"{function}:live",
                                              Enabled=False)
    try:
        page = http.get(path)
        assert page.status_code == 200 and "Traceback" not in page.text
        rows = {re.search(r'<td class="arn">([0-9a-f-]{36})</td>', row)[1]: row for row in table_rows(page.text)}
        assert set(rows) == {m["UUID"] for m in (*made, aliased)}
        assert "(101)" in page.text
        first = rows[made[0]["UUID"]]
        assert f'<a href="/console/functions/{function}/code">{function}</a>' in first
        assert queue.format(0) in first and "<td>Disabled</td>" in first and "<td>5</td>" in first
        shown = rows[aliased["UUID"]]
        assert f'<a href="/console/functions/{function}/code">{function}:live</a>' in shown
        assert queue.format("aliased") in shown and "<td>10</td>" in shown
        modified = aliased["LastModified"].astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
        assert modified in shown
    finally:
        for mapping in (*made, aliased):
            lam.delete_event_source_mapping(UUID=mapping["UUID"])
        lam.delete_alias(FunctionName=function, Name="live")
    assert "aws lambda create-event-source-mapping" in http.get(path).text
