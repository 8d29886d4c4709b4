"""Handlers of the function, tag and account operations: typed call in, wire shape out.

Each handler takes the typed Call (input members parsed and validated, and the caller) and
returns the HTTP status and JSON body AWS answers with. Imports lamina.control (through the
ControlPlane it is handed), lamina.api.wire, lamina.api.call and lamina.model.
"""

from __future__ import annotations

from lamina.api import wire
from lamina.api.call import Call, Reply
from lamina.control.plane import ControlPlane
from lamina.model import FunctionVersion


def _config(cp: ControlPlane, v: FunctionVersion, *, qualified: bool | str, list_item: bool = False) -> dict:
    """`qualified`: False → unqualified ARN, True → qualified by the version, a string → by that qualifier."""
    qualifier = qualified if isinstance(qualified, str) else (v.version if qualified else None)
    arn = cp.functions.arn(v.name, qualifier)
    return wire.function_configuration(v, arn, cp.region, list_item=list_item)


def _code(cp: ControlPlane, version: FunctionVersion) -> dict:
    if version.package_type == "Image":
        code = {"RepositoryType": "ECR", "ImageUri": version.image_uri}
        if version.resolved_image_uri:
            code["ResolvedImageUri"] = version.resolved_image_uri
        return code
    return {"RepositoryType": "S3", "Location": cp.code_url(version.code_hex)}


def create_function(cp: ControlPlane, call: Call) -> Reply:
    return 201, _config(cp, cp.functions.create(call.params), qualified=False)


def get_function(cp: ControlPlane, call: Call) -> Reply:
    function, version = cp.functions.get(call.params["FunctionName"], call.params.get("Qualifier"))
    qualifier = cp.functions.ref(call.params["FunctionName"], call.params.get("Qualifier")).qualifier
    body: dict = {
        "Configuration": _config(cp, version, qualified=qualifier or False),
        "Code": _code(cp, version),
    }
    if function.tags:
        body["Tags"] = dict(function.tags)
    reserved = cp.concurrency.all().get(function.name)
    if reserved is not None:
        body["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
    return 200, body


def get_function_configuration(cp: ControlPlane, call: Call) -> Reply:
    _, version = cp.functions.get(call.params["FunctionName"], call.params.get("Qualifier"))
    qualifier = cp.functions.ref(call.params["FunctionName"], call.params.get("Qualifier")).qualifier
    return 200, _config(cp, version, qualified=qualifier or False)


def list_functions(cp: ControlPlane, call: Call) -> Reply:
    every = call.params.get("FunctionVersion")
    items, marker = cp.functions.list(marker=call.params.get("Marker"), max_items=call.params.get("MaxItems"),
                                      function_version=every, master_region=call.params.get("MasterRegion"))
    return 200, wire.listing("Functions", [_config(cp, v, qualified=every == "ALL", list_item=True) for v in items], marker)


def list_versions_by_function(cp: ControlPlane, call: Call) -> Reply:
    items, marker = cp.functions.list_versions(call.params["FunctionName"], marker=call.params.get("Marker"),
                                               max_items=call.params.get("MaxItems"))
    return 200, wire.listing("Versions", [_config(cp, v, qualified=True, list_item=True) for v in items], marker)


def update_function_code(cp: ControlPlane, call: Call) -> Reply:
    return 200, _config(cp, cp.functions.update_code(call.params), qualified=False)


def update_function_configuration(cp: ControlPlane, call: Call) -> Reply:
    return 200, _config(cp, cp.functions.update_configuration(call.params), qualified=False)


def publish_version(cp: ControlPlane, call: Call) -> Reply:
    return 201, _config(cp, cp.functions.publish(call.params), qualified=True)


def delete_function(cp: ControlPlane, call: Call) -> Reply:
    cp.functions.delete(call.params["FunctionName"], call.params.get("Qualifier"))
    return 204, None


def get_account_settings(cp: ControlPlane, call: Call) -> Reply:
    return 200, wire.account_settings(cp.account.get())


def list_tags(cp: ControlPlane, call: Call) -> Reply:
    return 200, {"Tags": cp.tags.list(call.params["Resource"])}


def tag_resource(cp: ControlPlane, call: Call) -> Reply:
    cp.tags.tag(call.params["Resource"], call.params.get("Tags") or {})
    return 204, None


def untag_resource(cp: ControlPlane, call: Call) -> Reply:
    cp.tags.untag(call.params["Resource"], call.params.get("TagKeys") or [])
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
