"""The `lamina` command: `serve` runs the service; the other commands are clients of its HTTP API.

`logs` reads a function's log group through the CloudWatch Logs API (boto3), `cost` reads
`/system/cost`, `build` builds a SAM template's code (lamina.sam), `init` copies a blueprint
(lamina.blueprints) into a directory. Imports lamina.config, lamina.__init__, lamina.sam and
lamina.blueprints only (the server lazily, for `serve`); never the store, the engine or the HTTP layer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import json
import logging
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from lamina import __version__
from lamina.config import AUTH_MODES, CREDENTIALS_FILE, Settings, file_system_entry

console = Console(stderr=False, highlight=False)
stderr = Console(stderr=True, highlight=False)

DEFAULTS = Settings()  # the one source of defaults, for help texts and the client endpoint
DEFAULT_ENDPOINT = DEFAULTS.base_url
FOLLOW_POLL_S = 1.0
FOLLOW_LOOKBACK_MS = 5_000  # re-read this much before the newest event seen: late writes still show
_SINCE = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PLATFORM = ("START ", "END ", "REPORT ", "INIT_START", "INIT_REPORT", "INIT_RUNTIME", "EXTENSION", "TELEMETRY",
             "RESTORE_", "XRAY ")
_ERROR = ("[ERROR]", "[CRITICAL]", "[FATAL]")
_ERROR_TEXTS = ("Traceback (most recent call last)", "Task timed out after", "Runtime exited with error")
_WARNING = ("[WARNING]", "[WARN]", "LAMBDA_WARNING")
_STREAM = re.compile(r"(?:.*/)?(\[[^\]]*\])([0-9a-fA-F]+)")


def _banner(server) -> None:
    health = server.health()
    sandbox = health["sandbox"]
    console.print(f"[bold]lamina {__version__}[/bold] ready: Lambda API at [cyan]{server.settings.base_url}[/cyan]")
    console.print(f"  data dir  {server.settings.data_dir}")
    console.print(f"  sandbox   {sandbox['backend']}")
    if sandbox["notEnforced"]:
        console.print(f"  [yellow]not enforced: {', '.join(sandbox['notEnforced'])}[/yellow]")
    auth = health["auth"]
    if auth["mode"] == "sigv4":
        console.print("  auth      sigv4 (requests must be signed by a key lamina issued)")
    elif auth.get("warning"):
        console.print(Text(f"  auth      NONE: {auth['warning']}", style="bold red"))
    else:
        console.print("  auth      off (loopback only; lamina serve --auth sigv4 to require signed requests)")
    console.print(f"  use it:    export AWS_ENDPOINT_URL={server.settings.base_url}")
    if server.new_admin_key is not None:  # printed this once; kept owner-readable in the data dir
        key_id, secret = server.new_admin_key
        console.print("  [bold]administrator access key[/bold] (shown once; `lamina credentials` prints the profile):",
                      soft_wrap=True)
        console.print(f"    aws_access_key_id = {key_id}", markup=False, soft_wrap=True)
        console.print(f"    aws_secret_access_key = {secret}", markup=False, soft_wrap=True)
    sys.stdout.flush()


def serve(args: argparse.Namespace) -> int:
    from lamina.server import Server

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(host=args.host, port=args.port, data_dir=args.data_dir, sandbox=args.sandbox,
                                 isolation=args.isolation, stop_grace=args.stop_grace, auth=args.auth)
    if settings.auth not in ("", *AUTH_MODES):
        _say(f"lamina: unknown auth mode {settings.auth!r} (LAMINA_AUTH): use sigv4 or none", "red")
        return 2
    if not settings.auth and not settings.loopback:
        _say(f"lamina: refusing to serve {settings.host} without authentication: anyone who reaches it could run "
             "code. Use --auth sigv4 (signed requests), or --auth none to serve it unauthenticated anyway.", "red")
        return 2
    try:  # --file-system adds to (and overrides per ARN) $LAMINA_FILE_SYSTEMS
        flagged = dict(file_system_entry(item) for item in args.file_system or ())
    except ValueError as exc:
        _say(f"lamina: --file-system: {exc}", "red")
        return 2
    settings = dataclasses.replace(settings, file_systems={**settings.file_systems, **flagged})
    try:
        server = Server(settings)
    except ValueError as exc:  # a sandbox backend that cannot run here, or isolation below the minimum
        _say(f"lamina: {exc}", "red")
        return 2
    try:
        asyncio.run(server.serve(ready=_banner))
    except KeyboardInterrupt:
        pass
    console.print("lamina stopped")
    return 0


def credentials(args: argparse.Namespace) -> int:
    """Print the administrator's profile block for ~/.aws/credentials (made by `serve --auth sigv4`)."""
    settings = Settings.from_env(data_dir=args.data_dir)
    path = settings.data_dir / CREDENTIALS_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        _say(f"lamina: no credentials in {settings.data_dir}: start `lamina serve --auth sigv4` once to create them",
             "red")
        return 1
    except PermissionError:
        _say(f"lamina: {path} is readable only by the user lamina serves as", "red")
        return 1
    sys.stdout.write(text)
    return 0


def _say(message: str, style: str) -> None:
    """A note on stderr (plain text: brackets in server messages are not markup)."""
    stderr.print(Text(message, style=style), soft_wrap=True)


def _endpoint(args: argparse.Namespace) -> str:
    return (args.endpoint or os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT).rstrip("/")


def _region(args: argparse.Namespace) -> str:
    env = os.environ
    return getattr(args, "region", None) or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULTS.region


