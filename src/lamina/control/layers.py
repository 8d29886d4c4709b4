"""Layer operations: PublishLayerVersion, GetLayerVersion(ByArn), ListLayers, ListLayerVersions,
DeleteLayerVersion, and looking up the layer versions a function references.

Imports lamina.store, lamina.model, lamina.errors, lamina.arn and lamina.control (package, paging)
only.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lamina import arn as arns
from lamina.control import package, paging
from lamina.errors import NOT_FOUND, InvalidParameterValueException, ResourceNotFoundException
from lamina.model import LayerVersion
from lamina.store import archive
from lamina.store.blobs import BlobStore
from lamina.store.functions import FunctionStore
from lamina.store.layers import LayerStore

_VERSION_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):layer:(?P<name>[a-zA-Z0-9-_]+):"
    r"(?P<version>[0-9]+)$"
)


class Layers:
    def __init__(self, store: LayerStore, functions: FunctionStore, blobs: BlobStore, region: str,
                 account_id: str, deleted: Callable[[str, int], None] = lambda name, version: None, *,
                 fetch_s3: package.Fetch | None = None) -> None:
        self._store = store
        self._deleted = deleted
        self._functions = functions
        self._blobs = blobs
        self._region = region
        self._account_id = account_id
        self._fetch_s3 = fetch_s3

    def layer_arn(self, name: str, version: int | None = None) -> str:
        return arns.layer_arn(self._region, self._account_id, name, version)

    def _name(self, layer_name: str) -> str:
        """LayerName may be a name or a layer ARN."""
        match = re.match(r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:layer:([a-zA-Z0-9-_]+)$", layer_name)
        return match.group(1) if match else layer_name

    def publish(self, params: dict) -> LayerVersion:
        data = package.zip_bytes(params.get("Content") or {}, member="Content", what="layer content",
                                 fetch=self._fetch_s3)
        info = archive.check_zip(data)
        blob = self._blobs.put(data)
        layer = LayerVersion(
            name=self._name(params["LayerName"]), version=0, description=params.get("Description") or "",
            compatible_runtimes=list(params.get("CompatibleRuntimes") or []),
            compatible_architectures=list(params.get("CompatibleArchitectures") or []),
            license_info=params.get("LicenseInfo"), code_sha256=blob.sha256_b64, code_hex=blob.sha256_hex,
            code_size=blob.size, unzipped_size=info.unzipped_size,
        )
        # Not unpacked here: writing out every entry took 17 s for 100,000 of them while the client
        # waited. The first function using the layer unpacks it when it settles (control.functions).
        return self._store.publish(layer)

    def get(self, layer_name: str, version: int) -> LayerVersion:
        layer = self._store.get(self._name(layer_name), int(version))
        if layer is None:
            raise ResourceNotFoundException(NOT_FOUND)
        return layer

    def get_by_arn(self, arn: str) -> LayerVersion:
        match = _VERSION_ARN.match(arn)
        if match is None:
            raise InvalidParameterValueException(f"Invalid layer version ARN: {arn}")
        if match["region"] != self._region or match["account"] != self._account_id:
            raise ResourceNotFoundException(NOT_FOUND)
        return self.get(match["name"], int(match["version"]))

    @staticmethod
    def _matches(layer: LayerVersion, runtime: str | None, architecture: str | None) -> bool:
        return ((runtime is None or runtime in layer.compatible_runtimes)
                and (architecture is None or architecture in layer.compatible_architectures))

    def list_layers(self, params: dict) -> tuple[list[LayerVersion], str | None]:
        """The newest matching version of each layer."""
        latest: dict[str, LayerVersion] = {}
        for layer in self._store.versions():
            if layer.name not in latest and self._matches(
                    layer, params.get("CompatibleRuntime"), params.get("CompatibleArchitecture")):
                latest[layer.name] = layer
        return paging.page([latest[name] for name in sorted(latest)], params, key=lambda layer: layer.name)

    def list_versions(self, params: dict) -> tuple[list[LayerVersion], str | None]:
        items = [layer for layer in self._store.versions(self._name(params["LayerName"]))
                 if self._matches(layer, params.get("CompatibleRuntime"), params.get("CompatibleArchitecture"))]
        marker = params.get("Marker")  # versions come newest first: the marker is a version number
        if marker and not marker.isdigit():
            raise InvalidParameterValueException(f"Invalid marker: {marker}")
        if marker:
            items = [layer for layer in items if layer.version < int(marker)]
        return paging.page(items, {**params, "Marker": None}, key=lambda layer: str(layer.version))

    def delete(self, layer_name: str, version: int) -> None:
        layer = self._store.delete(self._name(layer_name), int(version))
        if layer:
            self._deleted(layer.name, layer.version)
        if layer and not self._functions.code_in_use(layer.code_hex) and not self._store.code_in_use(layer.code_hex):
            self._blobs.delete(layer.code_hex)

    def lookup(self, arn: str) -> dict | None:
        """What a function records about a layer version it references, or None if it does not exist."""
        match = _VERSION_ARN.match(arn)
        if match is None or match["region"] != self._region or match["account"] != self._account_id:
            return None
        layer = self._store.get(match["name"], int(match["version"]))
        if layer is None:
            return None
        return {"Arn": arn, "CodeSize": layer.code_size, "CodeHex": layer.code_hex,
                "UnzippedSize": layer.unzipped_size}
