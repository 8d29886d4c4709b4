"""The list pages of the account's resources that are not one function's: code signing
configurations and event source mappings (the AWS console's "Additional resources"), read-only.

Each page reads every page of its List operation (Marker/NextMarker, `Console.every`) through the
Console's ApiClient, as the signed-in user, and shapes the answers into rows with the pure functions below
(table-tested). Imports lamina.console only.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.console.client import ApiError

if TYPE_CHECKING:
    from lamina.console.app import Console

# SelfManagedEventSource.Endpoints keys, as the AWS console names them (the model knows only Kafka's).
ENDPOINTS = {"KAFKA_BOOTSTRAP_SERVERS": "Self-managed Apache Kafka"}


def function_of(arn: str) -> tuple[str, str]:
    """(name, label) of a function ARN: the name its console page is under, and the name with the
    ARN's qualifier (version or alias) if it has one."""
    parts = arn.split(":")
    if len(parts) < 7 or parts[5] != "function":
        return arn, arn
    name = parts[6]
    return name, ":".join(parts[6:8])


def source_of(mapping: dict) -> tuple[str, str]:
    """(source, detail) of an event source mapping: its EventSourceArn, or where there is none the
    self-managed source's endpoints; the detail names what is read there (MQ queues, Kafka topics)."""
    details = []
    if mapping.get("Queues"):
        details.append("Queues: " + ", ".join(mapping["Queues"]))
    if mapping.get("Topics"):
        details.append("Topics: " + ", ".join(mapping["Topics"]))
    if mapping.get("EventSourceArn"):
        return mapping["EventSourceArn"], "; ".join(details)
    endpoints = (mapping.get("SelfManagedEventSource") or {}).get("Endpoints") or {}
    source = "; ".join(f"{ENDPOINTS.get(kind, kind)}: {', '.join(hosts)}" for kind, hosts in sorted(endpoints.items()))
    return source or "—", "; ".join(details)


def when(value: object) -> str:
    """A LastModified as the lists show it, "YYYY-MM-DD HH:MM:SS" in UTC: an ISO 8601 string (code
    signing configs) or the timestamp botocore parses (event source mappings)."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value or "")[:19].replace("T", " ")


class ResourcePages:
    def __init__(self, console: Console) -> None:
        self.c = console

    def routes(self, prefix: str) -> list[Route]:
        return [Route(prefix + "/code-signing-configs", self.code_signing_configs, methods=["GET"]),
                Route(prefix + "/event-source-mappings", self.event_source_mappings, methods=["GET"])]

    async def _users(self, request: Request, config_arn: str) -> list[tuple[str, str]] | str:
        """The functions a config is attached to as (name, label), or the API's refusal as text."""
        try:
            arns = await self.c.every(request, "ListFunctionsByCodeSigningConfig", "FunctionArns",
                                      {"CodeSigningConfigArn": config_arn}, optional=True)
        except ApiError as error:
            return f"{error.code}: {error.message}"
        return sorted(function_of(arn) for arn in arns or [])

    async def code_signing_configs(self, request: Request) -> Response:
        configs = await self.c.every(request, "ListCodeSigningConfigs", "CodeSigningConfigs", optional=True)
        users = await asyncio.gather(*(self._users(request, c["CodeSigningConfigArn"]) for c in configs or []))
        rows = [{"id": c["CodeSigningConfigId"], "arn": c["CodeSigningConfigArn"], "description": c.get("Description", ""),
                 "publishers": (c.get("AllowedPublishers") or {}).get("SigningProfileVersionArns", []),
                 "policy": (c.get("CodeSigningPolicies") or {}).get("UntrustedArtifactOnDeployment", "Warn"),
                 "functions": used, "modified": when(c.get("LastModified"))}
                for c, used in zip(configs or [], users, strict=True)]
        return self.c.render("code_signing_configs.html", rows=rows, available=configs is not None)

    async def event_source_mappings(self, request: Request) -> Response:
        mappings = await self.c.every(request, "ListEventSourceMappings", "EventSourceMappings", optional=True)
        rows = []
        for m in mappings or []:
            name, label = function_of(m.get("FunctionArn", ""))
            source, detail = source_of(m)
            rows.append({"uuid": m["UUID"], "name": name, "label": label, "source": source, "detail": detail,
                         "state": m.get("State", ""), "batch": m.get("BatchSize", ""),
                         "result": m.get("LastProcessingResult", ""), "modified": when(m.get("LastModified"))})
        return self.c.render("event_source_mappings.html", rows=rows, available=mappings is not None)
