"""Handlers of the layer operations. Imports lamina.control (through the ControlPlane it is handed),
lamina.api.call and lamina.api.wire."""

from __future__ import annotations

from lamina.api import wire
from lamina.api.call import Call, Reply
from lamina.control.plane import ControlPlane


def _out(cp: ControlPlane, layer, *, list_item: bool = False) -> dict:
    return wire.layer_version(layer, cp.layers.layer_arn(layer.name), cp.layers.layer_arn(layer.name, layer.version),
                              cp.code_url(layer.code_hex), list_item=list_item)


def publish_layer_version(cp: ControlPlane, call: Call) -> Reply:
    return 201, _out(cp, cp.layers.publish(call.params))


def get_layer_version(cp: ControlPlane, call: Call) -> Reply:
    return 200, _out(cp, cp.layers.get(call.params["LayerName"], call.params["VersionNumber"]))


def get_layer_version_by_arn(cp: ControlPlane, call: Call) -> Reply:
    return 200, _out(cp, cp.layers.get_by_arn(call.params["Arn"]))


def list_layers(cp: ControlPlane, call: Call) -> Reply:
    items, marker = cp.layers.list_layers(call.params)
    layers = [{"LayerName": layer.name, "LayerArn": cp.layers.layer_arn(layer.name),
               "LatestMatchingVersion": _out(cp, layer, list_item=True)} for layer in items]
    return 200, wire.listing("Layers", layers, marker)


def list_layer_versions(cp: ControlPlane, call: Call) -> Reply:
    items, marker = cp.layers.list_versions(call.params)
    return 200, wire.listing("LayerVersions", [_out(cp, layer, list_item=True) for layer in items], marker)


def delete_layer_version(cp: ControlPlane, call: Call) -> Reply:
    cp.layers.delete(call.params["LayerName"], call.params["VersionNumber"])
    return 204, None


HANDLERS = {
    "PublishLayerVersion": publish_layer_version,
    "GetLayerVersion": get_layer_version,
    "GetLayerVersionByArn": get_layer_version_by_arn,
    "ListLayers": list_layers,
    "ListLayerVersions": list_layer_versions,
    "DeleteLayerVersion": delete_layer_version,
}
