"""Handlers of the function, tag and account operations: typed call in, wire shape out.

Each handler takes the operation's input members (parsed and validated) and returns the
HTTP status and JSON body AWS answers with. Imports lamina.control (through the Services
it is handed), lamina.api.wire and lamina.model.
"""

from __future__ import annotations

from dataclasses import dataclass

from lamina.api import wire
from lamina.control.account import AccountSettings
from lamina.control.aliases import Aliases
from lamina.control.concurrency import ReservedConcurrency
from lamina.control.event_configs import EventConfigs
from lamina.control.functions import Functions
from lamina.control.layers import Layers
from lamina.control.provisioned import ProvisionedConcurrency
from lamina.control.tags import Tags
from lamina.model import FunctionVersion

Reply = tuple[int, dict | None]


@dataclass(frozen=True)
class ControlPlane:
    functions: Functions
    aliases: Aliases
    layers: Layers
    event_configs: EventConfigs
    concurrency: ReservedConcurrency
    provisioned: ProvisionedConcurrency
    tags: Tags
    account: AccountSettings
    region: str
    code_url: object  # Callable[[str], str]: code hex → download URL


def _config(cp: ControlPlane, v: FunctionVersion, *, qualified: bool | str, list_item: bool = False) -> dict:
    """`qualified`: False → unqualified ARN, True → qualified by the version, a string → by that qualifier."""
    qualifier = qualified if isinstance(qualified, str) else (v.version if qualified else None)
    arn = cp.functions.arn(v.name, qualifier)
    return wire.function_configuration(v, arn, cp.region, list_item=list_item)


def create_function(cp: ControlPlane, params: dict) -> Reply:
    return 201, _config(cp, cp.functions.create(params), qualified=False)


def get_function(cp: ControlPlane, params: dict) -> Reply:
    function, version = cp.functions.get(params["FunctionName"], params.get("Qualifier"))
    qualifier = cp.functions.ref(params["FunctionName"], params.get("Qualifier")).qualifier
    body: dict = {
        "Configuration": _config(cp, version, qualified=qualifier or False),
        "Code": {"RepositoryType": "S3", "Location": cp.code_url(version.code_hex)},
    }
    if function.tags:
        body["Tags"] = dict(function.tags)
    reserved = cp.concurrency.all().get(function.name)
    if reserved is not None:
        body["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
    return 200, body


def get_function_configuration(cp: ControlPlane, params: dict) -> Reply:
    _, version = cp.functions.get(params["FunctionName"], params.get("Qualifier"))
    qualifier = cp.functions.ref(params["FunctionName"], params.get("Qualifier")).qualifier
    return 200, _config(cp, version, qualified=qualifier or False)


def list_functions(cp: ControlPlane, params: dict) -> Reply:
    every = params.get("FunctionVersion")
    items, marker = cp.functions.list(marker=params.get("Marker"), max_items=params.get("MaxItems"),
                                      function_version=every)
    body: dict = {"Functions": [_config(cp, v, qualified=every == "ALL", list_item=True) for v in items]}
    if marker:
        body["NextMarker"] = marker
    return 200, body


def list_versions_by_function(cp: ControlPlane, params: dict) -> Reply:
    items, marker = cp.functions.list_versions(params["FunctionName"], marker=params.get("Marker"),
                                               max_items=params.get("MaxItems"))
    body: dict = {"Versions": [_config(cp, v, qualified=True, list_item=True) for v in items]}
    if marker:
        body["NextMarker"] = marker
    return 200, body


def update_function_code(cp: ControlPlane, params: dict) -> Reply:
    return 200, _config(cp, cp.functions.update_code(params), qualified=False)


def update_function_configuration(cp: ControlPlane, params: dict) -> Reply:
    return 200, _config(cp, cp.functions.update_configuration(params), qualified=False)


def publish_version(cp: ControlPlane, params: dict) -> Reply:
    return 201, _config(cp, cp.functions.publish(params), qualified=True)


def delete_function(cp: ControlPlane, params: dict) -> Reply:
    cp.functions.delete(params["FunctionName"], params.get("Qualifier"))
    return 204, None


def get_account_settings(cp: ControlPlane, params: dict) -> Reply:
    return 200, cp.account.get()


def list_tags(cp: ControlPlane, params: dict) -> Reply:
    return 200, {"Tags": cp.tags.list(params["Resource"])}


def tag_resource(cp: ControlPlane, params: dict) -> Reply:
    cp.tags.tag(params["Resource"], params.get("Tags") or {})
    return 204, None


def untag_resource(cp: ControlPlane, params: dict) -> Reply:
    cp.tags.untag(params["Resource"], params.get("TagKeys") or [])
    return 204, None


HANDLERS = {
    "CreateFunction": create_function,
    "GetFunction": get_function,
    "GetFunctionConfiguration": get_function_configuration,
    "ListFunctions": list_functions,
    "ListVersionsByFunction": list_versions_by_function,
    "UpdateFunctionCode": update_function_code,
    "UpdateFunctionConfiguration": update_function_configuration,
    "PublishVersion": publish_version,
    "DeleteFunction": delete_function,
    "GetAccountSettings": get_account_settings,
    "ListTags": list_tags,
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
}
