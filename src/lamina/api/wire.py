"""Response shapes of the Lambda API, written by hand from lamina.model records.

Turns records into the exact JSON members AWS returns (reference section 2.1): which fields
are always present, which only when set, which ListFunctions leaves out. The one place that
builds response shapes: lamina.control returns records, never wire dicts. Imports lamina.model
only; tested against the service model in tests/unit/api.
"""

from __future__ import annotations

import hashlib

from lamina.model import (
    AccountUsage,
    EventInvokeConfig,
    EventSourceMapping,
    FunctionUrlConfig,
    FunctionVersion,
    ProvisionedConfig,
)


def function_configuration(v: FunctionVersion, function_arn: str, region: str, *,
                           list_item: bool = False) -> dict:
    """FunctionConfiguration for `v`; `function_arn` is the ARN to report (qualified or not)."""
    out: dict = {
        "FunctionName": v.name,
        "FunctionArn": function_arn,
        "Runtime": v.runtime,
        "Role": v.role,
        "Handler": v.handler,
        "CodeSize": v.code_size,
        "Description": v.description,
        "Timeout": v.timeout,
        "MemorySize": v.memory_size,
        "LastModified": v.last_modified,
        "CodeSha256": v.code_sha256,
        "Version": v.version,
        "TracingConfig": {"Mode": v.tracing_mode},
        "RevisionId": v.revision_id,
        "PackageType": v.package_type,
        "Architectures": list(v.architectures),
        "EphemeralStorage": {"Size": v.ephemeral_storage},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": _logging(v),
    }
    if v.package_type == "Image":  # no Runtime, Handler (nor RuntimeVersionConfig) for images
        del out["Runtime"], out["Handler"]
        if v.image_config:
            out["ImageConfigResponse"] = {"ImageConfig": dict(v.image_config)}
    if v.environment:
        out["Environment"] = {"Variables": dict(v.environment)}
    if v.layers:
        out["Layers"] = [{"Arn": layer["Arn"], "CodeSize": layer["CodeSize"],
                          **{k: layer[k] for k in ("SigningProfileVersionArn", "SigningJobArn") if layer.get(k)}}
                         for layer in v.layers]
    if v.signing_profile_version_arn:
        out["SigningProfileVersionArn"] = v.signing_profile_version_arn
        out["SigningJobArn"] = v.signing_job_arn
    if v.file_system_configs:
        out["FileSystemConfigs"] = [{"Arn": fs["Arn"], "LocalMountPath": fs["LocalMountPath"]}
                                    for fs in v.file_system_configs]
    if not list_item:
        out["State"] = v.state
        for key, value in (("StateReason", v.state_reason), ("StateReasonCode", v.state_reason_code),
                           ("LastUpdateStatus", v.last_update_status),
                           ("LastUpdateStatusReason", v.last_update_status_reason),
                           ("LastUpdateStatusReasonCode", v.last_update_status_reason_code)):
            if value is not None:
                out[key] = value
        if v.runtime:
            out["RuntimeVersionConfig"] = {
                "RuntimeVersionArn": runtime_version_arn(region, v.runtime)
            }
    return out


def runtime_version_arn(region: str, runtime: str) -> str:
    digest = hashlib.sha256(f"lamina:{runtime}".encode()).hexdigest()
    return f"arn:aws:lambda:{region}::runtime:{digest}"


def _logging(v: FunctionVersion) -> dict:
    out = {"LogFormat": v.log_format, "LogGroup": v.effective_log_group}
    if v.log_format == "JSON":
        out["ApplicationLogLevel"] = v.application_log_level or "INFO"
        out["SystemLogLevel"] = v.system_log_level or "INFO"
    return out


def alias_configuration(alias, alias_arn: str) -> dict:
    out = {"AliasArn": alias_arn, "Name": alias.name, "FunctionVersion": alias.function_version,
           "Description": alias.description, "RevisionId": alias.revision_id}
    if alias.weights:
        out["RoutingConfig"] = {"AdditionalVersionWeights": dict(alias.weights)}
    return out