def _credentials():
    """The standard credential chain's keys (environment, AWS_PROFILE / ~/.aws/credentials, ...), or
    None when none are configured (lamina without --auth takes any key)."""
    import botocore.session
    from botocore.exceptions import BotoCoreError

    try:
        return botocore.session.get_session().get_credentials()
    except BotoCoreError as error:  # e.g. AWS_PROFILE names a profile that does not exist
        _say(f"cannot read AWS credentials ({error}); sending the request unsigned", "yellow")
        return None


def _client_keys() -> dict:
    """boto3 client keyword arguments: the standard chain's keys, else a placeholder key."""
    credentials = _credentials()
    if credentials is None:
        return {"aws_access_key_id": "lamina", "aws_secret_access_key": "lamina"}
    frozen = credentials.get_frozen_credentials()
    return {"aws_access_key_id": frozen.access_key, "aws_secret_access_key": frozen.secret_key,
            "aws_session_token": frozen.token}


def _open(args: argparse.Namespace, method: str, url: str, document: dict | None = None, timeout: float = 30):
    """urlopen a request to one of lamina's own endpoints, SigV4-signed (botocore's SigV4Auth) with the
    standard chain's keys when there are any, so it works with `lamina serve --auth sigv4`."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    data = json.dumps(document).encode() if document is not None else None
    request = AWSRequest(method=method, url=url, data=data,
                         headers={"Content-Type": "application/json"} if data is not None else {})
    credentials = _credentials()
    if credentials is not None:
        SigV4Auth(credentials.get_frozen_credentials(), "lambda", _region(args)).add_auth(request)
    prepared = urllib.request.Request(request.url, data=data, method=method, headers=dict(request.headers))
    return urllib.request.urlopen(prepared, timeout=timeout)  # noqa: S310 - the endpoint the user gave


# -- lamina logs ------------------------------------------------------------------------------
def parse_since(text: str, now: float) -> int:
    """`--since`: a relative `<n>s|m|h|d|w` or an ISO 8601 time (naive = local) → epoch ms."""
    match = _SINCE.fullmatch(text.strip())
    if match:
        return int((now - int(match[1]) * _UNITS[match[2]]) * 1000)
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since {text!r}: use a duration such as 10m, 2h, 1d or an ISO 8601 time") \
            from None
    return int(moment.timestamp() * 1000)


def message_style(message: str) -> str | None:
    """How a log line is coloured: platform lines dim, errors red, warnings yellow."""
    head = message.lstrip()
    if head.startswith(_PLATFORM):
        return "dim"
    if head.startswith("{"):
        try:
            record = json.loads(head)
        except ValueError:
            record = None
        if isinstance(record, dict):
            if str(record.get("type", "")).startswith("platform."):
                return "dim"
            level = str(record.get("level") or record.get("log_level") or "").upper()
            return {"ERROR": "red", "FATAL": "red", "CRITICAL": "red", "WARN": "yellow",
                    "WARNING": "yellow"}.get(level)
    if head.startswith(_ERROR) or any(text in message for text in _ERROR_TEXTS):
        return "red"
    if head.startswith(_WARNING):
        return "yellow"
    return None


def short_stream(stream: str) -> str:
    """`2024/02/21/[$LATEST]3f2a9c1e…` → `[$LATEST]3f2a9c1e`."""
    match = _STREAM.fullmatch(stream)
    if match:
        return match[1] + match[2][:8]
    return stream.rsplit("/", 1)[-1][-16:]


def log_line(event: dict) -> Text:
    """One event as a line: UTC timestamp, short stream id, message (continuation lines indented)."""
    moment = datetime.datetime.fromtimestamp(event["timestamp"] / 1000, tz=datetime.UTC)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    stream = short_stream(event.get("logStreamName", ""))
    message = event.get("message", "").replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")
    indent = " " * (len(stamp) + len(stream) + 2)
    style = message_style(message)
    line = Text(style=style or "")
    line.append(stamp, style=None if style == "dim" else "cyan")
    line.append(" ")
    line.append(stream, style=None if style == "dim" else "magenta")
    line.append(" ")
    line.append(message.replace("\n", "\n" + indent))
    return line


def _logs_client(args: argparse.Namespace):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "logs", endpoint_url=_endpoint(args), region_name=_region(args), **_client_keys(),
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=60),
    )


def _events(client, group: str, start_ms: int, pattern: str | None):
    """Every event of `group` from `start_ms` on, following nextToken."""
    request: dict = {"logGroupName": group, "startTime": start_ms}
    if pattern:
        request["filterPattern"] = pattern
    while True:
        page = client.filter_log_events(**request)
        yield from page.get("events", [])
        token = page.get("nextToken")
        if not token:
            return
        request["nextToken"] = token


class Tail:
    """New events of one log group, polled: re-reads a short window before the newest event seen, so
    late writes still show, and never shows an event twice."""

    def __init__(self, client, group: str, since_ms: int, pattern: str | None = None) -> None:
        self.client, self.group, self.pattern = client, group, pattern
        self.since = self.newest = since_ms
        self.seen: dict[str, int] = {}  # eventId → timestamp, for the events inside the re-read window

    def new_events(self):
        start = max(self.since, self.newest - FOLLOW_LOOKBACK_MS)
        self.seen = {key: stamp for key, stamp in self.seen.items() if stamp >= start}
        for event in _events(self.client, self.group, start, self.pattern):
            if event["eventId"] in self.seen:
                continue
            self.seen[event["eventId"]] = event["timestamp"]
            self.newest = max(self.newest, event["timestamp"])
            yield event


def logs(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        since = parse_since(args.since, time.time())
    except ValueError as error:
        _say(str(error), "red")
        return 2
    group = args.name if args.name.startswith("/") else f"/aws/lambda/{args.name}"
    client = _logs_client(args)
    out = sys.stdout

    def show(event: dict) -> None:
        console.print(log_line(event), soft_wrap=True)

    try:
        if not args.follow:
            try:
                for event in _events(client, group, since, args.filter):
                    show(event)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code")
                if code == "ResourceNotFoundException":
                    _say(f"No logs yet: the log group {group} does not exist (the function has not run).",
                         "yellow")
                else:
                    _say(f"{code}: {error.response.get('Error', {}).get('Message')}", "red")
                return 1
            except BotoCoreError as error:
                _say(f"cannot read logs from {_endpoint(args)}: {error}", "red")
                return 1
            return 0
        tail = Tail(client, group, since, args.filter)
        noted = None
        while True:
            try:
                for event in tail.new_events():
                    show(event)
                noted = None
            except (ClientError, BotoCoreError) as error:
                missing = isinstance(error, ClientError) and \
                    error.response.get("Error", {}).get("Code") == "ResourceNotFoundException"
                note = (f"waiting for {group} to exist (the function has not run yet)" if missing
                        else f"waiting for lamina at {_endpoint(args)}: {error}")
                if note != noted:
                    _say(note, "yellow")
                    noted = note
            out.flush()
            time.sleep(FOLLOW_POLL_S)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # e.g. `lamina logs f | head`: the reader is gone, so are we
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return 0


# -- lamina cost ------------------------------------------------------------------------------
def _money(value: float) -> str:
    return f"${value:,.8f}"


def _price(value: float) -> str:
    return "$" + f"{value:.10f}".rstrip("0").rstrip(".")


def cost_table(report: dict) -> Table:
    since = report.get("since")
    when = (datetime.datetime.fromtimestamp(since).strftime("%Y-%m-%d %H:%M") if since else "the start")
    prices = report["prices"]
    per_gb_second = prices["per_gb_second"]
    caption = (f"Prices ({prices['source']}): x86_64 {_price(per_gb_second['x86_64'])}/GB-s, "
               f"arm64 {_price(per_gb_second['arm64'])}/GB-s, ${prices['per_request'] * 1e6:.2f} per 1M "
               f"requests. {report['free_tier']['note']}")
    table = Table(title=f"Estimated AWS Lambda cost since {when}", title_justify="left", show_footer=True,
                  caption=caption, caption_justify="left")
    totals = report["totals"]
    table.add_column("Function", footer="Total")
    table.add_column("Arch")
    table.add_column("Requests", justify="right", footer=f"{totals['requests']:,}")
    table.add_column("GB-seconds", justify="right", footer=f"{totals['gb_seconds']:,.3f}")
    table.add_column("Duration $", justify="right", footer=_money(totals["duration_cost"]))
    table.add_column("Requests $", justify="right", footer=_money(totals["request_cost"]))
    table.add_column("Total $", justify="right", footer=_money(totals["total"]))
    for entry in report["functions"]:
        table.add_row(entry["function"], entry["architecture"], f"{entry['requests']:,}",
                      f"{entry['gb_seconds']:,.3f}", _money(entry["duration_cost"]),
                      _money(entry["request_cost"]), _money(entry["total"]))
    return table


def _signed_get(url: str) -> urllib.request.Request:
    """A GET of one of lamina's own routes, signed (SigV4) with the caller's AWS credentials when
    boto3 finds some, so it also works against `lamina serve --auth sigv4`."""
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = boto3.session.Session().get_credentials()
    if credentials is None:
        return urllib.request.Request(url)
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(credentials.get_frozen_credentials(), "lambda", os.environ.get("AWS_REGION")
              or os.environ.get("AWS_DEFAULT_REGION") or DEFAULTS.region).add_auth(request)
    return urllib.request.Request(url, headers=dict(request.headers))


def cost(args: argparse.Namespace) -> int:
    url = _endpoint(args) + "/system/cost" + (f"?minutes={args.minutes}" if args.minutes else "")
    try:
        with _open(args, "GET", url) as response:
            report = json.loads(response.read())
    except urllib.error.HTTPError as error:
        _say(f"{url} answered {error.code}: {error.read().decode(errors='replace')}", "red")
        return 1
    except (urllib.error.URLError, OSError, ValueError) as error:
        _say(f"cannot read {url}: {getattr(error, 'reason', error)}", "red")
        return 1
    if args.json:
        print(json.dumps(report, indent=2))
    elif not report["functions"]:
        console.print("No invocations recorded yet.")
        console.print(report["free_tier"]["note"])
    else:
        console.print(cost_table(report))
    return 0


def _find_template(given: str | None) -> Path:
    if given:
        return Path(given)
    for name in ("template.yaml", "template.yml", "template.json"):
        if Path(name).is_file():
            return Path(name)
    return Path("template.yaml")


def _overrides(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--parameter-overrides takes KEY=VALUE, not {pair!r}")
        out[key] = value
    return out


def _build(path: Path, build_dir: Path, overrides: dict[str, str]):
    """Plan and build a template's code with a progress line; returns (template, built) or raises."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from lamina.sam import template as sam_template
    from lamina.sam.artifacts import Skipped, plan
    from lamina.sam.build import build_all

    template = sam_template.load(path)
    planned = plan(template, path.resolve().parent, overrides)
    for skipped in (p for p in planned if isinstance(p, Skipped)):
        console.print(f"[yellow]skipped[/yellow] {skipped.logical_id}: {skipped.reason}")
    artifacts = [p for p in planned if not isinstance(p, Skipped)]
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                  transient=True) as progress:
        task = progress.add_task("building", total=None)
        built = build_all(artifacts, build_dir,
                          step=lambda lid, what: progress.update(task, description=f"{lid}: {what}"))
    return template, built


