"""The SAM commands: `lamina build`, `lamina deploy`, `lamina dev` (redeploy on save, logs, --debug) and
`lamina delete`, clients of lamina through lamina.sam."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from rich.table import Table
from rich.text import Text

from lamina.cli.common import (
    DEFAULTS,
    _client_keys,
    _endpoint,
    _lambda_client,
    _logs_client,
    _say,
    console,
)
from lamina.cli.logs import Tail, log_line


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
    from lamina.sam.deployed import Env

    endpoint = _endpoint(args)
    try:
        with urllib.request.urlopen(endpoint + "/health", timeout=10) as response:
            health = json.loads(response.read())
    except OSError as error:
        raise ConnectionError(f"lamina is not reachable at {endpoint}: {error}") from None
    region = args.region or health.get("region") or DEFAULTS.region
    session = boto3.session.Session(**_client_keys(), region_name=region)  # the standard chain, else any key
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
    for logical_id, (kind, needed) in the_plan.blocked.items():
        console.print(f"[yellow]not deployed[/yellow] {logical_id} ({kind}): it needs {needed}, which lamina "
                      "does not deploy")
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
    deployer = sam_deploy.Deployer(env, state, _step_line)
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


def _step_line(line: str) -> None:
    """A deploy or delete step, plain text: brackets in Lambda's messages are not rich markup."""
    console.print(Text("  " + line))


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
                                   _step_line)
    try:
        retained = deployer.delete(args.stack, document)
    except sam_deploy.DeployError as error:
        _say(f"delete failed: {error}", "red")
        return 1
    if retained:
        console.print(f"retained (DeletionPolicy Retain): {', '.join(retained)}")
    console.print(f"[green]Stack {args.stack} deleted.[/green]")
    return 0


