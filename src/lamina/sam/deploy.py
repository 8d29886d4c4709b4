"""`lamina deploy` and `lamina delete`: a SAM stack applied through lamina's public APIs, and removed.

A deploy builds the code (lamina.sam.build), expands the template (lamina.sam.translate),
evaluates Conditions, orders the resources (lamina.sam.changes), shows the change set against the
stack's previous state (kept in lamina at `/_lamina/stacks/NAME`), then applies it resource by
resource through the handlers of lamina.sam.resources, writing the state after every step. If a
step fails, what this deploy did is undone in reverse (added resources deleted, modified ones put
back, a function's previous code restored from its Code.Location) and the previous state stays.
Resources removed from the template are deleted last (CloudFormation's clean-up phase), except
those with `DeletionPolicy: Retain`. Resource types lamina does not deploy are listed and skipped,
or refused with `--strict`. Imports nothing from lamina but lamina.sam.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.sam import changes as change_set
from lamina.sam import intrinsics, resources
from lamina.sam.intrinsics import Context, IntrinsicError
from lamina.sam.resources import HANDLERS, Deployed, Env


class DeployError(RuntimeError):
    """A deploy or delete that stopped; the message says which resource and why."""


@dataclass
class Plan:
    stack: str
    template: dict  # the expanded CloudFormation template
    parameters: dict[str, Any]
    ordered: list[str]
    skipped: dict[str, str]  # logical id → type lamina does not deploy
    changes: list[change_set.Change]
    previous: dict[str, dict]
    retain: set[str] = field(default_factory=set)
    blocked: dict[str, tuple[str, str]] = field(default_factory=dict)  # logical id → (type, skipped id it needs)


class StackState:
    """The stacks API of lamina (`/_lamina/stacks`), signed like the SDK's requests when keys are set."""

    def __init__(self, endpoint: str, region: str, credentials: Any) -> None:
        self._base = endpoint.rstrip("/") + "/_lamina/stacks"
        self._region = region
        self._credentials = credentials

    @property
    def credentials(self) -> Any:
        return self._credentials

    @property
    def region(self) -> str:
        return self._region

    def _request(self, method: str, path: str, body: dict | None = None) -> dict | None:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        data = json.dumps(body).encode() if body is not None else None
        request = AWSRequest(method=method, url=self._base + path, data=data,
                             headers={"Content-Type": "application/json"} if data else {})
        if self._credentials is not None:
            SigV4Auth(self._credentials, "lambda", self._region).add_auth(request)
        prepared = urllib.request.Request(request.url, data=data, method=method, headers=dict(request.headers))
        try:
            with urllib.request.urlopen(prepared, timeout=60) as response:  # noqa: S310 - the endpoint given
                text = response.read()
        except urllib.error.HTTPError as error:
            if error.code == 404 and method == "GET":
                return None
            raise DeployError(f"lamina answered {error.code} for the stack state: {error.read()[:300]!r}") from None
        except OSError as error:
            raise DeployError(f"lamina is not reachable at {self._base}: {error}") from None
        return json.loads(text) if text else None

    def get(self, name: str) -> dict | None:
        found = self._request("GET", "/" + name)
        return found["Document"] if found else None

    def put(self, name: str, document: dict) -> None:
        self._request("PUT", "/" + name, document)

    def delete(self, name: str) -> None:
        self._request("DELETE", "/" + name)


def plan(stack: str, template: dict, parameters: dict[str, Any], previous_document: dict | None,
         *, strict: bool) -> Plan:
    """Everything decided before the first API call: the order, what is skipped, the change set."""
    declared = template.get("Resources") or {}
    context = Context(parameters, mappings=template.get("Mappings") or {}, resources=frozenset(declared))
    try:
        conditions = intrinsics.evaluate_conditions(template, context)
    except IntrinsicError as error:
        raise DeployError(str(error)) from None
    hooked = [lid for lid, r in declared.items()
              if {"BeforeAllowTrafficHook", "AfterAllowTrafficHook"} & set(
                  (r.get("UpdatePolicy") or {}).get("CodeDeployLambdaAliasUpdate") or {})]
    if hooked:
        raise DeployError(f"{', '.join(hooked)}: lamina does not run CodeDeploy lifecycle hooks "
                          "(DeploymentPreference Hooks PreTraffic / PostTraffic)")
    unsupported = {lid: r.get("Type", "?") for lid, r in declared.items() if r.get("Type") not in HANDLERS}
    if unsupported and strict:
        raise DeployError("--strict: lamina does not deploy " + ", ".join(
            f"{lid} ({kind})" for lid, kind in unsupported.items()))
    active = {lid: r for lid, r in declared.items()
              if lid not in unsupported and conditions.get(r.get("Condition", ""), True)}
    # e.g. the Permission of a SAM Api/HttpApi event refers to the API Gateway API lamina skips
    blocked = change_set.needing(active, set(unsupported))
    active = {lid: r for lid, r in active.items() if lid not in blocked}
    try:
        ordered = change_set.order(active, frozenset(declared) - set(active))
    except change_set.OrderError as error:
        raise DeployError(str(error)) from None
    previous = (previous_document or {}).get("resources", {})

    def with_previous(logical_id: str) -> Any:
        scoped = _context(template, parameters, conditions, previous, active)
        return intrinsics.resolve(active[logical_id].get("Properties") or {}, scoped, f"Resources.{logical_id}")

    return Plan(stack, template, parameters, ordered, unsupported,
                change_set.changes(ordered, active, previous, with_previous), previous,
                {lid for lid, r in active.items() if r.get("DeletionPolicy") == "Retain"},
                {lid: (declared[lid].get("Type", "?"), needed) for lid, needed in blocked.items()})