def _build_errors():
    from lamina.sam.artifacts import ArtifactError
    from lamina.sam.dependencies import DependencyError
    from lamina.sam.deploy import DeployError
    from lamina.sam.intrinsics import IntrinsicError
    from lamina.sam.template import TemplateError
    from lamina.sam.translate import TranslateError

    return (TemplateError, ArtifactError, DependencyError, TranslateError, IntrinsicError, DeployError, ValueError)


def _build_dir(args: argparse.Namespace, path: Path) -> Path:
    return Path(args.build_dir) if args.build_dir else path.resolve().parent / ".lamina" / "build"


def build(args: argparse.Namespace) -> int:
    """Build every function and layer of a SAM template into reproducible zips."""
    path = _find_template(args.template)
    build_dir = _build_dir(args, path)
    try:
        _, built = _build(path, build_dir, _overrides(args.parameter_overrides))
    except _build_errors() as error:
        _say(f"build failed: {error}", "red")
        return 1
    table = Table(title=f"Built into {build_dir}", title_justify="left")
    for column in ("Resource", "Type", "Size", "CodeSha256", "Time"):
        table.add_column(column, justify="right" if column in ("Size", "Time") else "left")
    for item in built:
        table.add_row(item.logical_id, item.resource_type.split("::")[-1], f"{item.size / 1024:,.1f} KB",
                      item.code_sha256[:12] + "…", "cached" if item.cached else f"{item.seconds:.2f} s")
    console.print(table)
    return 0


