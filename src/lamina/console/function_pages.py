"""The function page's tabs: Code, Test, Monitor, Logs, Configuration, Aliases and versions, Cost.

Each tab is a page of its own (`/console/functions/NAME/TAB`, so a link or the back button lands on
it) and each action a POST that calls one or two API operations, then redirects back (or, for
htmx requests, answers the fragment that changed). Reads and writes go through the Console's
ApiClient only. Imports lamina.console and lamina.blueprints only.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.parse
import zipfile
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from lamina.blueprints import TEMPLATES
from lamina.console import report
from lamina.console.client import ApiError
from lamina.console.forms import (
    FormError,
    first,
    form_fields,
    format_pairs,
    parse_int,
    parse_json,
    parse_pairs,
    routing_weights,
    rule_sid,
    schedule_expression,
    url_sid,
)
from lamina.console.packages import EDITABLE_LIMIT, LANGUAGES, read_zip, replace_files, text_files

if TYPE_CHECKING:
    from lamina.console.app import Console

TABS = (("code", "Code"), ("test", "Test"), ("monitor", "Monitor"), ("logs", "Logs"),
        ("configuration", "Configuration"), ("aliases", "Aliases and versions"), ("profile", "Profile"),
        ("cost", "Cost"))
REQUEST_ID = re.compile(r"RequestId: ([0-9a-fA-F-]{36})")
REPORT_LINES = 10_000  # REPORT lines read for the duration percentiles
RANGES = ((15, "15 minutes"), (60, "1 hour"), (180, "3 hours"), (720, "12 hours"), (1440, "1 day"))


class FunctionPages:
    def __init__(self, console: Console) -> None:
        self.c = console

    def routes(self, base: str) -> list[Route]:
        return [
            Route(base, self.overview, methods=["GET"]),
            Route(base + "/code", self.code, methods=["GET"]),
            Route(base + "/code", self.deploy, methods=["POST"]),
            Route(base + "/zip", self.upload, methods=["POST"]),
            Route(base + "/test", self.test, methods=["GET"]),
            Route(base + "/test/invoke", self.invoke, methods=["POST"]),
            Route(base + "/test/save", self.save_event, methods=["POST"]),
            Route(base + "/test/delete", self.delete_event, methods=["POST"]),
            Route(base + "/monitor", self.monitor, methods=["GET"]),
            Route(base + "/monitor/recent", self.recent, methods=["GET"]),
            Route(base + "/monitor/durations", self.durations, methods=["GET"]),
            Route(base + "/logs", self.logs, methods=["GET"]),
            Route(base + "/logs/rows", self.log_rows, methods=["GET"]),
            Route(base + "/configuration", self.configuration, methods=["GET"]),
            Route(base + "/configuration/{section}", self.configure, methods=["POST"]),
            Route(base + "/aliases", self.aliases, methods=["GET"]),
            Route(base + "/aliases/{action}", self.alias_action, methods=["POST"]),
            Route(base + "/profile", self.profile, methods=["GET"]),
            Route(base + "/profile/run", self.run_profile, methods=["POST"]),
            Route(base + "/cost", self.cost, methods=["GET"]),
        ]

    async def _function(self, request: Request) -> dict:
        return await self.c.call(request, "GetFunction", {"FunctionName": request.path_params["name"]})

    def _page(self, template: str, request: Request, function: dict, tab: str, status: int = 200, **context):
        return self.c.render(template, status=status, function=function, config=function["Configuration"],
                             tabs=TABS, tab=tab, name=function["Configuration"]["FunctionName"],
                             flash=request.query_params.get("flash", ""),
                             problem=request.query_params.get("problem", ""), **context)

    def _back(self, request: Request, tab: str, flash: str = "", problem: str = "") -> Response:
        query = urllib.parse.urlencode({k: v for k, v in (("flash", flash), ("problem", problem)) if v})
        url = f"{request.url.path.rsplit('/' + tab, 1)[0]}/{tab}" + (f"?{query}" if query else "")
        return RedirectResponse(url, status_code=303)

    async def overview(self, request: Request) -> Response:
        return RedirectResponse(f"{request.url.path}/code", status_code=303)

    # -- Code ----------------------------------------------------------------------------------

    async def _package(self, request: Request, function: dict) -> bytes:
        location = urllib.parse.urlsplit(function["Code"]["Location"])
        return await self.c.api.raw("GET", location.path, **self.c.who(request))

    async def code(self, request: Request) -> Response:
        function = await self._function(request)
        config = function["Configuration"]
        files = None
        if config.get("PackageType", "Zip") == "Zip" and config.get("CodeSize", 0) <= EDITABLE_LIMIT:
            files = text_files(read_zip(await self._package(request, function))[0])
        languages = {name: LANGUAGES.get("." + name.rsplit(".", 1)[-1], "") for name in files or {}}
        return self._page("tab_code.html", request, function, "code", files=files, languages=languages)

    async def deploy(self, request: Request) -> Response:
        name = request.path_params["name"]
        try:
            document = json.loads(await request.body())
            edited, deleted = document.get("files") or {}, document.get("deleted") or []
            if not isinstance(edited, dict) or not all(isinstance(v, str) for v in edited.values()):
                raise ValueError("files must map paths to text")
            function = await self._function(request)
            package = replace_files(await self._package(request, function), edited, list(deleted))
            updated = await self.c.call(request, "UpdateFunctionCode", {"FunctionName": name, "ZipFile": package})
        except ApiError as error:
            return JSONResponse({"error": f"{error.code}: {error.message}"}, status_code=400)
        except (ValueError, zipfile.BadZipFile) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"CodeSha256": updated["CodeSha256"], "CodeSize": updated["CodeSize"],
                             "LastUpdateStatus": updated.get("LastUpdateStatus")})

    async def upload(self, request: Request) -> Response:
        try:
            updated = await self.c.call(request, "UpdateFunctionCode", {
                "FunctionName": request.path_params["name"], "ZipFile": await request.body()})
        except ApiError as error:
            return JSONResponse({"error": f"{error.code}: {error.message}"}, status_code=400)
        return JSONResponse({"CodeSha256": updated["CodeSha256"], "CodeSize": updated["CodeSize"]})

    # -- Test ----------------------------------------------------------------------------------

    async def _saved(self, request: Request, name: str) -> list[dict]:
        answer = await self.c.get(request, f"/_lamina/test-events/{urllib.parse.quote(name, safe='')}")
        return answer["TestEvents"]

    async def test(self, request: Request) -> Response:
        function = await self._function(request)
        saved = await self._saved(request, function["Configuration"]["FunctionName"])
        chosen = request.query_params.get("event") or (saved[0]["Name"] if saved else "")
        current = next((e for e in saved if e["Name"] == chosen), None)
        text = current["Event"] if current else json.dumps(TEMPLATES["hello-world"]["event"], indent=2)
        templates = {key: json.dumps(t["event"], indent=2) for key, t in TEMPLATES.items()}
        return self._page("tab_test.html", request, function, "test", saved=saved, chosen=chosen, text=text,
                          templates=TEMPLATES, template_texts=templates)

    async def invoke(self, request: Request) -> Response:
        fields = form_fields(await request.body())
        event = first(fields, "event", "{}")
        name = request.path_params["name"]
        try:
            parse_json(event, "The event")
            started = time.monotonic()
            answer = await self.c.call(request, "Invoke", {"FunctionName": name, "LogType": "Tail",
                                                           "Payload": event.encode()})
            elapsed = (time.monotonic() - started) * 1000
        except FormError as error:
            return self.c.render("error_fragment.html", message=str(error))
        except ApiError as error:
            return self.c.render("error_fragment.html", message=f"{error.code}: {error.message}")
        log_text = report.decode_log(answer.get("LogResult"))
        fields_ = report.report_fields(log_text)
        payload = answer.get("Payload") or b""
        payload = payload.read() if hasattr(payload, "read") else payload
        try:
            shown = json.dumps(json.loads(payload), indent=2)
        except ValueError:
            shown = payload.decode("utf-8", "replace")
        return self.c.render("execution_result.html", name=name, failed=bool(answer.get("FunctionError")),
                             function_error=answer.get("FunctionError"), payload=shown, log=log_text,
                             fields=fields_, report_fields=report.FIELDS, request_id=fields_.get("RequestId", ""),
                             version=answer.get("ExecutedVersion", ""), elapsed=elapsed)

    async def save_event(self, request: Request) -> Response:
        fields = form_fields(await request.body())
        name, event_name = request.path_params["name"], first(fields, "event_name").strip()
        try:
            await self.c.send(request, "PUT", f"/_lamina/test-events/{urllib.parse.quote(name, safe='')}/"
                                              f"{urllib.parse.quote(event_name, safe='')}",
                              {"Event": first(fields, "event")})
        except ApiError as error:
            return self._back(request, "test", problem=f"{error.code}: {error.message}")
        url = f"{request.url.path.rsplit('/test', 1)[0]}/test?" + urllib.parse.urlencode(
            {"event": event_name, "flash": f"Saved test event {event_name}."})
        return RedirectResponse(url, status_code=303)

    async def delete_event(self, request: Request) -> Response:
        fields = form_fields(await request.body())
        name, event_name = request.path_params["name"], first(fields, "event_name").strip()
        try:
            await self.c.send(request, "DELETE", f"/_lamina/test-events/{urllib.parse.quote(name, safe='')}/"
                                                 f"{urllib.parse.quote(event_name, safe='')}")
        except ApiError as error:
            return self._back(request, "test", problem=f"{error.code}: {error.message}")
        return self._back(request, "test", flash=f"Deleted test event {event_name}.")

    # -- Monitor and Logs ----------------------------------------------------------------------

    async def monitor(self, request: Request) -> Response:
        function = await self._function(request)
        minutes = parse_int(request.query_params.get("minutes", "60"), "minutes") or 60
        return self._page("tab_monitor.html", request, function, "monitor", minutes=minutes, ranges=RANGES)

    def _group(self, config: dict) -> str:
        return (config.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{config['FunctionName']}"

    async def _events(self, request: Request, config: dict, pattern: str, start_ms: int, limit: int) -> list[dict]:
        params = {"logGroupName": self._group(config), "startTime": start_ms, "limit": limit}
        if pattern:
            params["filterPattern"] = pattern
        try:
            answer = await self.c.call(request, "FilterLogEvents", params, "logs")
        except ApiError as error:
            if error.code == "ResourceNotFoundException":  # no log group before the first invoke
                return []
            raise
        return answer.get("events", [])

    async def recent(self, request: Request) -> Response:
        function = await self._function(request)
        config = function["Configuration"]
        minutes = parse_int(request.query_params.get("minutes", "60"), "minutes") or 60
        events = await self._events(request, config, '"REPORT RequestId"',
                                    int((time.time() - minutes * 60) * 1000), 1000)
        rows = []
        for event in events[-20:][::-1]:
            fields_ = report.report_fields(event["message"])
            rows.append({"time": event["timestamp"], "request_id": fields_.get("RequestId", ""),
                         "duration": fields_.get("Duration", ""), "billed": fields_.get("Billed Duration", ""),
                         "memory": fields_.get("Max Memory Used", ""), "init": fields_.get("Init Duration", ""),
                         "status": fields_.get("Status", "")})
        return self.c.render("recent_fragment.html", rows=rows, name=config["FunctionName"])

    async def durations(self, request: Request) -> Response:
        """Duration p50/p99 per minute, from the REPORT lines of the function's log group (the
        per-minute metrics carry sums and maxima only): read through FilterLogEvents, at most
        REPORT_LINES of them, newest kept."""
        function = await self._function(request)
        config = function["Configuration"]
        minutes = parse_int(request.query_params.get("minutes", "60"), "minutes") or 60
        params = {"logGroupName": self._group(config), "startTime": int((time.time() - minutes * 60) * 1000),
                  "filterPattern": '"REPORT RequestId"'}
        events: list[dict] = []
        truncated = False
        while True:
            try:
                page = await self.c.call(request, "FilterLogEvents", params, "logs")
            except ApiError as error:
                if error.code != "ResourceNotFoundException":
                    raise
                break
            events += page.get("events", [])
            if len(events) >= REPORT_LINES:
                events, truncated = events[-REPORT_LINES:], True
            if not page.get("nextToken") or truncated:
                break
            params["nextToken"] = page["nextToken"]
        return JSONResponse({"minutes": report.duration_percentiles(events), "reports": len(events),
                             "truncated": truncated})

    async def logs(self, request: Request) -> Response:
        function = await self._function(request)
        config = function["Configuration"]
        request_id = request.query_params.get("request", "").strip()
        pattern = request.query_params.get("filter", "").strip()
        minutes = parse_int(request.query_params.get("minutes", "60"), "minutes") or 60
        effective = f'"{request_id}"' if request_id else pattern
        try:
            events = await self._events(request, config, effective, int((time.time() - minutes * 60) * 1000), 1000)
            problem = ""
        except ApiError as error:
            events, problem = [], f"{error.code}: {error.message}"
        last = max((e["timestamp"] for e in events), default=int(time.time() * 1000) - 1)
        return self._page("tab_logs.html", request, function, "logs", events=events[-500:], pattern=pattern,
                          request_id=request_id, minutes=minutes, ranges=RANGES, last=last, group=self._group(config),
                          log_problem=problem)

    async def log_rows(self, request: Request) -> Response:
        """New log events after `after` (epoch ms), for live tail; the fragment carries the next `after`."""
        function = await self._function(request)
        after = parse_int(request.query_params.get("after", "0"), "after") or 0
        pattern = request.query_params.get("filter", "").strip()
        seen = set(request.query_params.getlist("seen"))
        events = [e for e in await self._events(request, function["Configuration"], pattern, after, 1000)
                  if e.get("eventId") not in seen and e["timestamp"] >= after]
        last = max((e["timestamp"] for e in events), default=after)
        return self.c.render("log_rows.html", events=events, last=last,
                             name=function["Configuration"]["FunctionName"], pattern=pattern)

    # -- Configuration -------------------------------------------------------------------------

    async def configuration(self, request: Request) -> Response:
        function = await self._function(request)
        name = function["Configuration"]["FunctionName"]
        arn = function["Configuration"]["FunctionArn"]
        section = self.c

        async def optional(operation: str, params: dict, service: str = "lambda", missing=None):
            """The answer; `missing` when the resource is absent; 'n/a' when the API is not on this server."""
            try:
                answer = await section.available(request, operation, params, service)
            except ApiError as error:
                if error.code in ("ResourceNotFoundException", "ProvisionedConcurrencyConfigNotFoundException"):
                    return missing
                return {"error": f"{error.code}: {error.message}"}
            return "n/a" if answer is None else answer

        mappings, url, rules, policy, async_config, concurrency, provisioned, tags, signing = await asyncio.gather(
            optional("ListEventSourceMappings", {"FunctionName": name}),
            optional("ListFunctionUrlConfigs", {"FunctionName": name}),
            optional("ListRuleNamesByTarget", {"TargetArn": arn}, "events"),
            optional("GetPolicy", {"FunctionName": name}),
            optional("GetFunctionEventInvokeConfig", {"FunctionName": name}),
            optional("GetFunctionConcurrency", {"FunctionName": name}, missing={}),
            optional("ListProvisionedConcurrencyConfigs", {"FunctionName": name}),
            optional("ListTags", {"Resource": arn}, missing={}),
            optional("GetFunctionCodeSigningConfig", {"FunctionName": name}),
        )
        listed = (mappings.get("EventSourceMappings") or []) if isinstance(mappings, dict) else []
        listed = [m for m in listed if m.get("EventSourceMappingArn")]
        # Each mapping's tags (ListTags on its ARN): a dict per UUID, {"error": ...} when refused.
        mapping_tags = dict(zip((m["UUID"] for m in listed), await asyncio.gather(*(
            optional("ListTags", {"Resource": m["EventSourceMappingArn"]}, missing={}) for m in listed)), strict=True))
        if isinstance(policy, dict) and "Policy" in policy:
            try:
                policy["Statements"] = json.loads(policy["Policy"]).get("Statement", [])
            except ValueError:
                policy["Statements"] = []
        config = function["Configuration"]
        return self._page(
            "tab_configuration.html", request, function, "configuration",
            env_text=format_pairs((config.get("Environment") or {}).get("Variables")),
            tags_text=format_pairs((tags or {}).get("Tags") if isinstance(tags, dict) else {}),
            layers_text="".join(layer["Arn"] + "\n" for layer in config.get("Layers", [])),
            mappings=mappings, mapping_tags=mapping_tags, url=url, rules=rules, policy=policy, async_config=async_config,
            concurrency=concurrency, provisioned=provisioned, signing=signing, group=self._group(config))

    async def configure(self, request: Request) -> Response:
        name = request.path_params["name"]
        section = request.path_params["section"]
        fields = form_fields(await request.body())
        try:
            message = await self._configure(request, name, section, fields)
        except FormError as error:
            return self._back_config(request, problem=str(error))
        except ApiError as error:
            return self._back_config(request, problem=f"{error.code}: {error.message}")
        return self._back_config(request, flash=message or f"Saved {section.replace('-', ' ')}.")

    def _back_config(self, request: Request, flash: str = "", problem: str = "") -> Response:
        base = request.url.path.rsplit("/configuration/", 1)[0]
        query = urllib.parse.urlencode({k: v for k, v in (("flash", flash), ("problem", problem)) if v})
        return RedirectResponse(f"{base}/configuration?{query}", status_code=303)

    async def _configure(self, request: Request, name: str, section: str, fields: dict) -> str | None:
        """Apply one section's form; a message for the page, or None for the usual "Saved ..." one."""
        call = self.c.call
        if section == "general":
            params = {"FunctionName": name, "Description": first(fields, "description"),
                      "MemorySize": parse_int(first(fields, "memory"), "Memory"),
                      "Timeout": parse_int(first(fields, "timeout"), "Timeout"),
                      "EphemeralStorage": {"Size": parse_int(first(fields, "ephemeral"), "Ephemeral storage")},
                      "Handler": first(fields, "handler")}
            # The role only when changed: sending it is passing it (iam:PassRole), which a user who
            # may edit the memory need not be allowed.
            if first(fields, "role") and first(fields, "role") != first(fields, "shown_role"):
                params["Role"] = first(fields, "role")
            await call(request, "UpdateFunctionConfiguration", params)
        elif section == "environment":
            await call(request, "UpdateFunctionConfiguration", {
                "FunctionName": name,
                "Environment": {"Variables": parse_pairs(first(fields, "variables"), "Environment variables")}})
        elif section == "tags":
            function = await call(request, "GetFunction", {"FunctionName": name})
            arn = function["Configuration"]["FunctionArn"]
            wanted = parse_pairs(first(fields, "tags"), "Tags")
            current = (await call(request, "ListTags", {"Resource": arn})).get("Tags", {})
            gone = [key for key in current if key not in wanted]
            if gone:
                await call(request, "UntagResource", {"Resource": arn, "TagKeys": gone})
            if wanted:
                await call(request, "TagResource", {"Resource": arn, "Tags": wanted})
        elif section == "concurrency":
            reserved = parse_int(first(fields, "reserved"), "Reserved concurrency", optional=True)
            if reserved is None:
                await call(request, "DeleteFunctionConcurrency", {"FunctionName": name})
            else:
                await call(request, "PutFunctionConcurrency",
                           {"FunctionName": name, "ReservedConcurrentExecutions": reserved})
        elif section == "provisioned":
            qualifier = first(fields, "qualifier").strip()
            amount = parse_int(first(fields, "provisioned"), "Provisioned concurrency", optional=True)
            if not qualifier:
                raise FormError("Provisioned concurrency needs a version or alias.")
            if amount is None or amount == 0:
                await call(request, "DeleteProvisionedConcurrencyConfig", {"FunctionName": name,
                                                                           "Qualifier": qualifier})
            else:
                await call(request, "PutProvisionedConcurrencyConfig", {
                    "FunctionName": name, "Qualifier": qualifier, "ProvisionedConcurrentExecutions": amount})
        elif section == "async":
            destinations = {}
            for field, key in (("on_success", "OnSuccess"), ("on_failure", "OnFailure")):
                if first(fields, field).strip():
                    destinations[key] = {"Destination": first(fields, field).strip()}
            params = {"FunctionName": name, "DestinationConfig": destinations}
            retries = parse_int(first(fields, "retries"), "Retry attempts", optional=True)
            age = parse_int(first(fields, "max_age"), "Maximum age of event", optional=True)
            if retries is not None:
                params["MaximumRetryAttempts"] = retries
            if age is not None:
                params["MaximumEventAgeInSeconds"] = age
            await call(request, "PutFunctionEventInvokeConfig", params)
        elif section.startswith("trigger-"):
            return await self._trigger(request, name, section, fields)
        elif section == "async-delete":
            await call(request, "DeleteFunctionEventInvokeConfig", {"FunctionName": name})
        elif section == "layers":
            arns = [line.strip() for line in first(fields, "layers").splitlines() if line.strip()]
            await call(request, "UpdateFunctionConfiguration", {"FunctionName": name, "Layers": arns})
        elif section == "logging":
            logging_config = {"LogFormat": first(fields, "format") or "Text"}
            if first(fields, "group").strip():
                logging_config["LogGroup"] = first(fields, "group").strip()
            if logging_config["LogFormat"] == "JSON":
                for field, key in (("app_level", "ApplicationLogLevel"), ("system_level", "SystemLogLevel")):
                    if first(fields, field):
                        logging_config[key] = first(fields, field)
            await call(request, "UpdateFunctionConfiguration", {"FunctionName": name,
                                                                "LoggingConfig": logging_config})
        else:
            raise FormError(f"Unknown section {section}.")
        return None

    # -- Triggers ------------------------------------------------------------------------------

    async def _permit(self, request: Request, params: dict) -> None:
        """Add a resource-policy statement a trigger needs; one already there (same Sid) is kept."""
        try:
            await self.c.call(request, "AddPermission", params)
        except ApiError as error:
            if error.code != "ResourceConflictException":
                raise

    async def _revoke(self, request: Request, name: str, sid: str) -> None:
        """Remove the statement a trigger was granted by this console, when it is there."""
        try:
            await self.c.call(request, "RemovePermission", {"FunctionName": name, "StatementId": sid})
        except ApiError as error:
            if error.code != "ResourceNotFoundException":
                raise

    async def _trigger(self, request: Request, name: str, section: str, fields: dict) -> str:
        """Add or remove one trigger: a function URL, an EventBridge schedule rule, an event source mapping.
        Like the AWS console, adding one also grants its caller the resource-policy statement it needs."""
        call = self.c.call
        if section == "trigger-url":
            qualifier = first(fields, "qualifier").strip()
            auth = first(fields, "auth") or "NONE"
            params = {"FunctionName": name, "AuthType": auth, **({"Qualifier": qualifier} if qualifier else {})}
            created = await call(request, "CreateFunctionUrlConfig", params)
            if auth == "NONE":
                await self._permit(request, {
                    "FunctionName": name, "StatementId": url_sid(qualifier), "Action": "lambda:InvokeFunctionUrl",
                    "Principal": "*", "FunctionUrlAuthType": "NONE",
                    **({"Qualifier": qualifier} if qualifier else {})})
            return f"Created function URL {created['FunctionUrl']}."
        elif section == "trigger-url-delete":
            qualifier = first(fields, "qualifier").strip()
            await call(request, "DeleteFunctionUrlConfig",
                       {"FunctionName": name, **({"Qualifier": qualifier} if qualifier else {})})
            await self._revoke(request, name, url_sid(qualifier))
            return "Deleted the function URL."
        elif section == "trigger-schedule":
            rule = first(fields, "rule").strip()
            minutes = parse_int(first(fields, "minutes"), "Every (minutes)")
            if not rule:
                raise FormError("The rule needs a name.")
            function = await call(request, "GetFunction", {"FunctionName": name})
            arn = function["Configuration"]["FunctionArn"]
            created = await call(request, "PutRule", {
                "Name": rule, "ScheduleExpression": schedule_expression(minutes), "State": "ENABLED",
                "Description": f"Runs {name} every {minutes} minute{'s' if minutes != 1 else ''}"}, "events")
            await self._permit(request, {
                "FunctionName": name, "StatementId": rule_sid(rule), "Action": "lambda:InvokeFunction",
                "Principal": "events.amazonaws.com", "SourceArn": created["RuleArn"]})
            await call(request, "PutTargets", {"Rule": rule, "Targets": [{"Id": name, "Arn": arn}]}, "events")
            return f"Added schedule rule {rule} ({schedule_expression(minutes)})."
        elif section == "trigger-rule-delete":
            rule = first(fields, "rule")
            function = await call(request, "GetFunction", {"FunctionName": name})
            arn = function["Configuration"]["FunctionArn"]
            targets = (await call(request, "ListTargetsByRule", {"Rule": rule}, "events")).get("Targets", [])
            mine = [t["Id"] for t in targets if t["Arn"] == arn]
            if mine:
                await call(request, "RemoveTargets", {"Rule": rule, "Ids": mine}, "events")
            if len(mine) == len(targets):
                await call(request, "DeleteRule", {"Name": rule}, "events")
            await self._revoke(request, name, rule_sid(rule))
            return f"Removed rule {rule}."
        elif section == "trigger-sqs":
            queue_arn = first(fields, "queue").strip()
            if not queue_arn.startswith("arn:aws:sqs:"):
                raise FormError("The queue ARN looks like arn:aws:sqs:REGION:ACCOUNT:NAME.")
            mapping = await call(request, "CreateEventSourceMapping", {
                "FunctionName": name, "EventSourceArn": queue_arn,
                "BatchSize": parse_int(first(fields, "batch") or "10", "Batch size"),
                "Enabled": first(fields, "enabled") == "yes"})
            return f"Added event source mapping {mapping['UUID']}."
        elif section == "trigger-mapping-delete":
            await call(request, "DeleteEventSourceMapping", {"UUID": first(fields, "uuid")})
            return "Deleting the event source mapping."
        raise FormError(f"Unknown section {section}.")

    # -- Aliases and versions, Cost ------------------------------------------------------------

    async def aliases(self, request: Request) -> Response:
        function = await self._function(request)
        name = function["Configuration"]["FunctionName"]
        versions, aliases = await asyncio.gather(
            self.c.call(request, "ListVersionsByFunction", {"FunctionName": name}),
            self.c.call(request, "ListAliases", {"FunctionName": name}))
        numbers = [v["Version"] for v in versions.get("Versions", []) if v["Version"] != "$LATEST"]
        return self._page("tab_aliases.html", request, function, "aliases", versions=versions.get("Versions", []),
                          numbers=numbers, aliases=aliases.get("Aliases", []),
                          editing=request.query_params.get("alias", ""))

    async def alias_action(self, request: Request) -> Response:
        name, action = request.path_params["name"], request.path_params["action"]
        fields = form_fields(await request.body())
        try:
            if action == "publish":
                published = await self.c.call(request, "PublishVersion", {
                    "FunctionName": name, "Description": first(fields, "description")})
                flash = f"Published version {published['Version']}."
            elif action == "save":
                alias, version = first(fields, "alias").strip(), first(fields, "version")
                weights = routing_weights(version, first(fields, "second"), first(fields, "weight", "0"))
                params = {"FunctionName": name, "Name": alias, "FunctionVersion": version,
                          "Description": first(fields, "description"),
                          "RoutingConfig": {"AdditionalVersionWeights": weights or {}}}
                if first(fields, "existing") == "yes":
                    await self.c.call(request, "UpdateAlias", params)
                else:
                    await self.c.call(request, "CreateAlias", params)
                flash = f"Saved alias {alias}."
            elif action == "delete":
                await self.c.call(request, "DeleteAlias", {"FunctionName": name, "Name": first(fields, "alias")})
                flash = f"Deleted alias {first(fields, 'alias')}."
            else:
                raise FormError(f"Unknown action {action}.")
        except FormError as error:
            return self._back_aliases(request, problem=str(error))
        except ApiError as error:
            return self._back_aliases(request, problem=f"{error.code}: {error.message}")
        return self._back_aliases(request, flash=flash)

    def _back_aliases(self, request: Request, flash: str = "", problem: str = "") -> Response:
        base = request.url.path.rsplit("/aliases/", 1)[0]
        query = urllib.parse.urlencode({k: v for k, v in (("flash", flash), ("problem", problem)) if v})
        return RedirectResponse(f"{base}/aliases?{query}", status_code=303)

    async def profile(self, request: Request) -> Response:
        function = await self._function(request)
        return self._page("tab_profile.html", request, function, "profile")

    async def run_profile(self, request: Request) -> Response:
        fields = form_fields(await request.body())
        try:
            document = {"FunctionName": request.path_params["name"],
                        "DurationSeconds": parse_int(first(fields, "seconds", "5"), "Seconds"),
                        "SampleRate": parse_int(first(fields, "rate", "100"), "Sample rate")}
            if first(fields, "qualifier").strip():
                document["Qualifier"] = first(fields, "qualifier").strip()
            answer = await self.c.send(request, "POST", "/_lamina/profiles", document)
        except FormError as error:
            return self.c.render("error_fragment.html", message=str(error))
        except ApiError as error:
            return self.c.render("error_fragment.html", message=f"{error.code}: {error.message}")
        return self.c.render("profile_result.html", answer=answer, name=request.path_params["name"])

    async def cost(self, request: Request) -> Response:
        function = await self._function(request)
        name = function["Configuration"]["FunctionName"]
        overall, day = await asyncio.gather(self.c.get(request, "/system/cost"),
                                            self.c.get(request, "/system/cost", {"minutes": 1440}))

        def mine(document: dict) -> dict | None:
            return next((f for f in document.get("functions", []) if f["function"] == name), None)

        return self._page("tab_cost.html", request, function, "cost", overall=mine(overall), day=mine(day),
                          report=overall)
