"""Taking a deployment package out of a request (Code.ZipFile of a function, Content.ZipFile of a
layer): the bytes, or AWS's error for a missing one, and a clear one for sources lamina does
not fetch (S3 locations, container images). Imports lamina.errors and lamina.store.archive.
"""

from __future__ import annotations

import base64

from lamina.errors import InvalidParameterValueException
from lamina.store import archive


def zip_bytes(source: dict, *, member: str, what: str) -> bytes:
    """`member` is "Code" or "Content"; `what` is "function code" or "layer content"."""
    if source.get("S3Bucket") or source.get("S3Key") or source.get("S3ObjectVersion"):
        raise InvalidParameterValueException(
            f"lamina accepts {what} only as {member}.ZipFile: S3Bucket/S3Key locations are not supported. "
            "Upload the .zip file itself (e.g. aws lambda ... --zip-file fileb://package.zip)."
        )
    if source.get("ImageUri"):
        raise InvalidParameterValueException(
            "Please don't provide ImageUri when the intended function PackageType is Zip: set PackageType Image "
            "to deploy a container image, or provide Code.ZipFile."
        )
    data = source.get("ZipFile")
    if data is None:
        raise InvalidParameterValueException(f"Please provide a source for {what}.")
    if isinstance(data, str):
        data = base64.b64decode(data)
    archive.check_zipped_size(len(data))
    return data
