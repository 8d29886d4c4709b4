"""`lamina serve` (the service itself, built lazily) and `lamina credentials` (the profile of the key
`--auth sigv4` made)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import logging
import sys

from rich.text import Text

from lamina import __version__
from lamina.cli.common import (
    _say,
    cluster_start_errors,
    console,
    event_loop_factory,
)
from lamina.config import AUTH_MODES, CREDENTIALS_FILE, Settings, file_system_entry


def _ready(server) -> None:
    """Once the port listens: everything built at start moves out of the collector's reach (a full
    collection of that heap is a ~0.2 s pause every ~10,000 invokes, ~20 µs each on average), then
    the banner."""
    gc.freeze()
    _banner(server)


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
                                 isolation=args.isolation, stop_grace=args.stop_grace, auth=args.auth,
                                 database_url=args.database, nats_url=getattr(args, "nats", None),
                                 with_worker=getattr(args, "with_worker", None))
    if settings.with_worker and not settings.nats_url:
        _say("lamina: --with-worker runs a cluster worker beside this front: it needs --nats nats://HOST:4222", "red")
        return 2
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
    worker = None
    if settings.nats_url and settings.with_worker:
        from lamina.worker import WorkerNode

        def worker(link, nodes, node_id):
            return WorkerNode(settings, link=link, nodes=nodes, node_id=node_id)
    try:
        server = Server(settings, worker=worker)
    except ValueError as exc:  # a sandbox backend that cannot run here, isolation below the minimum, or an
        # unreachable database
        _say(f"lamina: {exc}", "red")
        return 2
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(server.serve(ready=_ready))
    except KeyboardInterrupt:
        pass
    except cluster_start_errors() as exc:  # the cluster's NATS not reachable at start
        _say(f"lamina: {getattr(exc, 'message', exc)}", "red")
        return 1
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


