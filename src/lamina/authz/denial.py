"""The text of an access denial, as AWS words it (reference section 4.11).

`message(caller_arn, action, resource, reason)`:
`User: <arn> is not authorized to perform: <action> on resource: <arn or *> <reason suffix>`, the
suffix saying which policy type denied or failed to allow (none for sts:AssumeRole, as STS words it). Imports lamina.authz.evaluate only.
"""

from __future__ import annotations

from lamina.authz.evaluate import (
    EXPLICIT_DENY_IDENTITY,
    EXPLICIT_DENY_RESOURCE,
    NO_IDENTITY_ALLOW,
    NO_RESOURCE_ALLOW,
)

# Actions whose denial AWS words without a reason (STS's AssumeRole, reference section 4.4).
BARE = frozenset({"sts:AssumeRole"})


def message(caller_arn: str, action: str, resource: str, reason: str) -> str:
    head = f"User: {caller_arn} is not authorized to perform: {action} on resource: {resource}"
    if action in BARE:
        return head
    if reason == NO_IDENTITY_ALLOW:
        return f"{head} because no identity-based policy allows the {action} action"
    if reason == NO_RESOURCE_ALLOW:
        return f"{head} because no resource-based policy allows the {action} action"
    if reason == EXPLICIT_DENY_IDENTITY:
        return f"{head} with an explicit deny in an identity-based policy"
    if reason == EXPLICIT_DENY_RESOURCE:
        return f"{head} with an explicit deny in a resource-based policy"
    return head
