"""Handlers of the alias operations: typed call in, AliasConfiguration out.
Imports lamina.control (through the ControlPlane it is handed), lamina.api.call and lamina.api.wire."""

from __future__ import annotations

from lamina.api import wire
from lamina.api.call import Call, Reply
from lamina.control.plane import ControlPlane


def _out(cp: ControlPlane, alias) -> dict:
    return wire.alias_configuration(alias, cp.aliases.arn(alias.function_name, alias.name))


def create_alias(cp: ControlPlane, call: Call) -> Reply:
    return 201, _out(cp, cp.aliases.create(call.params))


def get_alias(cp: ControlPlane, call: Call) -> Reply:
    return 200, _out(cp, cp.aliases.get(call.params["FunctionName"], call.params["Name"]))


def update_alias(cp: ControlPlane, call: Call) -> Reply:
    return 200, _out(cp, cp.aliases.update(call.params))


def delete_alias(cp: ControlPlane, call: Call) -> Reply:
    cp.aliases.delete(call.params["FunctionName"], call.params["Name"])
    return 204, None


def list_aliases(cp: ControlPlane, call: Call) -> Reply:
    items, marker = cp.aliases.list(call.params)
    return 200, wire.listing("Aliases", [_out(cp, alias) for alias in items], marker)


HANDLERS = {
    "CreateAlias": create_alias,
    "GetAlias": get_alias,
    "UpdateAlias": update_alias,
    "DeleteAlias": delete_alias,
    "ListAliases": list_aliases,
}
