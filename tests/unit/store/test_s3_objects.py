"""S3's answers turned into Lambda's errors (lamina.store.s3_objects), as a table."""

from __future__ import annotations

import pytest

from lamina.store import s3_objects

GET = "Error occurred while GetObject. S3 Error Code: "


@pytest.mark.parametrize(("code", "message", "error", "text"), [
    ("NoSuchBucket", "whatever", "InvalidParameterValueException",
     GET + "NoSuchBucket. S3 Error Message: The specified bucket does not exist"),
    ("NoSuchKey", "", "InvalidParameterValueException",
     GET + "NoSuchKey. S3 Error Message: The specified key does not exist."),
    ("404", "Not Found", "InvalidParameterValueException",
     GET + "NoSuchKey. S3 Error Message: The specified key does not exist."),
    ("NoSuchVersion", "x", "InvalidParameterValueException",
     GET + "NoSuchVersion. S3 Error Message: The specified version does not exist."),
    ("InvalidArgument", "Invalid version id specified", "InvalidParameterValueException",
     GET + "InvalidArgument. S3 Error Message: Invalid version id specified"),
    ("AccessDenied", "Access Denied", "AccessDeniedException",
     "Your access has been denied by S3, please make sure your request credentials have permission to GetObject "
     "for b/k.zip. S3 Error Code: AccessDenied. S3 Error Message: Access Denied"),
])
def test_error_for(code, message, error, text):
    found = s3_objects.error_for(code, message, "b", "k.zip")
    assert (found.code, found.message) == (error, text)
    assert found.status == (403 if error == "AccessDeniedException" else 400)


@pytest.mark.parametrize(("size", "refused"), [
    (0, False), (52_428_801, False), (262_144_000, False), (262_144_001, True),
])
def test_objects_larger_than_the_unzipped_limit_are_refused(size, refused):
    problem = s3_objects.too_large(size)
    assert (problem is not None) == refused
    if refused:
        assert problem.message == "Unzipped size must be smaller than 262144000 bytes"
