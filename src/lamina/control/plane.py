"""The control plane as one value: the services the operation handlers are handed, and the
region and code-URL facts they report. Imports lamina.control modules only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lamina.control.account import AccountSettings
from lamina.control.aliases import Aliases
from lamina.control.code_signing import CodeSigning
from lamina.control.concurrency import ReservedConcurrency
from lamina.control.event_configs import EventConfigs
from lamina.control.function_urls import FunctionUrls
from lamina.control.functions import Functions
from lamina.control.layers import Layers
from lamina.control.mappings import EventSourceMappings
from lamina.control.permissions import Permissions
from lamina.control.provisioned import ProvisionedConcurrency
from lamina.control.signing_profiles import SigningProfiles
from lamina.control.tags import Tags


@dataclass(frozen=True)
class ControlPlane:
    functions: Functions
    aliases: Aliases
    layers: Layers
    event_configs: EventConfigs
    concurrency: ReservedConcurrency
    provisioned: ProvisionedConcurrency
    tags: Tags
    account: AccountSettings
    region: str
    code_url: Callable[[str], str]  # code hex → download URL
    permissions: Permissions | None = None  # resource policies (AddPermission ...)
    mappings: EventSourceMappings | None = None
    function_urls: FunctionUrls | None = None
    code_signing: CodeSigning | None = None
    signing_profiles: SigningProfiles | None = None