def _deployment(args: argparse.Namespace, stack: str):
    """The clients, stack-state API and handler environment for deploying to lamina at --endpoint."""
    import boto3
    from botocore.config import Config

    from lamina.sam.deploy import StackState
    from lamina.sam.resources import Env

    endpoint = _endpoint(args)
    try:
        with urllib.request.urlopen(endpoint + "/health", timeout=10) as response:
            health = json.loads(response.read())
    except OSError as error:
        raise ConnectionError(f"lamina is not reachable at {endpoint}: {error}") from None
    region = args.region or health.get("region") or DEFAULTS.region
    session = boto3.session.Session(region_name=region)  # the standard credential chain
    if session.get_credentials() is None:  # lamina without --auth takes any key
        session = boto3.session.Session(aws_access_key_id="lamina", aws_secret_access_key="lamina", region_name=region)
    config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=300)
    made: dict[str, object] = {}

    def clients(service: str):
        if service not in made:
            made[service] = session.client(service, endpoint_url=endpoint, config=config)
        return made[service]

    state = StackState(endpoint, region, session.get_credentials())
    return clients, state, region, health.get("accountId") or DEFAULTS.account_id, Env, health


def _stack_name(args: argparse.Namespace, path: Path) -> str:
    if args.stack:
        return args.stack
    name = re.sub(r"[^A-Za-z0-9-]", "-", path.resolve().parent.name).strip("-") or "app"
    return name if name[0].isalpha() else "app-" + name


