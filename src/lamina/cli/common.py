"""What every `lamina` client command shares: the terminal (rich consoles), lamina's endpoint and
region, the standard credential chain's keys, SigV4-signed requests to lamina's own endpoints, and
boto3 clients for the Lambda and Logs APIs, and the event loop the long-running nodes (`serve`,
`worker`) run on."""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request

from rich.console import Console
from rich.text import Text

from lamina.config import Settings

console = Console(stderr=False, highlight=False)
stderr = Console(stderr=True, highlight=False)

DEFAULTS = Settings()  # the one source of defaults, for help texts and the client endpoint
DEFAULT_ENDPOINT = DEFAULTS.base_url


def event_loop_factory():
    """uvloop's event loop (what a bare uvicorn serves on) when it is installed, else asyncio's own;
    LAMINA_EVENT_LOOP=asyncio chooses asyncio's."""
    if os.environ.get("LAMINA_EVENT_LOOP", "uvloop") != "asyncio":
        try:
            import uvloop
        except ImportError:
            return None
        return uvloop.new_event_loop
    return None


def cluster_start_errors() -> tuple[type[Exception], ...]:
    """What a node's start raises when its cluster's NATS does not answer (imported only when raised)."""
    from lamina.cluster.blob_remote import BlobRemoteError
    from lamina.cluster.connection import NatsUnreachable

    return (NatsUnreachable, BlobRemoteError)


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



def _logs_client(args: argparse.Namespace):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "logs", endpoint_url=_endpoint(args), region_name=_region(args), **_client_keys(),
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=60),
    )



def _lambda_client(args: argparse.Namespace, read_timeout: int = 910):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "lambda", endpoint_url=_endpoint(args), region_name=_region(args), **_client_keys(),
        config=Config(retries={"max_attempts": 0}, connect_timeout=5, read_timeout=read_timeout),
    )


