"""How each CloudFormation resource type a SAM template expands to is created, updated and deleted
through lamina's public APIs (boto3 clients: lambda, iam, events, logs), as CloudFormation would.

A handler gets the resource's resolved properties and answers a `Deployed`: the physical id, what
`Ref` gives and the attributes `Fn::GetAtt` reads (lamina.sam.deployed; a type with a module of its own,
such as lamina.sam.code_signing_config, is registered here too). `update` changes a resource in place where the
API allows and says `replaced=True` where CloudFormation replaces it (a new name, a new layer or
function version); `delete` removes it. Types not listed in `HANDLERS` are not deployed: the
deploy lists them. Imports nothing from lamina but lamina.sam.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from botocore.exceptions import ClientError

from lamina.sam.code_signing_config import CodeSigningConfig
from lamina.sam.deployed import Deployed, Env, ignore_missing, not_found, only, retag, tags_of

WAIT_S = 300


def function_name_and_qualifier(value: str) -> tuple[str, str | None]:
    """A FunctionName given as a name, a function ARN or an alias / version ARN."""
    if value.startswith("arn:"):
        parts = value.split(":")
        return parts[6], (parts[7] if len(parts) > 7 else None)
    name, _, qualifier = value.partition(":")
    return name, qualifier or None


# -- AWS::Lambda::Function -----------------------------------------------------------------------------

_FUNCTION_CONFIG = ("Role", "Handler", "Runtime", "Description", "Timeout", "MemorySize", "Environment",
                    "Layers", "TracingConfig", "DeadLetterConfig", "EphemeralStorage", "LoggingConfig",
                    "FileSystemConfigs", "KMSKeyArn", "ImageConfig", "VpcConfig", "SnapStart")


class Function:
    def _code(self, props: dict, env: Env) -> dict:
        from lamina.sam.translate import local_code

        code = props.get("Code") or {}
        local = local_code(code)
        if local:
            return {"ZipFile": env.code(local)}
        if "ZipFile" in code:  # CloudFormation's inline code: the text of index.py / index.js
            name = "index.js" if str(props.get("Runtime", "")).startswith("nodejs") else "index.py"
            return {"ZipFile": _zip_of(name, code["ZipFile"])}
        return only(code, ("S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri"))

    def _wait(self, lam, name: str) -> dict:
        deadline = time.monotonic() + WAIT_S
        while True:
            config = lam.get_function_configuration(FunctionName=name)
            if config.get("State") == "Failed" or config.get("LastUpdateStatus") == "Failed":
                raise RuntimeError(f"function {name} failed: {config.get('StateReason') or config.get('LastUpdateStatusReason')}")
            if config.get("State") == "Active" and config.get("LastUpdateStatus") in (None, "Successful"):
                return config
            if time.monotonic() > deadline:
                raise RuntimeError(f"function {name} did not become Active")
            time.sleep(0.05)

    def _deployed(self, config: dict) -> Deployed:
        return Deployed(config["FunctionName"], config["FunctionName"], {"Arn": config["FunctionArn"]})

    def create(self, logical_id: str, props: dict, env: Env) -> Deployed:
        lam = env.clients("lambda")
        name = props.get("FunctionName") or env.name_for(logical_id)
        arguments = {**only(props, _FUNCTION_CONFIG), "FunctionName": name, "Code": self._code(props, env),
                     "Tags": tags_of(props.get("Tags")), **only(props, ("PackageType", "Architectures",
                                                                       "CodeSigningConfigArn"))}
        lam.create_function(**arguments)
        config = self._wait(lam, name)
        self._concurrency(lam, name, props)
        return self._deployed(config)

    def _concurrency(self, lam, name: str, props: dict) -> None:
        if "ReservedConcurrentExecutions" in props:
            lam.put_function_concurrency(FunctionName=name,
                                         ReservedConcurrentExecutions=int(props["ReservedConcurrentExecutions"]))
        else:
            ignore_missing(lambda: lam.delete_function_concurrency(FunctionName=name))

    def update(self, old: Deployed, before: dict, props: dict, env: Env) -> tuple[Deployed, bool]:
        lam = env.clients("lambda")
        if props.get("FunctionName", old.physical_id) != old.physical_id:
            return self.create(old.physical_id, props, env), True
        name = old.physical_id
        self._code_signing(lam, name, before, props)  # first: new code is judged by the template's config
        if props.get("Code") != before.get("Code"):
            lam.update_function_code(FunctionName=name, **self._code(props, env))
            self._wait(lam, name)
        config = {k: props.get(k) for k in _FUNCTION_CONFIG if props.get(k) != before.get(k)}
        if config:
            defaults = {"Environment": {"Variables": {}}, "Layers": [], "Description": "", "Timeout": 3,
                        "MemorySize": 128, "TracingConfig": {"Mode": "PassThrough"}, "DeadLetterConfig": {},
                        "FileSystemConfigs": []}
            lam.update_function_configuration(
                FunctionName=name, **{k: (v if v is not None else defaults.get(k)) for k, v in config.items()
                                      if v is not None or k in defaults})
            self._wait(lam, name)
        retag(lam, old.attributes["Arn"], before, props)
        self._concurrency(lam, name, props)
        return self._deployed(lam.get_function_configuration(FunctionName=name)), False

    def _code_signing(self, lam, name: str, before: dict, props: dict) -> None:
        """A CodeSigningConfigArn added, changed or removed: the function's binding follows."""
        arn = props.get("CodeSigningConfigArn")
        if arn == before.get("CodeSigningConfigArn"):
            return
        if arn:
            lam.put_function_code_signing_config(FunctionName=name, CodeSigningConfigArn=arn)
        else:
            lam.delete_function_code_signing_config(FunctionName=name)

    def delete(self, old: Deployed, env: Env) -> None:
        ignore_missing(lambda: env.clients("lambda").delete_function(FunctionName=old.physical_id))


