"""ARNs and the accepted forms of FunctionName: building them and taking them apart.

Pure functions; imports only lamina.errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lamina.errors import (
    CodeSigningConfigNotFoundException,
    InvalidParameterValueException,
    ResourceNotFoundException,
)

_FULL = re.compile(
    r"^arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z]{2}(-gov)?(-iso[a-z]?)?-[a-z]+-\d{1}):"
    r"(?P<account>\d{12}):function:(?P<name>[a-zA-Z0-9-_.]+)(:(?P<qualifier>\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?$"
)
_PARTIAL = re.compile(
    r"^(?P<account>\d{12}):function:(?P<name>[a-zA-Z0-9-_.]+)(:(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]+))?$"
)
_MAPPING = re.compile(
    r"^arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z]{2}(-gov)?(-iso[a-z]?)?-[a-z]+-\d{1}):"
    r"(?P<account>\d{12}):event-source-mapping:(?P<uuid>[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})$"
)
_CODE_SIGNING_CONFIG = re.compile(
    r"^arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z]{2}(-gov)?(-iso[a-z]?)?-[a-z]+-\d{1}):"
    r"(?P<account>\d{12}):code-signing-config:(?P<id>csc-[a-z0-9]{17})$"
)
_SHORT = re.compile(r"^(?P<name>[a-zA-Z0-9-_.]+)(:(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]+))?$")


@dataclass(frozen=True)
class FunctionRef:
    """A function named by the caller: its bare name and the qualifier it carried, if any."""

    name: str
    qualifier: str | None = None


def parse_function_name(value: str, region: str, account: str) -> FunctionRef:
    """Split NAME, NAME:QUAL, ACCOUNT:function:NAME[:QUAL] or a full ARN into name and qualifier."""
    match = _FULL.match(value)
    if match:
        if match["region"] != region:
            raise ResourceNotFoundException(
                f"Functions from '{match['region']}' are not reachable in this region ('{region}')"
            )
        if match["account"] != account:
            raise ResourceNotFoundException(f"Function not found: {value}")
        return FunctionRef(match["name"], match["qualifier"])
    match = _PARTIAL.match(value) or _SHORT.match(value)
    if match is None:
        raise ResourceNotFoundException(f"Function not found: {function_arn(region, account, value)}")
    if "account" in match.groupdict() and match["account"] != account:
        raise ResourceNotFoundException(f"Function not found: {value}")
    return FunctionRef(match["name"], match["qualifier"])


def merge_qualifier(derived: str | None, given: str | None) -> str | None:
    """The qualifier a call names: from the function name, the Qualifier parameter, or both if equal."""
    if derived is not None and given is not None and derived != given:
        raise InvalidParameterValueException(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    return derived if derived is not None else given


def function_arn(region: str, account: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def layer_arn(region: str, account: str, layer: str, version: int | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account}:layer:{layer}"
    return f"{arn}:{version}" if version is not None else arn


def tagged_function_name(resource: str, region: str, account: str) -> str:
    """The function a Tag* call's Resource ARN names (tags live on unqualified function ARNs)."""
    match = _FULL.match(resource)
    if match is None or match["qualifier"] is not None:
        raise InvalidParameterValueException(f"Invalid resource ARN: {resource}")
    if match["region"] != region:
        raise ResourceNotFoundException(
            f"Functions from '{match['region']}' are not reachable in this region ('{region}')"
        )
    if match["account"] != account:
        raise ResourceNotFoundException(f"Function not found: {resource}")
    return match["name"]


def mapping_arn(region: str, account: str, uuid: str) -> str:
    return f"arn:aws:lambda:{region}:{account}:event-source-mapping:{uuid}"


def mapping_not_found(resource: str) -> ResourceNotFoundException:
    """AWS's 404 of the Tag* calls for a mapping ARN that names no mapping (Get/Update/Delete say less)."""
    return ResourceNotFoundException(f"Event source mapping not found: {resource}")


def tagged_mapping_uuid(resource: str, region: str, account: str) -> str | None:
    """The event source mapping a Tag* call's Resource ARN names; None when it is no mapping ARN.
    A mapping of another region or account is not found here (AWS: "Event source mapping not found")."""
    return _tagged(_MAPPING, resource, region, account, mapping_not_found, "uuid")


def code_signing_config_arn(region: str, account: str, csc_id: str) -> str:
    return f"arn:aws:lambda:{region}:{account}:code-signing-config:{csc_id}"


def code_signing_config_not_found(resource: str) -> CodeSigningConfigNotFoundException:
    """AWS's 404 for a code signing config named by a call that does not own configs (a function's
    PutFunctionCodeSigningConfig, CreateFunction, and the Tag* calls), naming its ARN."""
    return CodeSigningConfigNotFoundException(
        "The code signing configuration cannot be found. Check that the provided configuration is not deleted: "
        f"{resource}.")


def tagged_code_signing_config_id(resource: str, region: str, account: str) -> str | None:
    """The code signing config (its csc-... id) a Tag* call's Resource ARN names; None when it is no
    config ARN. A config of another region or account is not found here."""
    return _tagged(_CODE_SIGNING_CONFIG, resource, region, account, code_signing_config_not_found, "id")


def _tagged(pattern: re.Pattern, resource: str, region: str, account: str,
            not_found: Callable[[str], Exception], group: str) -> str | None:
    """The `group` of a Tag* call's Resource ARN matching `pattern`; None when it does not match;
    `not_found(resource)` raised for one of another region or account."""
    match = pattern.match(resource)
    if match is None:
        return None
    if match["region"] != region or match["account"] != account:
        raise not_found(resource)
    return match[group]
