"""The `lamina` command: `serve` runs the service; the other commands are clients of its HTTP API."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from rich.console import Console

from lamina import __version__
from lamina.config import Settings

console = Console(stderr=False, highlight=False)


def _banner(server) -> None:
    health = server.health()
    sandbox = health["sandbox"]
    console.print(f"[bold]lamina {__version__}[/bold] ready: Lambda API at [cyan]{server.settings.base_url}[/cyan]")
    console.print(f"  data dir  {server.settings.data_dir}")
    console.print(f"  sandbox   {sandbox['backend']}")
    if sandbox["notEnforced"]:
        console.print(f"  [yellow]not enforced: {', '.join(sandbox['notEnforced'])}[/yellow]")
    console.print(f"  use it:    export AWS_ENDPOINT_URL={server.settings.base_url}")
    sys.stdout.flush()


def serve(args: argparse.Namespace) -> int:
    from lamina.server import Server

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(host=args.host, port=args.port, data_dir=args.data_dir)
    server = Server(settings)
    try:
        asyncio.run(server.serve(ready=_banner))
    except KeyboardInterrupt:
        pass
    console.print("lamina stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lamina", description="A self-hosted AWS Lambda.")
    parser.add_argument("--version", action="version", version=f"lamina {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run the Lambda service")
    run.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=None, help="port to listen on (default 9001)")
    run.add_argument("--data-dir", default=None, help="where functions, code and logs live "
                                                      "(default ~/.local/share/lamina)")
    run.add_argument("--verbose", "-v", action="store_true", help="log what the service does")
    run.set_defaults(func=serve)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
