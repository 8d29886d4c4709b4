"""Commands about one function or its package: `lamina invoke`, `lamina event` (sample events),
`lamina sign` (code signing) and `lamina init` (a blueprint)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

from rich.text import Text

from lamina.cli.common import (
    _endpoint,
    _lambda_client,
    _open,
    _say,
    console,
    stderr,
)
from lamina.cli.logs import message_style


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


def add_event_commands(commands) -> None:
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