def _confirm(args: argparse.Namespace, question: str) -> bool:
    if args.no_confirm or not sys.stdin.isatty():
        return True
    return console.input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _deploy_once(args: argparse.Namespace, path: Path, stack: str, *, confirm: bool) -> dict | None:
    """Build, expand and apply the template once; the stack's state document, or None when it failed
    (the reason printed) or the change set was declined."""
    from lamina.sam import deploy as sam_deploy
    from lamina.sam.translate import expand

    try:
        overrides = _overrides(args.parameter_overrides)
        clients, state, region, account_id, env_type, _ = _deployment(args, stack)
        template, built = _build(path, _build_dir(args, path), overrides)
        expanded = expand(template, {b.logical_id: b.code_sha256 for b in built}, region, account_id, stack,
                          overrides)
        parameters = {**{k: v.get("Default") for k, v in (expanded.get("Parameters") or {}).items()
                         if isinstance(v, dict) and "Default" in v}, **overrides,
                      "AWS::Region": region, "AWS::AccountId": account_id, "AWS::StackName": stack,
                      "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
        previous = state.get(stack)
        the_plan = sam_deploy.plan(stack, expanded, parameters, previous, strict=args.strict)
    except (*_build_errors(), ConnectionError) as error:
        _say(f"deploy failed: {error}", "red")
        return None
    for logical_id, kind in the_plan.skipped.items():
        console.print(f"[yellow]not deployed[/yellow] {logical_id} ({kind}): lamina does not deploy this type")
    if not the_plan.changes:
        console.print(f"No changes to deploy: stack [bold]{stack}[/bold] is up to date.")
        return previous or {"resources": {}}
    table = Table(title=f"Changes to stack {stack}", title_justify="left")
    for column in ("Operation", "LogicalResourceId", "ResourceType"):
        table.add_column(column)
    colour = {"Add": "green", "Modify": "yellow", "Remove": "red"}
    for change in the_plan.changes:
        table.add_row(f"[{colour[change.action]}]{change.action}[/]", change.logical_id, change.resource_type)
    console.print(table)
    if confirm and not _confirm(args, "Deploy this change set?"):
        console.print("Nothing deployed.")
        return None
    env = env_type(clients, stack, region, account_id,
                   sam_deploy.read_code(_build_dir(args, path), {b.logical_id: {"zip_path": b.zip_path}
                                                                for b in built}),
                   # a DeploymentPreference's minutes (LAMINA_DEPLOY_MINUTE_SECONDS shortens them, for tests)
                   minute_seconds=float(os.environ.get("LAMINA_DEPLOY_MINUTE_SECONDS") or 60))
    deployer = sam_deploy.Deployer(env, state, lambda line: console.print(f"  {line}"))
    try:
        with console.status(f"deploying {stack}"):
            document = deployer.apply(the_plan)
    except sam_deploy.DeployError as error:
        _say(f"deploy failed and was rolled back: {error}", "red")
        return None
    console.print(f"[green]Stack {stack} deployed.[/green]")
    for name, value in document.get("outputs", {}).items():
        console.print(f"  {name} = {value}", soft_wrap=True, highlight=False)
    return document


def deploy(args: argparse.Namespace) -> int:
    """Build, expand and apply a SAM template as a stack, showing the change set first."""
    path = _find_template(args.template)
    return 0 if _deploy_once(args, path, _stack_name(args, path), confirm=True) is not None else 1


_COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan", "bright_magenta")


def dev(args: argparse.Namespace) -> int:
    """Deploy, then redeploy on every saved change of the code or the template, streaming every
    function's logs coloured by function, until Ctrl-C."""
    import threading

    from watchfiles import watch

    from lamina.sam import template as sam_template
    from lamina.sam.artifacts import Artifact, plan

    args.strict, args.build_dir = False, getattr(args, "build_dir", None)
    path = _find_template(args.template)
    stack = _stack_name(args, path)
    functions: dict[str, str] = {}  # physical name → logical id, of the deployed stack
    lock = threading.Lock()
    stop = threading.Event()

    debug_name, _, debug_port = (args.debug or "").partition(":")
    debug_port = debug_port or "5678"
    if args.debug and not (debug_port.isdigit() and 1024 <= int(debug_port) <= 65535):
        _say(f"--debug {args.debug}: the port must be a number from 1024 to 65535", "red")
        return 2

    def debug(tag: bool) -> None:
        """Tag (or untag) the debugged function with lamina:debug-port: its environments are replaced by
        ones that wait for a debugpy client on the port, with no timeouts."""
        physical = next((name for name, lid in functions.items() if lid == debug_name), None)
        if not args.debug:
            return
        if physical is None:
            _say(f"--debug {debug_name}: no function of stack {stack} has that logical id", "red")
            return
        lam = _lambda_client(args)
        arn = lam.get_function_configuration(FunctionName=physical)["FunctionArn"]
        if tag:
            lam.tag_resource(Resource=arn, Tags={"lamina:debug-port": debug_port})
            console.print(f"[bold]debugging[/bold] {debug_name}: attach a debugger (debugpy) to 127.0.0.1:{debug_port}; "
                          "its next invocation waits for it")
        else:
            lam.untag_resource(Resource=arn, TagKeys=["lamina:debug-port"])

    def redeploy() -> list[Path]:
        document = _deploy_once(args, path, stack, confirm=False)
        if document is not None:
            with lock:
                functions.clear()
                functions.update({entry["physical_id"]: lid for lid, entry in document.get("resources", {}).items()
                                  if entry.get("type") == "AWS::Lambda::Function"})
            debug(True)
        try:
            artifacts = plan(sam_template.load(path), path.resolve().parent, _overrides(args.parameter_overrides))
        except _build_errors():
            artifacts = []
        return [path.resolve(), *{a.source for a in artifacts if isinstance(a, Artifact)}]

    def follow_logs() -> None:
        client = _logs_client(args)
        tails: dict[str, Tail] = {}
        while not stop.is_set():
            with lock:
                current = dict(functions)
            for name, logical_id in current.items():
                tail = tails.setdefault(name, Tail(client, f"/aws/lambda/{name}", int(time.time() * 1000)))
                colour = _COLOURS[sorted(current.values()).index(logical_id) % len(_COLOURS)]
                try:
                    for event in tail.new_events():
                        line = Text(f"{logical_id} ", style=f"bold {colour}")
                        line.append_text(log_line(event))
                        console.print(line, soft_wrap=True)
                except Exception:  # a log group that does not exist yet, or lamina restarting
                    pass
            sys.stdout.flush()
            stop.wait(0.5)

    def watcher(paths: list[Path]):
        return watch(*paths, debounce=50, step=20, stop_event=stop,
                     watch_filter=lambda _, name: "/.lamina/" not in name and "__pycache__" not in name)

    watched = redeploy()
    changes = watcher(watched)
    threading.Thread(target=follow_logs, name="lamina dev logs", daemon=True).start()
    try:
        while True:
            console.print(f"[bold]watching[/bold] {len(watched)} paths of stack {stack} (Ctrl-C stops)")
            sys.stdout.flush()
            changed = next(changes)
            console.print(f"changed: {', '.join(sorted({Path(p).name for _, p in changed}))}")
            started = time.perf_counter()
            now_watched = redeploy()
            console.print(f"redeployed in {time.perf_counter() - started:.2f} s")
            if set(now_watched) != set(watched):
                watched, changes = now_watched, watcher(now_watched)
    except KeyboardInterrupt:
        stop.set()
        try:
            debug(False)
        except Exception as error:  # noqa: BLE001 - lamina already gone: nothing to untag
            _say(f"could not end debugging: {error}", "yellow")
        return 0


def delete(args: argparse.Namespace) -> int:
    """Remove every resource a stack created, then the stack."""
    from lamina.sam import deploy as sam_deploy

    try:
        clients, state, region, account_id, env_type, _ = _deployment(args, args.stack)
        document = state.get(args.stack)
    except (ConnectionError, sam_deploy.DeployError) as error:
        _say(f"delete failed: {error}", "red")
        return 1
    if document is None:
        _say(f"stack {args.stack} does not exist", "red")
        return 1
    if not _confirm(args, f"Delete stack {args.stack} and its {len(document.get('resources', {}))} resources?"):
        return 1

    def no_code(logical_id: str) -> bytes:
        raise sam_deploy.DeployError("a delete uploads no code")

    deployer = sam_deploy.Deployer(env_type(clients, args.stack, region, account_id, no_code), state,
                                   lambda line: console.print(f"  {line}"))
    try:
        retained = deployer.delete(args.stack, document)
    except sam_deploy.DeployError as error:
        _say(f"delete failed: {error}", "red")
        return 1
    if retained:
        console.print(f"retained (DeletionPolicy Retain): {', '.join(retained)}")
    console.print(f"[green]Stack {args.stack} deleted.[/green]")
    return 0


def _lambda_client(args: argparse.Namespace, read_timeout: int = 910):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "lambda", endpoint_url=_endpoint(args), region_name=_region(args), **_client_keys(),
        config=Config(retries={"max_attempts": 0}, connect_timeout=5, read_timeout=read_timeout),
    )


