"""The tag condition keys of a Lambda call (attribute-based access control): aws:ResourceTag/<key>,
aws:RequestTag/<key> and aws:TagKeys.

Which actions carry which (Lambda's service authorization reference; reference section 4.10):
- aws:RequestTag/<key> and aws:TagKeys: the tags a call sets, the Tags of CreateFunction,
  CreateEventSourceMapping, CreateCodeSigningConfig and TagResource; UntagResource carries
  aws:TagKeys alone (its TagKeys). aws:TagKeys is multi-valued (for ForAnyValue: / ForAllValues:);
  a call that sets no tags has neither key.
- aws:ResourceTag/<key>: the current tags of the resource the action is on, for the resource types
  that have them: a function (its versions and aliases carry the function's tags, `tagged_arn`
  gives the unqualified ARN), an event source mapping, a code signing config. Layers have none.
  CreateFunction's are the tags it creates the function with: Lambda's ABAC guide allows
  CreateFunction on a condition on aws:RequestTag and aws:ResourceTag together.
The tag key after the slash is case-insensitive, as a condition key's name is (the request context
holds keys lower-cased); values are compared as each operator compares. Two tags whose keys differ
only in case give the key both values (a plain operator then needs one to match, a negated one both).

`resource_keys` asks a `lookup(arn)` callable for the tags (the composition root reads the store),
and the authorizer asks it only for a policy that references an aws:ResourceTag/ key.
Imports nothing from lamina.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

RESOURCE_TAG = "aws:resourcetag/"
REQUEST_TAG = "aws:requesttag/"
TAG_KEYS = "aws:tagkeys"
SETS_TAGS = frozenset({"CreateFunction", "CreateEventSourceMapping", "CreateCodeSigningConfig", "TagResource"})
REMOVES_TAGS = frozenset({"UntagResource"})
TAGGED_KINDS = frozenset({"event-source-mapping", "code-signing-config"})

Lookup = Callable[[str], Mapping[str, str] | None]


def is_tag_key(key: str) -> bool:
    """Whether a (lower-cased) context key is one of the tag keys."""
    return key == TAG_KEYS or key.startswith(RESOURCE_TAG) or key.startswith(REQUEST_TAG)


def keyed(prefix: str, tags: Mapping[str, object]) -> dict[str, object]:
    """The context entries `prefix` + lower-cased tag key → value (a list when keys differ only in case)."""
    out: dict[str, object] = {}
    for key, value in tags.items():
        name = prefix + str(key).lower()
        if name in out:
            previous = out[name]
            out[name] = [*(previous if isinstance(previous, list) else [previous]), str(value)]
        else:
            out[name] = str(value)
    return out


def request_keys(service: str, operation: str, params: Mapping) -> dict[str, object]:
    """aws:RequestTag/<key> and aws:TagKeys of a call (none for a call that sets no tags)."""
    if service != "lambda":
        return {}
    if operation in SETS_TAGS:
        tags = params.get("Tags")
        if not isinstance(tags, Mapping):
            return {}
        return {**keyed(REQUEST_TAG, tags), TAG_KEYS: [str(key) for key in tags]}
    if operation in REMOVES_TAGS:
        keys = params.get("TagKeys")
        if isinstance(keys, (list, tuple)):
            return {TAG_KEYS: [str(key) for key in keys]}
    return {}


def tagged_arn(service: str, resource: str) -> str | None:
    """The ARN whose tags are aws:ResourceTag for an action on `resource`: a function's (unqualified,
    for a version or alias too), an event source mapping's or a code signing config's; None for
    anything else (a layer, `*`, another service's resource)."""
    if service != "lambda":
        return None
    fields = resource.split(":")
    if len(fields) < 7 or fields[0] != "arn" or fields[2] != "lambda":
        return None
    kind = fields[5]
    if kind == "function":
        return ":".join(fields[:7])
    if kind in TAGGED_KINDS and len(fields) == 7:
        return resource
    return None


def resource_keys(service: str, operation: str, params: Mapping, resource: str,
                  lookup: Lookup) -> dict[str, object]:
    """aws:ResourceTag/<key> of a call on `resource` (none when the resource has no tags or does not exist)."""
    if service == "lambda" and operation == "CreateFunction":
        tags = params.get("Tags")
        return keyed(RESOURCE_TAG, tags) if isinstance(tags, Mapping) else {}
    arn = tagged_arn(service, resource)
    if arn is None:
        return {}
    tags = lookup(arn)
    return keyed(RESOURCE_TAG, tags) if tags else {}
