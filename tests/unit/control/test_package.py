"""Where a deployment package comes from (lamina.control.package): ZipFile or S3, as a table."""

from __future__ import annotations

import pytest

from lamina.control import package
from lamina.errors import LambdaError


def fetched(bucket, key, version):
    return f"{bucket}/{key}@{version}".encode()


@pytest.mark.parametrize(("source", "expected"), [
    ({"ZipFile": b"zip"}, b"zip"),
    ({"ZipFile": "emlw"}, b"zip"),  # base64 text, as the JSON body carries it
    ({"S3Bucket": "b", "S3Key": "k.zip"}, b"b/k.zip@None"),
    ({"S3Bucket": "b", "S3Key": "k.zip", "S3ObjectVersion": "v1"}, b"b/k.zip@v1"),
    ({}, "Please provide a source for function code."),
    ({"S3Bucket": "b"}, "Please provide a source for function code."),
    ({"S3Key": "k"}, "Please provide a source for function code."),
    ({"S3Bucket": "b", "S3Key": "k", "ZipFile": b"zip"},
     "Please provide either Code.ZipFile or Code.S3Bucket and Code.S3Key, not both."),
    ({"ImageUri": "repo/x:1"}, "Please don't provide ImageUri when the intended function PackageType is Zip"),
    ({"S3Bucket": "b", "S3Key": "k", "S3ObjectStorageMode": "COPY"}, b"b/k@None"),
    ({"S3Bucket": "b", "S3Key": "k", "S3ObjectStorageMode": "REFERENCE"}, "lamina copies S3 packages"),
])
def test_zip_bytes(source, expected):
    if isinstance(expected, bytes):
        assert package.zip_bytes(source, member="Code", what="function code", fetch=fetched) == expected
    else:
        with pytest.raises(LambdaError) as info:
            package.zip_bytes(source, member="Code", what="function code", fetch=fetched)
        assert info.value.message.startswith(expected)
