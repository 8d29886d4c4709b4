"""Handlers of the function URL config operations (Create/Get/Update/Delete/ListFunctionUrlConfigs).
Imports lamina.control (through the ControlPlane it is handed), lamina.api.call and lamina.api.wire."""

from __future__ import annotations

from lamina.api import wire
from lamina.api.call import Call, Reply
from lamina.control.function_urls import FunctionUrls
from lamina.control.plane import ControlPlane
from lamina.model import FunctionUrlConfig


def _urls(cp: ControlPlane) -> FunctionUrls:
    assert cp.function_urls is not None
    return cp.function_urls


def _shape(urls: FunctionUrls, config: FunctionUrlConfig, *, created: bool = False) -> dict:
    return wire.function_url_config(config, urls.url_for(config.url_id), urls.function_arn(config), created=created)


def create_function_url_config(cp: ControlPlane, call: Call) -> Reply:
    urls = _urls(cp)
    return 201, _shape(urls, urls.create(call.params), created=True)


def get_function_url_config(cp: ControlPlane, call: Call) -> Reply:
    urls = _urls(cp)
    return 200, _shape(urls, urls.get(call.params))


def update_function_url_config(cp: ControlPlane, call: Call) -> Reply:
    urls = _urls(cp)
    return 200, _shape(urls, urls.update(call.params))


def delete_function_url_config(cp: ControlPlane, call: Call) -> Reply:
    _urls(cp).delete(call.params)
    return 204, None


def list_function_url_configs(cp: ControlPlane, call: Call) -> Reply:
    urls = _urls(cp)
    items, marker = urls.list(call.params)
    return 200, wire.listing("FunctionUrlConfigs", [_shape(urls, item) for item in items], marker)


HANDLERS = {
    "CreateFunctionUrlConfig": create_function_url_config,
    "GetFunctionUrlConfig": get_function_url_config,
    "UpdateFunctionUrlConfig": update_function_url_config,
    "DeleteFunctionUrlConfig": delete_function_url_config,
    "ListFunctionUrlConfigs": list_function_url_configs,
}
