"""What every CloudFormation resource handler shares: the `Deployed` answer (physical id, what `Ref`
gives, the attributes `Fn::GetAtt` reads), the `Env` a handler works in (clients, stack, the built
code), and the small helpers around boto3 calls (CloudFormation Tags to a dict, retagging, a
not-found error ignored). Imports nothing from lamina.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError


@dataclass
class Deployed:
    physical_id: str
    ref: Any
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Env:
    """What handlers work with: the clients, the stack's name and the built zips by logical id."""

    clients: Callable[[str], Any]
    stack: str
    region: str
    account_id: str
    code: Callable[[str], bytes]  # logical id → zip bytes of the local build
    minute_seconds: float = 60.0  # how long a minute of a gradual alias shift lasts (tests shorten it)

    def name_for(self, logical_id: str, limit: int = 64) -> str:
        """CloudFormation's generated physical name: stack-LogicalId-SUFFIX (stable per stack and id)."""
        suffix = hashlib.sha256(f"{self.stack}/{logical_id}".encode()).hexdigest()[:12].upper()
        head = f"{self.stack}-{logical_id}"[: limit - 13]
        return f"{head}-{suffix}"


def tags_of(tags: Any) -> dict[str, str]:
    """CloudFormation's Tags ([{Key, Value}], or SAM's {key: value} map) as a dict."""
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return {t["Key"]: str(t["Value"]) for t in tags or []}


def retag(lam, arn: str, before: dict, props: dict) -> None:
    """Bring the Tags of a Lambda resource (function, mapping, code signing config) from the template's
    `before` to its `props`: keys gone are untagged, the rest (re)tagged; tags the template never named
    (lamina's own control tags) stay."""
    old, new = tags_of(before.get("Tags")), tags_of(props.get("Tags"))
    if new == old:
        return
    stale = set(old) - set(new)
    if stale:
        lam.untag_resource(Resource=arn, TagKeys=sorted(stale))
    if new:
        lam.tag_resource(Resource=arn, Tags=new)


def only(props: dict, names: tuple[str, ...]) -> dict:
    return {k: props[k] for k in names if k in props}


def not_found(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in (
        "ResourceNotFoundException", "NoSuchEntity", "NoSuchEntityException")


def ignore_missing(call: Callable[[], Any]) -> None:
    try:
        call()
    except ClientError as error:
        if not not_found(error):
            raise