def _zip_of(name: str, text: str) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        archive.writestr(info, text)
    return buffer.getvalue()


# -- AWS::Lambda::LayerVersion, Version, Alias ---------------------------------------------------------


class LayerVersion:
    def create(self, logical_id: str, props: dict, env: Env) -> Deployed:
        from lamina.sam.translate import local_code

        content = props.get("Content") or {}
        local = local_code(content)
        body = {"ZipFile": env.code(local)} if local else only(content, ("S3Bucket", "S3Key", "S3ObjectVersion"))
        out = env.clients("lambda").publish_layer_version(
            LayerName=props.get("LayerName") or env.name_for(logical_id, 140), Content=body,
            **only(props, ("Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo")))
        return Deployed(out["LayerVersionArn"], out["LayerVersionArn"], {"LayerVersionArn": out["LayerVersionArn"]})

    def update(self, old: Deployed, before: dict, props: dict, env: Env) -> tuple[Deployed, bool]:
        return self.create(props.get("LayerName", "layer"), props, env), True

    def delete(self, old: Deployed, env: Env) -> None:
        arn = old.physical_id
        name, number = arn.split(":")[6], int(arn.split(":")[7])
        env.clients("lambda").delete_layer_version(LayerName=name, VersionNumber=number)


class Version:
    def create(self, logical_id: str, props: dict, env: Env) -> Deployed:
        out = env.clients("lambda").publish_version(
            FunctionName=props["FunctionName"], **only(props, ("Description", "CodeSha256")))
        self._provisioned(env, props, out["FunctionArn"])
        return Deployed(out["FunctionArn"], out["FunctionArn"],
                        {"Version": out["Version"], "FunctionArn": out["FunctionArn"]})

    def _provisioned(self, env: Env, props: dict, arn: str) -> None:
        config = props.get("ProvisionedConcurrencyConfig")
        if config:
            name, qualifier = function_name_and_qualifier(arn)
            env.clients("lambda").put_provisioned_concurrency_config(
                FunctionName=name, Qualifier=qualifier,
                ProvisionedConcurrentExecutions=int(config["ProvisionedConcurrentExecutions"]))

    def update(self, old: Deployed, before: dict, props: dict, env: Env) -> tuple[Deployed, bool]:
        return self.create("", props, env), True

    def delete(self, old: Deployed, env: Env) -> None:
        name, qualifier = function_name_and_qualifier(old.physical_id)
        ignore_missing(lambda: env.clients("lambda").delete_function(FunctionName=name, Qualifier=qualifier))


