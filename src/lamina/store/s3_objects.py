"""Reading deployment packages out of an S3-compatible object store (Code.S3Bucket/S3Key/
S3ObjectVersion of CreateFunction and UpdateFunctionCode, Content.S3Bucket/... of
PublishLayerVersion), with Lambda's errors for what goes wrong.

The endpoint follows the SDK's own conventions (`AWS_ENDPOINT_URL_S3`, then `AWS_ENDPOINT_URL`,
then AWS), unless lamina's setting names one; credentials come from the standard chain. The
translation of S3's answers into Lambda's errors is the pure `error_for`. Imports lamina.errors
and lamina.store.archive only.
"""

from __future__ import annotations

import threading

from lamina.errors import AccessDeniedException, InvalidParameterValueException, LambdaError
from lamina.store import archive

# A package fetched from S3 may be as large as its unzipped limit (the 50 MB limit is the direct
# upload's); a bigger object cannot be a package AWS accepts, so it is refused before it is read.
MAX_OBJECT = archive.MAX_UNZIPPED

# S3's own messages for the codes Lambda passes through, as AWS's Lambda words them (the bucket one
# has no final full stop).
_MESSAGES = {
    "NoSuchBucket": "The specified bucket does not exist",
    "NoSuchKey": "The specified key does not exist.",
    "NoSuchVersion": "The specified version does not exist.",
}


def error_for(code: str, message: str, bucket: str, key: str) -> LambdaError:
    """The Lambda error for an S3 error `code`/`message` met while reading bucket/key."""
    if code in ("AccessDenied", "403", "Forbidden"):
        return AccessDeniedException(
            f"Your access has been denied by S3, please make sure your request credentials have permission "
            f"to GetObject for {bucket}/{key}. S3 Error Code: AccessDenied. S3 Error Message: Access Denied"
        )
    if code in ("404", "NotFound"):  # a HEAD-style answer without a body: S3 means the key
        code = "NoSuchKey"
    text = _MESSAGES.get(code, message or code)
    return InvalidParameterValueException(
        f"Error occurred while GetObject. S3 Error Code: {code}. S3 Error Message: {text}"
    )


def too_large(size: int) -> LambdaError | None:
    if size > MAX_OBJECT:
        return archive.too_big(archive.MAX_UNZIPPED)
    return None


class S3Objects:
    """GetObject against the configured S3-compatible endpoint; the client is built on first use."""

    def __init__(self, *, region: str, endpoint_url: str | None = None) -> None:
        self._region = region
        self._endpoint_url = endpoint_url
        self._client = None
        self._lock = threading.Lock()

    def _s3(self):
        with self._lock:
            if self._client is None:
                import boto3  # deferred: most processes never read code from S3
                from botocore.config import Config

                self._client = boto3.session.Session().client(
                    "s3", region_name=self._region, endpoint_url=self._endpoint_url,
                    config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 2}),
                )
            return self._client

    def fetch(self, bucket: str, key: str, version: str | None = None) -> bytes:
        """The object's bytes, or the Lambda error for a missing bucket/key/version, a refused read,
        an object too large to be a package, or an endpoint lamina cannot reach."""
        from botocore.exceptions import BotoCoreError, ClientError

        args = {"Bucket": bucket, "Key": key}
        if version:
            args["VersionId"] = version
        try:
            answer = self._s3().get_object(**args)
            problem = too_large(int(answer.get("ContentLength") or 0))
            if problem is not None:
                answer["Body"].close()
                raise problem
            return answer["Body"].read()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise error_for(str(error.get("Code", "")), str(error.get("Message", "")), bucket, key) from exc
        except BotoCoreError as exc:  # no credentials, endpoint unreachable, read timed out...
            raise InvalidParameterValueException(
                f"Error occurred while GetObject. lamina could not read s3://{bucket}/{key} from the S3 "
                f"endpoint {self._endpoint_url or '(the SDK default)'}: {exc}"
            ) from exc