def _context(template: dict, parameters: dict, conditions: dict[str, bool], deployed: dict[str, dict],
             declared: dict) -> Context:
    def ref(logical_id: str) -> Any:
        if logical_id not in deployed:
            raise IntrinsicError(f"Ref {logical_id}: not deployed yet")
        return deployed[logical_id]["ref"]

    def attribute(logical_id: str, name: str) -> Any:
        if logical_id not in deployed:
            raise IntrinsicError(f"Fn::GetAtt {logical_id}.{name}: not deployed yet")
        attributes = deployed[logical_id].get("attributes") or {}
        if name not in attributes:
            raise IntrinsicError(f"Fn::GetAtt {logical_id}.{name}: lamina does not provide this attribute")
        return attributes[name]

    return Context(parameters, conditions, template.get("Mappings") or {}, ref, attribute, frozenset(declared))


class Deployer:
    def __init__(self, env: Env, state: StackState, say: Callable[[str], None]) -> None:
        self.env = env
        self.state = state
        self.say = say

    def apply(self, plan: Plan) -> dict:
        """Apply the plan; returns the stack's new state document (with resolved Outputs)."""
        template, parameters = plan.template, plan.parameters
        declared = {lid: template["Resources"][lid] for lid in plan.ordered}
        context_base = Context(parameters, mappings=template.get("Mappings") or {},
                               resources=frozenset(template["Resources"]))
        conditions = intrinsics.evaluate_conditions(template, context_base)
        deployed: dict[str, dict] = {lid: dict(entry) for lid, entry in plan.previous.items()}
        journal: list[tuple] = []
        document = {"status": "DEPLOY_IN_PROGRESS", "resources": deployed, "outputs": {}}
        replaced: list[tuple[str, dict]] = []
        try:
            for position, logical_id in enumerate(plan.ordered):
                resource = declared[logical_id]
                kind = resource["Type"]
                handler = HANDLERS[kind]
                context = _context(template, parameters, conditions, deployed, template["Resources"])
                props = intrinsics.resolve(resource.get("Properties") or {}, context, f"Resources.{logical_id}.Properties")
                old = plan.previous.get(logical_id)
                if old is not None and old["type"] == kind and old.get("properties") == props:
                    deployed[logical_id]["order"] = position
                    continue
                if old is None or old["type"] != kind:
                    self.say(f"creating {logical_id} ({kind})")
                    made = handler.create(logical_id, props, self.env)
                    journal.append(("add", logical_id, kind, made))
                    if old is not None:
                        replaced.append((logical_id, old))
                else:
                    self.say(f"updating {logical_id} ({kind})")
                    before = _deployed(old)
                    rollback_code = self._previous_code(kind, before)
                    if kind == "AWS::Lambda::Alias" and resource.get("UpdatePolicy"):
                        self._shift(logical_id, resource, context, old["properties"], props, deployed)
                    made, was_replaced = handler.update(before, old["properties"], props, self.env)
                    journal.append(("modify", logical_id, kind, old, made, was_replaced, rollback_code, props))
                    if was_replaced:
                        replaced.append((logical_id, old))
                deployed[logical_id] = {"type": kind, "physical_id": made.physical_id, "ref": made.ref,
                                        "attributes": made.attributes, "properties": props, "order": position,
                                        "retain": logical_id in plan.retain}
                self.state.put(plan.stack, document)
        except Exception as error:  # any failure: undo this deploy's steps, keep the previous state
            self.say(f"failed: {error}; rolling back")
            problems = self._undo(journal)
            previous = {"status": "ROLLBACK_COMPLETE" if not problems else "ROLLBACK_FAILED",
                        "resources": plan.previous, "outputs": {}}
            self.state.put(plan.stack, previous)
            detail = f" (rollback left: {'; '.join(problems)})" if problems else ""
            raise DeployError(f"{_what(error)}{detail}") from None
        # Clean-up: what left the template, and what was replaced, oldest dependents first.
        gone = [lid for lid in sorted(plan.previous, key=lambda lid: -plan.previous[lid].get("order", 0))
                if lid not in declared]
        for logical_id in gone:
            entry = deployed.pop(logical_id)
            self._remove(logical_id, entry)
        for logical_id, old in reversed(replaced):
            self._remove(logical_id, old)
        final_context = _context(template, parameters, conditions, deployed, template["Resources"])
        document["outputs"] = self._outputs(template, final_context)
        document["status"] = "DEPLOY_COMPLETE"
        self.state.put(plan.stack, document)
        return document

    def _shift(self, logical_id: str, resource: dict, context: Context, before: dict, props: dict,
               deployed: dict[str, dict]) -> None:
        """A DeploymentPreference's gradual shift of the alias to its new version, step by step; the final
        step is the alias update itself. Interrupted, the alias is put back on its old version."""
        import time

        from lamina.sam.shifting import steps

        old_version, new_version = str(before.get("FunctionVersion")), str(props.get("FunctionVersion"))
        if old_version == new_version:
            return
        policy = intrinsics.resolve(resource["UpdatePolicy"].get("CodeDeployLambdaAliasUpdate") or {}, context,
                                    f"Resources.{logical_id}.UpdatePolicy")
        group = next((e for e in deployed.values() if e.get("type") == "AWS::CodeDeploy::DeploymentGroup"
                      and e.get("ref") == policy.get("DeploymentGroupName")), None)
        config = (group or {}).get("properties", {}).get("DeploymentConfigName", "CodeDeployDefault.LambdaAllAtOnce")
        lam = self.env.clients("lambda")
        name = resources.function_name_and_qualifier(props["FunctionName"])[0]
        try:
            for percent, minutes in steps(config)[:-1]:
                self.say(f"shifting {logical_id}: {percent}% of traffic on version {new_version} for {minutes} min")
                lam.update_alias(FunctionName=name, Name=props["Name"], FunctionVersion=old_version,
                                 RoutingConfig={"AdditionalVersionWeights": {new_version: percent / 100}})
                time.sleep(minutes * self.env.minute_seconds)
        except BaseException:
            lam.update_alias(FunctionName=name, Name=props["Name"], FunctionVersion=old_version,
                             RoutingConfig={"AdditionalVersionWeights": {}})
            raise
        self.say(f"shifting {logical_id}: all traffic on version {new_version}")

    def _previous_code(self, kind: str, before: Deployed) -> bytes | None:
        if kind != "AWS::Lambda::Function":
            return None
        location = self.env.clients("lambda").get_function(FunctionName=before.physical_id)["Code"].get("Location")
        return resources.download(location, self.state.credentials, self.state.region) if location else None

    def _remove(self, logical_id: str, entry: dict) -> None:
        if entry.get("retain"):
            self.say(f"retaining {logical_id} ({entry['type']}): DeletionPolicy Retain")
            return
        self.say(f"deleting {logical_id} ({entry['type']})")
        try:
            HANDLERS[entry["type"]].delete(_deployed(entry), self.env)
        except Exception as error:  # clean-up failures are reported, the deploy itself succeeded
            self.say(f"could not delete {logical_id}: {_what(error)}")

    def _undo(self, journal: list[tuple]) -> list[str]:
        problems = []
        for step in reversed(journal):
            logical_id, kind = step[1], step[2]
            handler = HANDLERS[kind]
            try:
                if step[0] == "add":
                    handler.delete(step[3], self.env)
                else:
                    _, _, _, old, made, was_replaced, rollback_code, props = step
                    if was_replaced:
                        handler.delete(made, self.env)
                    else:
                        env = self.env
                        if rollback_code is not None:  # the code the function had before this deploy
                            env = Env(env.clients, env.stack, env.region, env.account_id,
                                      lambda _, code=rollback_code: code)
                        handler.update(made, props, old["properties"], env)
            except Exception as error:
                problems.append(f"{logical_id}: {_what(error)}")
        return problems

    def _outputs(self, template: dict, context: Context) -> dict[str, Any]:
        out = {}
        for name, output in (template.get("Outputs") or {}).items():
            if output.get("Condition") and not context.conditions.get(output["Condition"], True):
                continue
            try:
                out[name] = intrinsics.resolve(output.get("Value"), context, f"Outputs.{name}.Value")
            except IntrinsicError as error:
                out[name] = f"(not available: {error})"
        return out

    def delete(self, stack: str, document: dict) -> list[str]:
        """Remove every resource the stack created, dependents first; returns what was retained."""
        entries = document.get("resources", {})
        retained = []
        for logical_id in sorted(entries, key=lambda lid: -entries[lid].get("order", 0)):
            entry = entries[logical_id]
            if entry.get("retain"):
                retained.append(logical_id)
                continue
            self.say(f"deleting {logical_id} ({entry['type']})")
            try:
                HANDLERS[entry["type"]].delete(_deployed(entry), self.env)
            except Exception as error:
                self.state.put(stack, {**document, "status": "DELETE_FAILED"})
                raise DeployError(f"{logical_id}: {_what(error)}") from None
        self.state.delete(stack)
        return retained


def _deployed(entry: dict) -> Deployed:
    return Deployed(entry["physical_id"], entry["ref"], entry.get("attributes") or {})


def _what(error: Exception) -> str:
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        return f"{detail.get('Code')}: {detail.get('Message')}"
    return str(error)


def read_code(build_dir: Path, built: dict[str, dict]) -> Callable[[str], bytes]:
    def code(logical_id: str) -> bytes:
        try:
            return Path(built[logical_id]["zip_path"]).read_bytes()
        except KeyError:
            raise DeployError(f"{logical_id}: no built code in {build_dir}") from None

    return code