class Alias:
    def _arguments(self, props: dict) -> dict:
        arguments = {"FunctionVersion": str(props["FunctionVersion"]), **only(props, ("Description",))}
        weights = ((props.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or [])
        arguments["RoutingConfig"] = {"AdditionalVersionWeights": {
            str(w["FunctionVersion"]): float(w["FunctionWeight"]) for w in weights}}
        return arguments

    def _provisioned(self, env: Env, props: dict, before: dict, name: str, alias: str) -> None:
        lam = env.clients("lambda")
        config = props.get("ProvisionedConcurrencyConfig")
        if config:
            lam.put_provisioned_concurrency_config(
                FunctionName=name, Qualifier=alias,
                ProvisionedConcurrentExecutions=int(config["ProvisionedConcurrentExecutions"]))
        elif before.get("ProvisionedConcurrencyConfig"):
            ignore_missing(lambda: lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier=alias))

    def create(self, logical_id: str, props: dict, env: Env) -> Deployed:
        name, _ = function_name_and_qualifier(props["FunctionName"])
        out = env.clients("lambda").create_alias(FunctionName=name, Name=props["Name"], **self._arguments(props))
        self._provisioned(env, props, {}, name, props["Name"])
        return Deployed(out["AliasArn"], out["AliasArn"], {"AliasArn": out["AliasArn"]})

    def update(self, old: Deployed, before: dict, props: dict, env: Env) -> tuple[Deployed, bool]:
        name, _ = function_name_and_qualifier(props["FunctionName"])
        if props["Name"] != before.get("Name") or name != function_name_and_qualifier(before["FunctionName"])[0]:
            return self.create("", props, env), True
        out = env.clients("lambda").update_alias(FunctionName=name, Name=props["Name"], **self._arguments(props))
        self._provisioned(env, props, before, name, props["Name"])
        return Deployed(out["AliasArn"], out["AliasArn"], {"AliasArn": out["AliasArn"]}), False

    def delete(self, old: Deployed, env: Env) -> None:
        name, alias = function_name_and_qualifier(old.physical_id)
        ignore_missing(lambda: env.clients("lambda").delete_alias(FunctionName=name, Name=alias))


# -- Triggers and permissions ------------------------------------------------------------------------------


class Permission:
    def create(self, logical_id: str, props: dict, env: Env) -> Deployed:
        name, qualifier = function_name_and_qualifier(props["FunctionName"])
        statement = env.name_for(logical_id, 100)
        extra = only(props, ("SourceArn", "SourceAccount", "EventSourceToken", "PrincipalOrgID",
                             "FunctionUrlAuthType", "InvokedViaFunctionUrl"))
        env.clients("lambda").add_permission(
            FunctionName=name, StatementId=statement, Action=props["Action"], Principal=props["Principal"],
            **({"Qualifier": qualifier} if qualifier else {}), **extra)
        return Deployed(f"{props['FunctionName']}|{statement}", statement)

    def update(self, old: Deployed, before: dict, props: dict, env: Env) -> tuple[Deployed, bool]:
        self.delete(old, env)
        return self.create(old.ref, props, env), False

    def delete(self, old: Deployed, env: Env) -> None:
        function, statement = old.physical_id.split("|", 1)
        name, qualifier = function_name_and_qualifier(function)
        ignore_missing(lambda: env.clients("lambda").remove_permission(
            FunctionName=name, StatementId=statement, **({"Qualifier": qualifier} if qualifier else {})))


_MAPPING = ("BatchSize", "Enabled", "FilterCriteria", "MaximumBatchingWindowInSeconds", "ParallelizationFactor",
            "DestinationConfig", "MaximumRecordAgeInSeconds", "BisectBatchOnFunctionError", "MaximumRetryAttempts",
            "TumblingWindowInSeconds", "FunctionResponseTypes", "ScalingConfig", "SourceAccessConfigurations")


