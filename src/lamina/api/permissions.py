"""Handlers of the resource-policy operations: AddPermission, RemovePermission, GetPolicy and their
layer-version counterparts. Imports lamina.control (through the ControlPlane it is handed) and
lamina.api.call only."""

from __future__ import annotations

from lamina.api.call import Call, Reply
from lamina.control.permissions import compact_statement
from lamina.control.plane import ControlPlane


def add_permission(cp: ControlPlane, call: Call) -> Reply:
    return 201, {"Statement": compact_statement(cp.permissions.add(call.params))}


def remove_permission(cp: ControlPlane, call: Call) -> Reply:
    cp.permissions.remove(call.params)
    return 204, None


def get_policy(cp: ControlPlane, call: Call) -> Reply:
    policy, revision = cp.permissions.get(call.params["FunctionName"], call.params.get("Qualifier"))
    return 200, {"Policy": policy, "RevisionId": revision}


def add_layer_version_permission(cp: ControlPlane, call: Call) -> Reply:
    statement, revision = cp.permissions.add_layer(call.params)
    return 201, {"Statement": compact_statement(statement), "RevisionId": revision}


def remove_layer_version_permission(cp: ControlPlane, call: Call) -> Reply:
    cp.permissions.remove_layer(call.params)
    return 204, None


def get_layer_version_policy(cp: ControlPlane, call: Call) -> Reply:
    policy, revision = cp.permissions.get_layer(call.params["LayerName"], call.params["VersionNumber"])
    return 200, {"Policy": policy, "RevisionId": revision}


HANDLERS = {
    "AddPermission": add_permission,
    "RemovePermission": remove_permission,
    "GetPolicy": get_policy,
    "AddLayerVersionPermission": add_layer_version_permission,
    "RemoveLayerVersionPermission": remove_layer_version_permission,
    "GetLayerVersionPolicy": get_layer_version_policy,
}
