"""The `lamina` command: `serve` runs the service; the other commands are clients of its HTTP API.

`logs` reads a function's log group through the CloudWatch Logs API (boto3), `cost` reads
`/system/cost`. Imports lamina.config and lamina.__init__ only (the server lazily, for `serve`);
never the store, the engine or the HTTP layer.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import logging
import os
import re
import sys
import time
import urllib.error
import urllib.request

from rich.console import Console
from rich.table import Table
from rich.text import Text

from lamina import __version__
from lamina.config import AUTH_MODES, CREDENTIALS_FILE, Settings

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

    env = os.environ
    region = args.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULTS.region
    return boto3.client(
        "logs", endpoint_url=_endpoint(args), region_name=region,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or "lamina",
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or "lamina",
        aws_session_token=os.environ.get("AWS_SESSION_TOKEN") or None,
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
        seen: dict[str, int] = {}  # eventId → timestamp, for the events inside the re-read window
        newest, start, noted = since, since, None
        while True:
            try:
                for event in _events(client, group, start, args.filter):
                    if event["eventId"] in seen:
                        continue
                    seen[event["eventId"]] = event["timestamp"]
                    newest = max(newest, event["timestamp"])
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
            start = max(since, newest - FOLLOW_LOOKBACK_MS)
            seen = {key: stamp for key, stamp in seen.items() if stamp >= start}
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
        with urllib.request.urlopen(_signed_get(url), timeout=30) as response:
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
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