class EventSourceMapping:
    """AWS::Lambda::EventSourceMapping, its Tags included (CloudFormation's [{Key, Value}] list; a mapping
    declared in the template carries them; the ones SAM generates from a function's events carry none,
    PropagateTags or not: the translator's EventSourceMapping has no Tags property)."""

    def create(self, logical_id: str, props: dict, env: Env) -> Deployed:
        tags = tags_of(props.get("Tags"))
        out = env.clients("lambda").create_event_source_mapping(
            FunctionName=props["FunctionName"], **only(props, (*_MAPPING, "EventSourceArn", "StartingPosition",
                                                               "StartingPositionTimestamp", "Queues", "Topics",
                                                               "SelfManagedEventSource")),
            **({"Tags": tags} if tags else {}))
        return Deployed(out["UUID"], out["UUID"], {"EventSourceMappingArn": out.get("EventSourceMappingArn")})

    def update(self, old: Deployed, before: dict, props: dict, env: Env) -> tuple[Deployed, bool]:
        fixed = ("EventSourceArn", "StartingPosition", "StartingPositionTimestamp", "Queues", "Topics")
        if any(props.get(k) != before.get(k) for k in fixed):
            return self.create("", props, env), True
        lam = env.clients("lambda")
        lam.update_event_source_mapping(UUID=old.physical_id, FunctionName=props["FunctionName"],
                                        **only(props, _MAPPING))
        arn = old.attributes.get("EventSourceMappingArn") or \
            f"arn:aws:lambda:{env.region}:{env.account_id}:event-source-mapping:{old.physical_id}"
        retag(lam, arn, before, props)
        return old, False

    def delete(self, old: Deployed, env: Env) -> None:
        ignore_missing(lambda: env.clients("lambda").delete_event_source_mapping(UUID=old.physical_id))


class Url:
    def _target(self, props: dict) -> dict:
        name, qualifier = function_name_and_qualifier(props["TargetFunctionArn"])
        return {"FunctionName": name, **({"Qualifier": props.get("Qualifier") or qualifier}
                                         if (props.get("Qualifier") or qualifier) else {})}

    def create(self, logical_id: str, props: dict, env: Env) -> Deployed:
        out = env.clients("lambda").create_function_url_config(
            **self._target(props), AuthType=props["AuthType"], **only(props, ("Cors", "InvokeMode")))
        return Deployed(out["FunctionArn"], out["FunctionArn"],
                        {"FunctionUrl": out["FunctionUrl"], "FunctionArn": out["FunctionArn"]})

    def update(self, old: Deployed, before: dict, props: dict, env: Env) -> tuple[Deployed, bool]:
        if props["TargetFunctionArn"] != before.get("TargetFunctionArn"):
            return self.create("", props, env), True
        out = env.clients("lambda").update_function_url_config(
            **self._target(props), AuthType=props["AuthType"], Cors=props.get("Cors", {}),
            **only(props, ("InvokeMode",)))
        return Deployed(old.physical_id, old.ref, {"FunctionUrl": out["FunctionUrl"], "FunctionArn": out["FunctionArn"]}), False

    def delete(self, old: Deployed, env: Env) -> None:
        name, qualifier = function_name_and_qualifier(old.physical_id)
        ignore_missing(lambda: env.clients("lambda").delete_function_url_config(
            FunctionName=name, **({"Qualifier": qualifier} if qualifier else {})))


