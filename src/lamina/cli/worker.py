"""`lamina worker`: a cluster worker node (lamina.worker.WorkerNode, built lazily): the engine and
its sandboxes, running the invocations fronts send over NATS, its function logs written to the
shared database. Imports lamina.config and lamina.cli.common (the worker lazily)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys

from lamina.cli.common import _say, cluster_start_errors, console, event_loop_factory
from lamina.config import Settings, file_system_entry


def add_worker_command(commands) -> None:
    run = commands.add_parser("worker", help="run a cluster worker node (engine and sandboxes) for the fronts")
    run.add_argument("--data-dir", default=None, help="where this worker keeps its code cache, images and "
                                                      "sandboxes (default ~/.local/share/lamina)")
    run.add_argument("--database", default=None, metavar="URL",
                     help="the cluster's database, postgresql://... (default $LAMINA_DATABASE_URL)")
    run.add_argument("--nats", default=None, metavar="URL",
                     help="the cluster's NATS server(s), nats://host:4222 (default $LAMINA_NATS_URL)")
    run.add_argument("--cluster-name", default=None, help="the cluster's name on NATS (default "
                                                         "$LAMINA_CLUSTER_NAME or lamina)")
    run.add_argument("--endpoint", default=None, metavar="URL",
                     help="the lamina URL functions reach as AWS_ENDPOINT_URL (a front or its load balancer; "
                          "default $LAMINA_PUBLIC_URL or http://127.0.0.1:9001)")
    run.add_argument("--sandbox", default=None, choices=("auto", "namespaces", "bubblewrap", "process"),
                     help="how environments are isolated (default $LAMINA_SANDBOX or auto: the strongest here)")
    run.add_argument("--isolation", default=None, choices=("process", "bubblewrap", "namespaces"),
                     help="refuse to start below this isolation level")
    run.add_argument("--file-system", action="append", default=None, metavar="ARN=PATH[:UID:GID]",
                     help="serve an EFS access point ARN from a host directory on this worker; repeatable")
    run.add_argument("--verbose", "-v", action="store_true", help="log what the worker does")
    run.set_defaults(func=worker)


def worker(args: argparse.Namespace) -> int:
    from lamina.worker import WorkerNode

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(data_dir=args.data_dir, database_url=args.database, nats_url=args.nats,
                                 cluster_name=args.cluster_name, public_url=args.endpoint, sandbox=args.sandbox,
                                 isolation=args.isolation)
    if not settings.nats_url:
        _say("lamina worker: give the cluster's NATS server (--nats nats://HOST:4222 or LAMINA_NATS_URL)", "red")
        return 2
    if not settings.database_url:
        _say("lamina worker: give the cluster's database (--database postgresql://... or LAMINA_DATABASE_URL): "
             "function logs are written there", "red")
        return 2
    try:
        flagged = dict(file_system_entry(item) for item in args.file_system or ())
    except ValueError as exc:
        _say(f"lamina worker: --file-system: {exc}", "red")
        return 2
    settings = dataclasses.replace(settings, file_systems={**settings.file_systems, **flagged})
    try:
        node = WorkerNode(settings)
    except ValueError as exc:  # a sandbox backend that cannot run here, or a bad cluster name
        _say(f"lamina worker: {exc}", "red")
        return 2

    def ready(node) -> None:
        console.print(f"[bold]lamina worker[/bold] {node.node_id} ready: cluster {settings.cluster_name} on "
                      f"{settings.nats_url}, sandbox {node.backend.name}")
        sys.stdout.flush()

    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:  # uvloop, as `lamina serve`
            runner.run(node.run(ready=ready))
    except KeyboardInterrupt:
        pass
    except cluster_start_errors() as exc:  # NATS not reachable at start
        _say(f"lamina worker: {getattr(exc, 'message', exc)}", "red")
        return 1
    console.print("lamina worker stopped")
    return 0
