"""The Lambda API's exceptions: HTTP status, error code, body casing.

Owns the mapping from an error to what goes on the wire (section 1.2 of the reference).
Imports nothing from lamina.
"""

from __future__ import annotations


class LambdaError(Exception):
    """An error the API answers with; subclasses fix the status, code and body casing."""

    status = 400
    code = "ServiceException"
    message_key = "message"
    fault: str | None = "User"

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, object]:
        out: dict[str, object] = dict(self.extra)
        if self.fault is not None:  # AWS's rest-json ValidationException carries no Type
            out["Type"] = self.fault
        out[self.message_key] = self.message
        return out

    def headers(self) -> dict[str, str]:
        return {"x-amzn-ErrorType": self.code}


def _error(name: str, status: int, message_key: str, fault: str | None = "User") -> type[LambdaError]:
    return type(name, (LambdaError,), {"status": status, "code": name, "message_key": message_key, "fault": fault})


ValidationException = _error("ValidationException", 400, "message", None)
InvalidParameterValueException = _error("InvalidParameterValueException", 400, "message")
InvalidRequestContentException = _error("InvalidRequestContentException", 400, "message")
CodeStorageExceededException = _error("CodeStorageExceededException", 400, "message")
PolicyLengthExceededException = _error("PolicyLengthExceededException", 400, "message")
AccessDeniedException = _error("AccessDeniedException", 403, "Message")
ResourceNotFoundException = _error("ResourceNotFoundException", 404, "Message")
# AWS's text of a ResourceNotFoundException that names nothing (an unknown layer version, policy statement,
# URL config, mapping UUID, code package)
NOT_FOUND = "The resource you requested does not exist."
UnknownOperationException = _error("UnknownOperationException", 404, "message")
ProvisionedConcurrencyConfigNotFoundException = _error("ProvisionedConcurrencyConfigNotFoundException", 404, "message")
ResourceConflictException = _error("ResourceConflictException", 409, "message")
PreconditionFailedException = _error("PreconditionFailedException", 412, "message")
RequestEntityTooLargeException = _error("RequestEntityTooLargeException", 413, "message")
UnsupportedMediaTypeException = _error("UnsupportedMediaTypeException", 415, "message")
ServiceException = _error("ServiceException", 500, "Message", "Service")
CodeVerificationFailedException = _error("CodeVerificationFailedException", 400, "Message")
InvalidCodeSignatureException = _error("InvalidCodeSignatureException", 400, "Message")
CodeSigningConfigNotFoundException = _error("CodeSigningConfigNotFoundException", 404, "Message")
# AWS Signer's errors (lowercase `message`), for the signing-profile API lamina serves beside Lambda's.
SignerNotFoundException = _error("ResourceNotFoundException", 404, "message")
SignerValidationException = _error("ValidationException", 400, "message", None)
SignerBadRequestException = _error("BadRequestException", 400, "message")
EFSMountFailureException = _error("EFSMountFailureException", 403, "Message")
InvalidZipFileException = _error("InvalidZipFileException", 502, "Message", "Service")


class InvokeRequestTooLarge(LambdaError):
    """AWS sends the code RequestEntityTooLargeException with a capitalised Message on Invoke."""

    status = 413
    code = "RequestEntityTooLargeException"
    message_key = "Message"


# The throttle Reason when the account's concurrency (or the unreserved part of it) is used up;
# both the invoke layer's admission and the engine's backstop answer with it.
CONCURRENT_INVOCATION_LIMIT_EXCEEDED = "ConcurrentInvocationLimitExceeded"


class TooManyRequestsException(LambdaError):
    """Throttling: 429, lowercase message "Rate Exceeded.", a Reason and an optional Retry-After."""

    status = 429
    code = "TooManyRequestsException"
    message_key = "message"

    def __init__(self, reason: str, retry_after: int | None = None) -> None:
        super().__init__("Rate Exceeded.", Reason=reason)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        headers = super().headers()
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class IamError(LambdaError):
    """An IAM or STS error, written in the query protocol's XML envelope: AWS's code (NoSuchEntity,
    EntityAlreadyExists, MalformedPolicyDocument ...), status and text; `Sender` unless the server
    failed."""

    def __init__(self, code: str, message: str, status: int = 400, error_type: str = "Sender") -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.error_type = error_type


class AuthenticationError(LambdaError):
    """A request whose signature lamina cannot accept: 403 (400 when incomplete) with the code of the
    protocol it speaks; `query_code` is the IAM/STS (query protocol) spelling of the same error."""

    fault = None

    def __init__(self, code: str, query_code: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.code = code
        self.query_code = query_code
        self.status = status
