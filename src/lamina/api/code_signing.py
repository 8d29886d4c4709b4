"""Handlers of the code signing config operations (Lambda's side of code signing). Imports
lamina.control (through the ControlPlane it is handed) and lamina.api.call only."""

from __future__ import annotations

from lamina.api import wire
from lamina.api.call import Call, Reply
from lamina.control.plane import ControlPlane


def create_code_signing_config(cp: ControlPlane, call: Call) -> Reply:
    return 201, {"CodeSigningConfig": cp.code_signing.create(call.params)}


def get_code_signing_config(cp: ControlPlane, call: Call) -> Reply:
    return 200, {"CodeSigningConfig": cp.code_signing.get(call.params["CodeSigningConfigArn"])}


def update_code_signing_config(cp: ControlPlane, call: Call) -> Reply:
    return 200, {"CodeSigningConfig": cp.code_signing.update(call.params)}


def delete_code_signing_config(cp: ControlPlane, call: Call) -> Reply:
    cp.code_signing.delete(call.params["CodeSigningConfigArn"])
    return 204, None


def list_code_signing_configs(cp: ControlPlane, call: Call) -> Reply:
    items, marker = cp.code_signing.list(call.params)
    return 200, wire.listing("CodeSigningConfigs", items, marker)


def list_functions_by_code_signing_config(cp: ControlPlane, call: Call) -> Reply:
    arns, marker = cp.code_signing.list_functions(call.params)
    return 200, wire.listing("FunctionArns", arns, marker)


def _name(cp: ControlPlane, call: Call) -> str:
    return cp.functions.ref(call.params["FunctionName"]).name


def put_function_code_signing_config(cp: ControlPlane, call: Call) -> Reply:
    return 200, cp.code_signing.put_function(_name(cp, call), call.params["CodeSigningConfigArn"])


def get_function_code_signing_config(cp: ControlPlane, call: Call) -> Reply:
    return 200, cp.code_signing.get_function(_name(cp, call))


def delete_function_code_signing_config(cp: ControlPlane, call: Call) -> Reply:
    cp.code_signing.delete_function(_name(cp, call))
    return 204, None


HANDLERS = {
    "CreateCodeSigningConfig": create_code_signing_config,
    "GetCodeSigningConfig": get_code_signing_config,
    "UpdateCodeSigningConfig": update_code_signing_config,
    "DeleteCodeSigningConfig": delete_code_signing_config,
    "ListCodeSigningConfigs": list_code_signing_configs,
    "ListFunctionsByCodeSigningConfig": list_functions_by_code_signing_config,
    "PutFunctionCodeSigningConfig": put_function_code_signing_config,
    "GetFunctionCodeSigningConfig": get_function_code_signing_config,
    "DeleteFunctionCodeSigningConfig": delete_function_code_signing_config,
}
