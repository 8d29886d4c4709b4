"""Applying CreateFunction / UpdateFunctionConfiguration inputs to a FunctionVersion.

Pure functions: the semantic checks AWS makes beyond the service model (reserved environment
keys, the 4 KB environment limit, runtimes past their block date, features lamina does not run,
log levels without LogFormat JSON) and the mapping of request members onto the record. Imports lamina.model, lamina.errors and
lamina.runtime_ids only.
"""

from __future__ import annotations

import datetime as _dt
import json

from lamina import runtime_ids
from lamina.errors import InvalidParameterValueException
from lamina.model import FunctionVersion

RESERVED_ENV_KEYS = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ",
})
ENV_LIMIT_BYTES = 4096
MAX_LAYERS = 5


def check_environment(variables: dict[str, str]) -> None:
    reserved = [key for key in variables if key in RESERVED_ENV_KEYS]
    if reserved:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables "
            "you have provided contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {', '.join(reserved)}"
        )
    measured = json.dumps(variables, separators=(",", ":"), ensure_ascii=False)
    if len(measured.encode()) > ENV_LIMIT_BYTES:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables "
            f"you have provided exceeded the 4KB limit. String measured: {measured}"
        )


def check_runtime(runtime: str, *, updating: bool, allow_deprecated: bool, today: _dt.date | None = None) -> None:
    if not allow_deprecated and runtime_ids.blocked(runtime, updating=updating, today=today):
        raise InvalidParameterValueException(runtime_ids.blocked_message(runtime))


def _unsupported(feature: str, detail: str = "") -> InvalidParameterValueException:
    return InvalidParameterValueException(f"lamina does not support {feature}{detail}.")


def check_supported(params: dict) -> None:
    """Refuse, with a clear error, inputs that name a feature lamina would otherwise store and ignore."""
    vpc = params.get("VpcConfig") or {}
    if vpc.get("SubnetIds") or vpc.get("SecurityGroupIds"):
        raise _unsupported("VpcConfig", ": functions run on the lamina host's network")
    if (params.get("DeadLetterConfig") or {}).get("TargetArn"):
        raise _unsupported("DeadLetterConfig targets")
    if params.get("KMSKeyArn"):
        raise _unsupported("KMSKeyArn (customer-managed encryption keys)")
    for member in ("TenancyConfig", "CapacityProviderConfig", "DurableConfig", "RuntimeConfig", "AcceleratorConfig",
                   "PublishTo"):
        if params.get(member):
            raise _unsupported(member)
    if (params.get("SnapStart") or {}).get("ApplyOn", "None") != "None":
        raise _unsupported("SnapStart")


LEVELS_NEED_JSON = "ApplicationLogLevel and SystemLogLevel can only be set when LogFormat is JSON."


def logging_changes(version: FunctionVersion, logging: dict) -> dict[str, object]:
    """The record's log fields after LoggingConfig `logging`: a member left out keeps its value
    (LogGroup excepted: absent means /aws/lambda/NAME); the levels need LogFormat JSON (given or
    kept) and are cleared when the format becomes Text."""
    log_format = logging.get("LogFormat") or version.log_format or "Text"
    application = logging.get("ApplicationLogLevel")
    system = logging.get("SystemLogLevel")
    if log_format != "JSON":
        if application or system:
            raise InvalidParameterValueException(LEVELS_NEED_JSON)
        return {"log_format": log_format, "log_group": logging.get("LogGroup") or None,
                "application_log_level": None, "system_log_level": None}
    keep = version.log_format == "JSON"
    return {"log_format": log_format, "log_group": logging.get("LogGroup") or None,
            "application_log_level": application or (version.application_log_level if keep else None),
            "system_log_level": system or (version.system_log_level if keep else None)}


def check_layers(layers: list[str], lookup) -> list[dict]:
    """The Layers of a function as lookup(arn) describes them ({"Arn", "CodeSize", ...}), or AWS's
    error for too many, a missing one, or two versions of one layer."""
    if len(layers) > MAX_LAYERS:
        raise InvalidParameterValueException("Cannot reference more than 5 layers.")
    out, seen = [], {}
    for arn in layers:
        unversioned = arn.rsplit(":", 1)[0]
        if unversioned in seen and seen[unversioned] != arn:
            raise InvalidParameterValueException(
                "Two different versions of the same layer are not allowed to be referenced in the same function. "
                f"{seen[unversioned]} and {arn} are versions of the same layer."
            )
        seen[unversioned] = arn
        found = lookup(arn)
        if found is None:
            raise InvalidParameterValueException(f"Layer version {arn} does not exist.")
        out.append(found)
    return out


def check_file_systems(configs: list[dict], problem) -> list[dict]:
    """The FileSystemConfigs of a function, or AWS's error: `problem(arn)` says why an access
    point cannot be mounted here (not mapped to a host directory, a backend that cannot mount),
    or None. Two configs may not share a LocalMountPath (AWS allows one config today)."""
    out, paths = [], set()
    for config in configs:
        arn, path = config["Arn"], config["LocalMountPath"]
        reason = problem(arn)
        if reason:
            raise InvalidParameterValueException(reason)
        if path in paths:
            raise InvalidParameterValueException(f"Duplicate LocalMountPath {path} in FileSystemConfigs.")
        paths.add(path)
        out.append({"Arn": arn, "LocalMountPath": path})
    return out


def apply(version: FunctionVersion, params: dict, layer_lookup, file_system_problem=None) -> FunctionVersion:
    """A copy of `version` with the configuration members of `params` applied;
    `file_system_problem(arn)` judges FileSystemConfigs (None: every access point is refused)."""
    changes: dict[str, object] = {}
    simple = {
        "Runtime": "runtime", "Handler": "handler", "Role": "role", "Description": "description",
        "Timeout": "timeout", "MemorySize": "memory_size",
    }
    for member, attr in simple.items():
        if member in params:
            changes[attr] = params[member]
    if "Environment" in params:
        variables = dict((params["Environment"] or {}).get("Variables") or {})
        check_environment(variables)
        changes["environment"] = variables
    if "TracingConfig" in params:
        changes["tracing_mode"] = (params["TracingConfig"] or {}).get("Mode") or "PassThrough"
    if "EphemeralStorage" in params:
        changes["ephemeral_storage"] = params["EphemeralStorage"]["Size"]
    if "Architectures" in params:
        changes["architectures"] = list(params["Architectures"])
    if "LoggingConfig" in params:
        changes.update(logging_changes(version, params["LoggingConfig"] or {}))
    if "Layers" in params:
        changes["layers"] = check_layers(list(params["Layers"] or []), layer_lookup)
    if "ImageConfig" in params:
        if version.package_type != "Image":
            raise InvalidParameterValueException(
                "ImageConfig is only supported for functions with PackageType Image.")
        image = params["ImageConfig"] or {}
        changes["image_config"] = {k: image[k] for k in ("EntryPoint", "Command", "WorkingDirectory") if k in image}
    if "FileSystemConfigs" in params:
        problem = file_system_problem or (lambda arn: f"The access point {arn} can not be found.")
        changes["file_system_configs"] = check_file_systems(list(params["FileSystemConfigs"] or []), problem)
    return version.copy(**changes)
