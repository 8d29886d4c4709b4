"""Handlers of the layer operations. Imports lamina.control (through the ControlPlane it is handed)
and lamina.api.wire."""

from __future__ import annotations

from lamina.api import wire
from lamina.api.functions import ControlPlane, Reply


def _out(cp: ControlPlane, layer, *, list_item: bool = False) -> dict:
    return wire.layer_version(layer, cp.layers.layer_arn(layer.name), cp.layers.layer_arn(layer.name, layer.version),
                              cp.code_url(layer.code_hex), list_item=list_item)


def publish_layer_version(cp: ControlPlane, params: dict) -> Reply:
    return 201, _out(cp, cp.layers.publish(params))


def get_layer_version(cp: ControlPlane, params: dict) -> Reply:
    return 200, _out(cp, cp.layers.get(params["LayerName"], params["VersionNumber"]))


def get_layer_version_by_arn(cp: ControlPlane, params: dict) -> Reply:
    return 200, _out(cp, cp.layers.get_by_arn(params["Arn"]))


def list_layers(cp: ControlPlane, params: dict) -> Reply:
    items, marker = cp.layers.list_layers(params)
    body: dict = {"Layers": [{"LayerName": layer.name, "LayerArn": cp.layers.layer_arn(layer.name),
                              "LatestMatchingVersion": _out(cp, layer, list_item=True)} for layer in items]}
    if marker:
        body["NextMarker"] = marker
    return 200, body


def list_layer_versions(cp: ControlPlane, params: dict) -> Reply:
    items, marker = cp.layers.list_versions(params)
    body: dict = {"LayerVersions": [_out(cp, layer, list_item=True) for layer in items]}
    if marker:
        body["NextMarker"] = marker
    return 200, body


def delete_layer_version(cp: ControlPlane, params: dict) -> Reply:
    cp.layers.delete(params["LayerName"], params["VersionNumber"])
    return 204, None


HANDLERS = {
    "PublishLayerVersion": publish_layer_version,
    "GetLayerVersion": get_layer_version,
    "GetLayerVersionByArn": get_layer_version_by_arn,
    "ListLayers": list_layers,
    "ListLayerVersions": list_layer_versions,
    "DeleteLayerVersion": delete_layer_version,
}
