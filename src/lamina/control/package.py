"""Taking a deployment package out of a request (Code of a function, Content of a layer): the
ZipFile bytes, or the object its S3Bucket/S3Key/S3ObjectVersion name (read through the `fetch`
callable it is handed), AWS's error for a missing one, and a clear one for sources lamina does not
run (container images). Imports lamina.errors and lamina.store.archive.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from lamina.errors import InvalidParameterValueException
from lamina.store import archive

# (bucket, key, version or None) → the object's bytes, or a LambdaError.
Fetch = Callable[[str, str, "str | None"], bytes]


def zip_bytes(source: dict, *, member: str, what: str, fetch: Fetch | None = None) -> bytes:
    """`member` is "Code" or "Content"; `what` is "function code" or "layer content"."""
    if source.get("ImageUri"):
        raise InvalidParameterValueException(
            "Please don't provide ImageUri when the intended function PackageType is Zip: set PackageType Image "
            "to deploy a container image, or provide Code.ZipFile."
        )
    bucket, key = source.get("S3Bucket"), source.get("S3Key")
    located = bucket or key or source.get("S3ObjectVersion")
    data = source.get("ZipFile")
    if located and data is not None:
        raise InvalidParameterValueException(
            f"Please provide either {member}.ZipFile or {member}.S3Bucket and {member}.S3Key, not both."
        )
    if source.get("S3ObjectStorageMode") == "REFERENCE":
        raise InvalidParameterValueException(
            "lamina copies S3 packages when they are deployed (S3ObjectStorageMode COPY); REFERENCE, which "
            "reads the object at run time, is not supported.")
    if located:
        if not bucket or not key:
            raise InvalidParameterValueException(f"Please provide a source for {what}.")
        if fetch is None:
            raise InvalidParameterValueException(f"lamina is not configured to read {what} from S3.")
        return fetch(bucket, key, source.get("S3ObjectVersion") or None)
    if data is None:
        raise InvalidParameterValueException(f"Please provide a source for {what}.")
    if isinstance(data, str):
        data = base64.b64decode(data)
    archive.check_zipped_size(len(data))
    return data
