"""The `lamina` command: its argument parser; each command lives in the module named for what it
works on. `serve` runs the service (lamina.cli.serve); the others are clients of its HTTP API:
`logs` (lamina.cli.logs), `cost` (lamina.cli.cost), the SAM commands `build` / `deploy` / `dev` /
`delete` (lamina.cli.stacks), `worker` (lamina.cli.worker, a cluster worker node), `invoke` / `event` / `sign` / `init` (lamina.cli.functions), all on
lamina.cli.common. Imports lamina.config, lamina.__init__, lamina.sam and lamina.blueprints only
(the server lazily, for `serve`); never the store, the engine or the HTTP layer.
"""

from __future__ import annotations

import argparse

from lamina import __version__
from lamina.cli.common import DEFAULT_ENDPOINT, DEFAULTS
from lamina.cli.cost import cost
from lamina.cli.functions import add_event_commands, init, invoke, sign
from lamina.cli.logs import log_line, logs, message_style, parse_since, short_stream
from lamina.cli.serve import credentials, serve
from lamina.cli.stacks import build, delete, deploy, dev
from lamina.cli.worker import add_worker_command
from lamina.config import AUTH_MODES

__all__ = ["log_line", "main", "message_style", "parse_since", "short_stream"]


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
    run.add_argument("--database", default=None, metavar="URL",
                     help="the database holding lamina's state, shared by every node of a cluster: "
                          "postgresql://user:password@host:5432/name (default $LAMINA_DATABASE_URL, else SQLite "
                          "in the data dir)")
    run.add_argument("--nats", default=None, metavar="URL",
                     help="cluster mode: run as a front node of the cluster on this NATS server (nats://HOST:4222; "
                          "default $LAMINA_NATS_URL); invocations run on `lamina worker` nodes")
    run.add_argument("--with-worker", action="store_true", default=None,
                     help="cluster mode: also run a worker node in this process")
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
    add_event_commands(commands)
    add_worker_command(commands)
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