def invoke(args: argparse.Namespace) -> int:
    """Invoke a function once and print its response and the tail of its log."""
    import base64

    from botocore.exceptions import BotoCoreError, ClientError

    if args.event == "-":
        payload = sys.stdin.buffer.read()
    elif args.event:
        try:
            payload = Path(args.event).read_bytes()
        except OSError as error:
            _say(f"cannot read the event {args.event}: {error.strerror}", "red")
            return 2
    else:
        payload = b"{}"
    extra = {"Qualifier": args.qualifier} if args.qualifier else {}
    try:
        out = _lambda_client(args).invoke(FunctionName=args.name, Payload=payload, LogType="Tail", **extra)
    except ClientError as error:
        detail = error.response.get("Error", {})
        _say(f"{detail.get('Code')}: {detail.get('Message')}", "red")
        return 1
    except BotoCoreError as error:
        _say(f"cannot invoke at {_endpoint(args)}: {error}", "red")
        return 1
    for line in base64.b64decode(out.get("LogResult") or b"").decode(errors="replace").splitlines():
        stderr.print(Text(line, style=message_style(line) or ""), soft_wrap=True)
    body = out["Payload"].read()
    try:
        console.print_json(body.decode()) if body.strip() else None
    except ValueError:
        sys.stdout.buffer.write(body + b"\n")
    if out.get("FunctionError"):
        _say(f"the function failed ({out['FunctionError']})", "red")
        return 1
    return 0


def sign(args: argparse.Namespace) -> int:
    """Embed a signature by signing profile `--profile` in a zip (in place, or to --output)."""
    from lamina import signature

    source = Path(args.zip)
    try:
        data = source.read_bytes()
        digest = signature.manifest_digest(data)
    except (OSError, signature.SignatureError) as error:
        _say(f"lamina sign: cannot read {source}: {error}", "red")
        return 1
    url = _endpoint(args) + "/_lamina/signer/sign"
    body = {"profileName": args.profile, "digest": digest}
    if args.validity is not None:
        body["validitySeconds"] = args.validity
    try:
        with _open(args, "POST", url, body) as response:
            document = json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        with contextlib.suppress(ValueError, AttributeError):
            detail = json.loads(detail).get("message") or detail
        _say(f"lamina sign: {detail}", "red")
        return 1
    except (urllib.error.URLError, OSError, ValueError) as error:
        _say(f"lamina sign: cannot reach {url}: {getattr(error, 'reason', error)}", "red")
        return 1
    target = Path(args.output) if args.output else source
    target.write_bytes(signature.embed(data, document))
    console.print(f"signed {target} with {document['profileVersionArn']} (job {document['jobArn']})")
    return 0


def init(args: argparse.Namespace) -> int:
    """Writes a blueprint's files, its default test event and its blueprint.json into a directory."""
    from pathlib import Path

    from lamina import blueprints

    blueprint = blueprints.get(args.blueprint) if args.blueprint else None
    if blueprint is None:
        if args.blueprint:
            _say(f"no blueprint named {args.blueprint}", "red")
        console.print("Blueprints:")
        for each in blueprints.all_blueprints():
            console.print(f"  [cyan]{each.name:28}[/cyan] {each.runtime:16} {each.title}")
        return 0 if not args.blueprint else 1
    try:
        written = blueprint.write_to(Path(args.directory))
    except FileExistsError as error:
        _say(str(error), "red")
        return 1
    for path in written:
        console.print(f"  wrote {path}")
    console.print(f"Deploy it: (cd {args.directory} && zip -r ../function.zip . -x event.json blueprint.json) && "
                  f"aws lambda create-function --function-name NAME --runtime {blueprint.runtime} "
                  f"--handler {blueprint.handler} --role ROLE --zip-file fileb://function.zip")
    for trigger in blueprint.triggers:
        console.print(f"  expects: {trigger['description']}")
    return 0