class EventInvokeConfig:
    def create(self, logical_id: str, props: dict, env: Env) -> Deployed:
        env.clients("lambda").put_function_event_invoke_config(
            FunctionName=props["FunctionName"], Qualifier=props.get("Qualifier", "$LATEST"),
            **only(props, ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")))
        physical = f"{props['FunctionName']}|{props.get('Qualifier', '$LATEST')}"
        return Deployed(physical, physical)

    def update(self, old: Deployed, before: dict, props: dict, env: Env) -> tuple[Deployed, bool]:
        return self.create("", props, env), False

    def delete(self, old: Deployed, env: Env) -> None:
        name, qualifier = old.physical_id.split("|", 1)
        ignore_missing(lambda: env.clients("lambda").delete_function_event_invoke_config(
            FunctionName=name, Qualifier=qualifier))


class Rule:
    def _put(self, name: str, props: dict, env: Env, before: dict) -> Deployed:
        events = env.clients("events")
        bus = props.get("EventBusName", "default")
        pattern = props.get("EventPattern")
        arguments = {"Name": name, "EventBusName": bus, "State": props.get("State", "ENABLED"),
                     **only(props, ("ScheduleExpression", "Description"))}
        if pattern is not None:
            arguments["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        arn = events.put_rule(**arguments)["RuleArn"]
        targets = [{k: v for k, v in t.items() if k in ("Id", "Arn", "Input", "InputPath", "InputTransformer",
                                                         "RetryPolicy", "DeadLetterConfig")}
                   for t in props.get("Targets") or []]
        stale = {t["Id"] for t in before.get("Targets") or []} - {t["Id"] for t in targets}
        if stale:
            events.remove_targets(Rule=name, EventBusName=bus, Ids=sorted(stale))
        if targets:
            failed = events.put_targets(Rule=name, EventBusName=bus, Targets=targets).get("FailedEntries")
            if failed:
                raise RuntimeError(f"rule {name}: targets refused: {failed}")
        return Deployed(f"{bus}|{name}", name, {"Arn": arn})

    def create(self, logical_id: str, props: dict, env: Env) -> Deployed:
        return self._put(props.get("Name") or env.name_for(logical_id), props, env, {})

    def update(self, old: Deployed, before: dict, props: dict, env: Env) -> tuple[Deployed, bool]:
        if props.get("Name", old.ref) != old.ref or props.get("EventBusName", "default") != old.physical_id.split("|")[0]:
            return self._put(props.get("Name") or f"{old.ref}-2", props, env, {}), True
        return self._put(old.ref, props, env, before), False

    def delete(self, old: Deployed, env: Env) -> None:
        bus, name = old.physical_id.split("|", 1)
        events = env.clients("events")
        try:
            ids = [t["Id"] for t in events.list_targets_by_rule(Rule=name, EventBusName=bus).get("Targets", [])]
            if ids:
                events.remove_targets(Rule=name, EventBusName=bus, Ids=ids)
            events.delete_rule(Name=name, EventBusName=bus)
        except ClientError as error:
            if not not_found(error):
                raise


class LogGroup:
    def create(self, logical_id: str, props: dict, env: Env) -> Deployed:
        logs = env.clients("logs")
        name = props.get("LogGroupName") or env.name_for(logical_id, 512)
        try:
            logs.create_log_group(logGroupName=name)
        except ClientError as error:  # Lambda may have made it already, by logging
            if error.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                raise
        self._retention(logs, name, props)
        arn = f"arn:aws:logs:{env.region}:{env.account_id}:log-group:{name}:*"
        return Deployed(name, name, {"Arn": arn})

    def _retention(self, logs, name: str, props: dict) -> None:
        if "RetentionInDays" in props:
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
        else:
            logs.delete_retention_policy(logGroupName=name)

    def update(self, old: Deployed, before: dict, props: dict, env: Env) -> tuple[Deployed, bool]:
        if props.get("LogGroupName", old.physical_id) != old.physical_id:
            return self.create("", props, env), True
        self._retention(env.clients("logs"), old.physical_id, props)
        return old, False

    def delete(self, old: Deployed, env: Env) -> None:
        ignore_missing(lambda: env.clients("logs").delete_log_group(logGroupName=old.physical_id))


# -- AWS::IAM::Role ---------------------------------------------------------------------------------------


class Role:
    def _document(self, value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value)

    def _policies(self, iam, name: str, props: dict, before: dict) -> None:
        wanted = set(props.get("ManagedPolicyArns") or [])
        had = set(before.get("ManagedPolicyArns") or [])
        for arn in sorted(had - wanted):
            ignore_missing(lambda arn=arn: iam.detach_role_policy(RoleName=name, PolicyArn=arn))
        for arn in sorted(wanted - had):
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        inline = {p["PolicyName"]: p["PolicyDocument"] for p in props.get("Policies") or []}
        for old_name in {p["PolicyName"] for p in before.get("Policies") or []} - set(inline):
            ignore_missing(lambda n=old_name: iam.delete_role_policy(RoleName=name, PolicyName=n))
        for policy_name, document in inline.items():
            iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=self._document(document))

    def create(self, logical_id: str, props: dict, env: Env) -> Deployed:
        iam = env.clients("iam")
        name = props.get("RoleName") or env.name_for(logical_id)
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=self._document(props["AssumeRolePolicyDocument"]),
                               **only(props, ("Path", "Description", "MaxSessionDuration")),
                               Tags=[{"Key": k, "Value": v} for k, v in tags_of(props.get("Tags")).items()])["Role"]
        self._policies(iam, name, props, {})
        return Deployed(name, name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})

    def update(self, old: Deployed, before: dict, props: dict, env: Env) -> tuple[Deployed, bool]:
        iam = env.clients("iam")
        if props.get("RoleName", old.physical_id) != old.physical_id:
            return self.create("", props, env), True
        if props["AssumeRolePolicyDocument"] != before.get("AssumeRolePolicyDocument"):
            iam.update_assume_role_policy(RoleName=old.physical_id,
                                          PolicyDocument=self._document(props["AssumeRolePolicyDocument"]))
        self._policies(iam, old.physical_id, props, before)
        return old, False

    def delete(self, old: Deployed, env: Env) -> None:
        iam = env.clients("iam")
        try:
            for policy in iam.list_attached_role_policies(RoleName=old.physical_id).get("AttachedPolicies", []):
                iam.detach_role_policy(RoleName=old.physical_id, PolicyArn=policy["PolicyArn"])
            for policy_name in iam.list_role_policies(RoleName=old.physical_id).get("PolicyNames", []):
                iam.delete_role_policy(RoleName=old.physical_id, PolicyName=policy_name)
            iam.delete_role(RoleName=old.physical_id)
        except ClientError as error:
            if not not_found(error):
                raise


