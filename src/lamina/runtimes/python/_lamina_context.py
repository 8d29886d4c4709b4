"""The `context` object handed to a Python handler, attribute for attribute as the AWS Python
runtime builds it: request id, ARN, the function's name/version/memory (a str)/log names from
the environment, identity, client context, remaining time, and log().

Runs inside the sandbox; imports only the standard library.
"""

import logging
import os
import sys
import time

W3C_FIELDS = ("traceparent", "tracestate", "baggage")


class LambdaContext:
    def __init__(self, invoke_id, client_context, cognito_identity, epoch_deadline_time_in_ms,
                 invoked_function_arn=None, tenant_id=None):
        self.aws_request_id = invoke_id
        (self.log_group_name, self.log_stream_name, self.function_name, self.memory_limit_in_mb,
         self.function_version) = _ENVIRONMENT or _read_environment()
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id
        self._w3c_fields = _pop_w3c(client_context)
        self.client_context = _from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _from_dict(Client, self.client_context.client)
        self.identity = identity = CognitoIdentity()
        if cognito_identity is not None:
            identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")
        else:
            identity.cognito_identity_id = identity.cognito_identity_pool_id = None
        self._epoch_deadline_time_in_ms = epoch_deadline_time_in_ms

    def get_remaining_time_in_millis(self):
        remaining = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def w3c(self):
        return dict(self._w3c_fields)

    def log(self, msg):
        for handler in logging.getLogger().handlers:
            if hasattr(handler, "log_sink"):
                handler.log_sink.log(str(msg))
                return
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},"
            f"identity={self.identity},"
            f"tenant_id={self.tenant_id}"
            "])"
        )


_ENVIRONMENT = None


def _read_environment():
    """The environment's reserved variables, read once (a function cannot change them)."""
    global _ENVIRONMENT
    _ENVIRONMENT = tuple(os.environ.get(name) for name in (
        "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION"))
    return _ENVIRONMENT


def _pop_w3c(client_context):
    """Take `w3c` out of the client context; keep its allow-listed string fields."""
    if not isinstance(client_context, dict) or "w3c" not in client_context:
        return {}
    raw = client_context.pop("w3c")
    if not isinstance(raw, dict):
        return {}
    return {key: raw[key] for key in W3C_FIELDS if isinstance(raw.get(key), str)}


class CognitoIdentity:
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return (f"{self.__class__.__name__}([cognito_identity_id={self.cognito_identity_id},"
                f"cognito_identity_pool_id={self.cognito_identity_pool_id}])")


class Client:
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]

    def __repr__(self):
        return (f"{self.__class__.__name__}([installation_id={self.installation_id},"
                f"app_title={self.app_title},app_version_name={self.app_version_name},"
                f"app_version_code={self.app_version_code},app_package_name={self.app_package_name}])")


class ClientContext:
    __slots__ = ["custom", "env", "client"]

    def __repr__(self):
        return f"{self.__class__.__name__}([custom={self.custom},env={self.env},client={self.client}])"


def _from_dict(cls, values):
    if values is None:
        return None
    obj = cls()
    for name in cls.__slots__:
        setattr(obj, name, values.get(name, None))
    return obj