def layer_version(layer, layer_arn: str, version_arn: str, code_url: str, *, list_item: bool = False) -> dict:
    """GetLayerVersion/PublishLayerVersion's shape, or a LayerVersionsListItem with list_item."""
    out: dict = {"LayerVersionArn": version_arn, "Version": layer.version, "Description": layer.description,
                 "CreatedDate": layer.created_date}
    if not list_item:
        out = {"Content": {"Location": code_url, "CodeSha256": layer.code_sha256, "CodeSize": layer.code_size},
               "LayerArn": layer_arn, **out}
    if layer.compatible_runtimes:
        out["CompatibleRuntimes"] = list(layer.compatible_runtimes)
    if layer.license_info is not None:
        out["LicenseInfo"] = layer.license_info
    if layer.compatible_architectures:
        out["CompatibleArchitectures"] = list(layer.compatible_architectures)
    return out


def event_invoke_config(record: EventInvokeConfig) -> dict:
    """FunctionEventInvokeConfig: the members that were given, and both destinations (empty when unset)."""
    config = record.config
    destinations = config.get("DestinationConfig") or {}
    out: dict = {"LastModified": record.last_modified, "FunctionArn": record.function_arn}
    for member in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
        if member in config:
            out[member] = config[member]
    out["DestinationConfig"] = {kind: dict(destinations.get(kind) or {}) for kind in ("OnSuccess", "OnFailure")}
    return out


def provisioned_concurrency_config(record: ProvisionedConfig, *, list_item: bool = False) -> dict:
    """Get/PutProvisionedConcurrencyConfig's shape, or a ProvisionedConcurrencyConfigListItem
    (which leads with the FunctionArn) with list_item."""
    out = {"RequestedProvisionedConcurrentExecutions": record.requested,
           "AvailableProvisionedConcurrentExecutions": record.ready,
           "AllocatedProvisionedConcurrentExecutions": record.ready,
           "Status": record.status,
           "LastModified": record.last_modified}
    return {"FunctionArn": record.function_arn, **out} if list_item else out


def account_settings(usage: AccountUsage) -> dict:
    return {
        "AccountLimit": {
            "TotalCodeSize": usage.total_code_size_limit,
            "CodeSizeUnzipped": usage.code_size_unzipped_limit,
            "CodeSizeZipped": usage.code_size_zipped_limit,
            "ConcurrentExecutions": usage.concurrent_executions,
            "UnreservedConcurrentExecutions": usage.unreserved_concurrent_executions,
        },
        "AccountUsage": {"TotalCodeSize": usage.total_code_size, "FunctionCount": usage.function_count},
    }


def event_source_mapping(mapping: EventSourceMapping, mapping_arn: str, function_arn: str) -> dict:
    """EventSourceMappingConfiguration: the stored members (defaults filled in) and where it stands;
    FilterCriteria only when set, LastProcessingResult only where the source kind reports one."""
    out: dict = {"UUID": mapping.uuid}
    out.update(mapping.config)
    out.update({"EventSourceArn": mapping.event_source_arn, "FunctionArn": function_arn,
                "LastModified": mapping.last_modified, "State": mapping.state,
                "StateTransitionReason": mapping.state_reason, "EventSourceMappingArn": mapping_arn})
    if mapping.last_processing_result is not None:
        out["LastProcessingResult"] = mapping.last_processing_result
    return out


def function_url_config(config: FunctionUrlConfig, function_url: str, function_arn: str, *,
                        created: bool = False) -> dict:
    """A function URL config: Create's shape (no LastModifiedTime) with `created`, else Get/Update's
    and a list item's. Cors and InvokeMode only when they were given."""
    out: dict = {"FunctionUrl": function_url, "FunctionArn": function_arn, "AuthType": config.auth_type}
    if config.cors is not None:
        out["Cors"] = dict(config.cors)
    out["CreationTime"] = config.creation_time
    if not created:
        out["LastModifiedTime"] = config.last_modified_time
    if config.invoke_mode is not None:
        out["InvokeMode"] = config.invoke_mode
    return out


def listing(member: str, items: list, marker: str | None) -> dict:
    """A List* answer: the items under `member`, and NextMarker when there is a next page."""
    return {member: items, "NextMarker": marker} if marker else {member: items}