# -- CodeDeploy (SAM DeploymentPreference) -------------------------------------------------------------


class CodeDeployApplication:
    """Only a name: lamina shifts alias traffic itself (lamina.sam.deploy), so the application and its
    deployment groups live in the stack's state, not in a CodeDeploy service."""

    def create(self, logical_id: str, props: dict, env: Env) -> Deployed:
        name = props.get("ApplicationName") or env.name_for(logical_id, 100)
        return Deployed(name, name)

    def update(self, old: Deployed, before: dict, props: dict, env: Env) -> tuple[Deployed, bool]:
        name = props.get("ApplicationName") or old.ref
        return Deployed(name, name), name != old.ref

    def delete(self, old: Deployed, env: Env) -> None:
        return None


class DeploymentGroup(CodeDeployApplication):
    """A deployment group's DeploymentConfigName decides the shifting steps; alarms and triggers are
    CodeDeploy features lamina does not run, so a group that asks for them is refused."""

    def create(self, logical_id: str, props: dict, env: Env) -> Deployed:
        from lamina.sam.shifting import steps

        steps(str(props.get("DeploymentConfigName", "CodeDeployDefault.LambdaAllAtOnce")))
        if (props.get("AlarmConfiguration") or {}).get("Alarms") or props.get("TriggerConfigurations"):
            raise RuntimeError(f"{logical_id}: lamina does not watch CloudWatch alarms or run CodeDeploy "
                               "triggers during a gradual deployment (remove Alarms / TriggerConfigurations)")
        name = props.get("DeploymentGroupName") or env.name_for(logical_id, 100)
        return Deployed(name, name)

    def update(self, old: Deployed, before: dict, props: dict, env: Env) -> tuple[Deployed, bool]:
        made = self.create(old.ref, {**props, "DeploymentGroupName": props.get("DeploymentGroupName") or old.ref},
                           env)
        return made, made.ref != old.ref


HANDLERS: dict[str, Any] = {
    "AWS::Lambda::Function": Function(), "AWS::Lambda::LayerVersion": LayerVersion(),
    "AWS::Lambda::Version": Version(), "AWS::Lambda::Alias": Alias(), "AWS::Lambda::Permission": Permission(),
    "AWS::Lambda::EventSourceMapping": EventSourceMapping(), "AWS::Lambda::Url": Url(),
    "AWS::Lambda::EventInvokeConfig": EventInvokeConfig(), "AWS::Events::Rule": Rule(),
    "AWS::Logs::LogGroup": LogGroup(), "AWS::IAM::Role": Role(),
    "AWS::CodeDeploy::Application": CodeDeployApplication(), "AWS::CodeDeploy::DeploymentGroup": DeploymentGroup(),
    "AWS::Lambda::CodeSigningConfig": CodeSigningConfig(),
}


def download(url: str, credentials: Any = None, region: str = "us-east-1") -> bytes:
    """A function's current code from its Code.Location (for rolling an update back); SigV4-signed
    when there are credentials, as lamina with --auth sigv4 needs."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method="GET", url=url)
    if credentials is not None:
        SigV4Auth(credentials, "lambda", region).add_auth(request)
    prepared = urllib.request.Request(url, headers=dict(request.headers.items()))
    with urllib.request.urlopen(prepared, timeout=60) as response:  # noqa: S310 - lamina's own URL
        return response.read()
