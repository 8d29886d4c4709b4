"""Handlers of the asynchronous-invocation and concurrency settings: event invoke configs, reserved
and provisioned concurrency.
Imports lamina.control (through the ControlPlane it is handed), lamina.api.call and lamina.api.wire."""

from __future__ import annotations

from lamina.api import wire
from lamina.api.call import Call, Reply
from lamina.control.plane import ControlPlane


def put_function_event_invoke_config(cp: ControlPlane, call: Call) -> Reply:
    return 200, wire.event_invoke_config(cp.event_configs.put(call.params))


def update_function_event_invoke_config(cp: ControlPlane, call: Call) -> Reply:
    return 200, wire.event_invoke_config(cp.event_configs.put(call.params, merge=True))


def get_function_event_invoke_config(cp: ControlPlane, call: Call) -> Reply:
    return 200, wire.event_invoke_config(cp.event_configs.get(call.params))


def delete_function_event_invoke_config(cp: ControlPlane, call: Call) -> Reply:
    cp.event_configs.delete(call.params)
    return 204, None


def list_function_event_invoke_configs(cp: ControlPlane, call: Call) -> Reply:
    items, marker = cp.event_configs.list(call.params)
    return 200, wire.listing("FunctionEventInvokeConfigs", [wire.event_invoke_config(item) for item in items], marker)


def put_function_concurrency(cp: ControlPlane, call: Call) -> Reply:
    reserved = cp.concurrency.put(call.params["FunctionName"], call.params["ReservedConcurrentExecutions"])
    return 200, {"ReservedConcurrentExecutions": reserved}


def get_function_concurrency(cp: ControlPlane, call: Call) -> Reply:
    reserved = cp.concurrency.get(call.params["FunctionName"])
    return 200, {} if reserved is None else {"ReservedConcurrentExecutions": reserved}


def delete_function_concurrency(cp: ControlPlane, call: Call) -> Reply:
    cp.concurrency.delete(call.params["FunctionName"])
    return 204, None


HANDLERS = {
    "PutFunctionEventInvokeConfig": put_function_event_invoke_config,
    "UpdateFunctionEventInvokeConfig": update_function_event_invoke_config,
    "GetFunctionEventInvokeConfig": get_function_event_invoke_config,
    "DeleteFunctionEventInvokeConfig": delete_function_event_invoke_config,
    "ListFunctionEventInvokeConfigs": list_function_event_invoke_configs,
    "PutFunctionConcurrency": put_function_concurrency,
    "GetFunctionConcurrency": get_function_concurrency,
    "DeleteFunctionConcurrency": delete_function_concurrency,
}


def put_provisioned_concurrency_config(cp: ControlPlane, call: Call) -> Reply:
    return 202, wire.provisioned_concurrency_config(cp.provisioned.put(call.params))


def get_provisioned_concurrency_config(cp: ControlPlane, call: Call) -> Reply:
    return 200, wire.provisioned_concurrency_config(cp.provisioned.get(call.params))


def delete_provisioned_concurrency_config(cp: ControlPlane, call: Call) -> Reply:
    cp.provisioned.delete(call.params)
    return 204, None


def list_provisioned_concurrency_configs(cp: ControlPlane, call: Call) -> Reply:
    items, marker = cp.provisioned.list(call.params)
    configs = [wire.provisioned_concurrency_config(item, list_item=True) for item in items]
    return 200, wire.listing("ProvisionedConcurrencyConfigs", configs, marker)


HANDLERS.update({
    "PutProvisionedConcurrencyConfig": put_provisioned_concurrency_config,
    "GetProvisionedConcurrencyConfig": get_provisioned_concurrency_config,
    "DeleteProvisionedConcurrencyConfig": delete_provisioned_concurrency_config,
    "ListProvisionedConcurrencyConfigs": list_provisioned_concurrency_configs,
})