def event(args: argparse.Namespace) -> int:
    """Print a sample event of an event source, in AWS's shape, with the given fields."""
    from lamina import sample_events

    fields = {k: v for k, v in vars(args).items() if k not in ("func", "command", "kind") and v is not None}
    print(json.dumps(sample_events.BUILDERS[args.kind](**fields), indent=2))
    return 0


def _event_commands(commands) -> None:
    from lamina.sample_events import json_argument

    parser = commands.add_parser("event", help="print a sample event of an event source (for lamina invoke "
                                               "--event -)")
    kinds = parser.add_subparsers(dest="kind", required=True)
    sqs = kinds.add_parser("sqs", help="an SQS batch")
    sqs.add_argument("--body", default=None)
    sqs.add_argument("--queue", default=None, help="queue name")
    sqs.add_argument("--count", type=int, default=None, help="records in the batch")
    s3 = kinds.add_parser("s3", help="an S3 event notification")
    s3.add_argument("--bucket", default=None)
    s3.add_argument("--key", default=None)
    s3.add_argument("--event-name", default=None, help="e.g. ObjectCreated:Put, ObjectRemoved:Delete")
    s3.add_argument("--size", type=int, default=None)
    kinesis = kinds.add_parser("kinesis", help="a Kinesis batch")
    kinesis.add_argument("--data", default=None, help="the record's data (sent base64-encoded, as AWS does)")
    kinesis.add_argument("--partition-key", default=None)
    kinesis.add_argument("--stream", default=None)
    kinesis.add_argument("--count", type=int, default=None)
    ddb = kinds.add_parser("dynamodb", help="a DynamoDB Streams record")
    ddb.add_argument("--table", default=None)
    ddb.add_argument("--event-name", default=None, choices=("INSERT", "MODIFY", "REMOVE"))
    ddb.add_argument("--keys", type=json_argument, default=None, metavar="JSON", help='e.g. {"Id": {"N": "1"}}')
    ddb.add_argument("--new-image", type=json_argument, default=None, metavar="JSON")
    ddb.add_argument("--old-image", type=json_argument, default=None, metavar="JSON")
    schedule = kinds.add_parser("schedule", help="an EventBridge scheduled event")
    schedule.add_argument("--rule", default=None, help="rule name")
    url = kinds.add_parser("url", help="a function URL request (payload format 2.0)")
    url.add_argument("--method", default=None)
    url.add_argument("--path", default=None)
    url.add_argument("--query", default=None, help="the raw query string, e.g. a=1&b=2")
    url.add_argument("--body", default=None)
    url.add_argument("--headers", type=json_argument, default=None, metavar="JSON")
    for each in (sqs, s3, kinesis, ddb, schedule, url):
        each.add_argument("--region", default=None)
    for each in (sqs, kinesis, ddb, schedule, url):
        each.add_argument("--account", default=None)
    parser.set_defaults(func=event)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lamina", description="A self-hosted AWS Lambda.")
    parser.add_argument("--version", action="version", version=f"lamina {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run the Lambda service")
    run.add_argument("--host", default=None, help=f"address to listen on (default {DEFAULTS.host})")
    run.add_argument("--port", type=int, default=None, help=f"port to listen on (default {DEFAULTS.port})")
    run.add_argument("--data-dir", default=None, help="where functions, code and logs live "
                                                      "(default ~/.local/share/lamina)")
    run.add_argument("--sandbox", default=None, choices=("auto", "namespaces", "bubblewrap", "process"),
                     help=f"how environments are isolated (default $LAMINA_SANDBOX or {DEFAULTS.sandbox}: the "
                          "strongest here)")
    run.add_argument("--isolation", default=None, choices=("process", "bubblewrap", "namespaces"),
                     help="refuse to start below this isolation level (default $LAMINA_ISOLATION or "
                          f"{DEFAULTS.isolation})")
    run.add_argument("--stop-grace", type=float, default=None, metavar="SECONDS",
                     help="on SIGTERM/Ctrl-C, exit within this many seconds: invokes in flight may finish until "
                          f"shortly before, the rest are answered with an error (default $LAMINA_STOP_GRACE or "
                          f"{DEFAULTS.stop_grace:g})")
    run.add_argument("--auth", default=None, choices=AUTH_MODES,
                     help="sigv4: every request must be signed by a key lamina issued (an administrator key is "
                          "made on first start); none: serve unauthenticated even on a non-loopback address "
                          "(default $LAMINA_AUTH, else unauthenticated and loopback only)")
    run.add_argument("--file-system", action="append", default=None, metavar="ARN=PATH[:UID:GID]",
                     help="serve an EFS access point ARN (FileSystemConfigs) from a host directory, owned by "
                          "UID:GID (default the sandbox uid); repeatable, adds to $LAMINA_FILE_SYSTEMS")
    run.add_argument("--verbose", "-v", action="store_true", help="log what the service does")
    run.set_defaults(func=serve)
    keys = commands.add_parser("credentials", help="print the administrator's profile for ~/.aws/credentials")
    keys.add_argument("--data-dir", default=None, help="lamina's data dir (default ~/.local/share/lamina)")
    keys.set_defaults(func=credentials)
    endpoint_help = f"lamina's URL (default $AWS_ENDPOINT_URL or {DEFAULT_ENDPOINT})"
    tail = commands.add_parser("logs", help="print a function's logs, optionally following new ones")
    tail.add_argument("name", metavar="NAME", help="function name (or a log group name starting with /)")
    tail.add_argument("--follow", "-f", action="store_true", help="keep printing new events until Ctrl-C")
    tail.add_argument("--since", default="10m", help="how far back to start: 30s, 10m, 2h, 1d, 1w or an "
                                                     "ISO 8601 time (default 10m)")
    tail.add_argument("--filter", default=None, metavar="PATTERN", help="CloudWatch Logs filter pattern")
    tail.add_argument("--endpoint", default=None, help=endpoint_help)
    tail.add_argument("--region", default=None, help=f"region (default $AWS_REGION or {DEFAULTS.region})")
    tail.set_defaults(func=logs)
    price = commands.add_parser("cost", help="estimated AWS Lambda cost of the invocations so far")
    price.add_argument("--endpoint", default=None, help=endpoint_help)
    price.add_argument("--minutes", type=int, default=None, help="only the last N minutes (default: all)")
    price.add_argument("--json", action="store_true", help="print the report as JSON")
    price.set_defaults(func=cost)
    make = commands.add_parser("build", help="build a SAM template's functions and layers into zips (no Docker)")
    make.add_argument("template", nargs="?", default=None,
                      help="the template (default template.yaml, .yml or .json here)")
    make.add_argument("--build-dir", default=None, help="where the zips go (default .lamina/build next to the "
                                                       "template)")
    make.add_argument("--parameter-overrides", nargs="*", default=[], metavar="KEY=VALUE",
                      help="template parameter values")
    make.set_defaults(func=build)
    ship = commands.add_parser("deploy", help="build a SAM template and deploy it to lamina as a stack")
    ship.add_argument("template", nargs="?", default=None,
                      help="the template (default template.yaml, .yml or .json here)")
    ship.add_argument("--stack", default=None, help="the stack's name (default: the template's directory name)")
    ship.add_argument("--parameter-overrides", nargs="*", default=[], metavar="KEY=VALUE",
                      help="template parameter values")
    ship.add_argument("--build-dir", default=None, help="where the zips go (default .lamina/build)")
    ship.add_argument("--no-confirm", action="store_true", help="apply the change set without asking")
    ship.add_argument("--strict", action="store_true",
                      help="refuse a template with resource types lamina does not deploy (default: list, skip)")
    ship.add_argument("--endpoint", default=None, help=endpoint_help)
    ship.add_argument("--region", default=None, help="region (default: lamina's)")
    ship.set_defaults(func=deploy)
    call = commands.add_parser("invoke", help="invoke a function and print its response and log tail")
    call.add_argument("name", metavar="NAME", help="function name or ARN")
    call.add_argument("--event", default=None, metavar="FILE", help="the event JSON file, or - for stdin "
                                                                    "(default {})")
    call.add_argument("--qualifier", default=None, help="version or alias")
    call.add_argument("--endpoint", default=None, help=endpoint_help)
    call.add_argument("--region", default=None, help=f"region (default $AWS_REGION or {DEFAULTS.region})")
    call.set_defaults(func=invoke)
    develop = commands.add_parser("dev", help="deploy a SAM template, then redeploy on every saved change and "
                                              "stream the functions' logs")
    develop.add_argument("template", nargs="?", default=None,
                         help="the template (default template.yaml, .yml or .json here)")
    develop.add_argument("--stack", default=None, help="the stack's name (default: the template's directory name)")
    develop.add_argument("--parameter-overrides", nargs="*", default=[], metavar="KEY=VALUE",
                         help="template parameter values")
    develop.add_argument("--debug", default=None, metavar="NAME[:PORT]",
                         help="run that function's environments under debugpy, waiting for a debugger on "
                              "127.0.0.1:PORT (default 5678), with timeouts suspended (Python functions)")
    develop.add_argument("--endpoint", default=None, help=endpoint_help)
    develop.add_argument("--region", default=None, help="region (default: lamina's)")
    develop.set_defaults(func=dev)
    _event_commands(commands)
    remove = commands.add_parser("delete", help="delete a stack and every resource it created")
    remove.add_argument("--stack", required=True, help="the stack's name")
    remove.add_argument("--no-confirm", action="store_true", help="delete without asking")
    remove.add_argument("--endpoint", default=None, help=endpoint_help)
    remove.add_argument("--region", default=None, help="region (default: lamina's)")
    remove.set_defaults(func=delete)
    signer = commands.add_parser("sign", help="sign a function or layer zip with a signing profile (code signing)")
    signer.add_argument("zip", metavar="ZIP", help="the .zip to sign (signed in place unless --output)")
    signer.add_argument("--profile", required=True, metavar="NAME", help="signing profile name (aws signer "
                        "put-signing-profile --platform-id AWSLambda-SHA384-ECDSA)")
    signer.add_argument("--output", "-o", default=None, metavar="PATH", help="write the signed zip here instead")
    signer.add_argument("--validity", type=int, default=None, metavar="SECONDS",
                        help="a shorter validity than the profile's signatureValidityPeriod")
    signer.add_argument("--endpoint", default=None, help=endpoint_help)
    signer.set_defaults(func=sign)
    start = commands.add_parser("init", help="start a function from a blueprint (lists them without --blueprint)")
    start.add_argument("--blueprint", default=None, metavar="NAME", help="the blueprint to copy")
    start.add_argument("directory", nargs="?", default=".", metavar="DIR", help="where to write it (default .)")
    start.set_defaults(func=init)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
