"""Image references (`host[:port]/repo[:tag]` or `host[:port]/repo@sha256:<hex>`), pure.

Imports nothing from lamina.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_HOST = re.compile(r"(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]{1,5})?")


@dataclass(frozen=True)
class Reference:
    registry: str  # host[:port]
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def host(self) -> str:
        host = self.registry.rsplit(":", 1)[0] if not self.registry.endswith("]") else self.registry
        return host.strip("[]")

    @property
    def reference(self) -> str:
        """What the manifest is fetched by: the digest when given, else the tag."""
        return self.digest or self.tag or "latest"

    def resolved(self, digest: str) -> str:
        return f"{self.registry}/{self.repository}@{digest}"


def parse(uri: str) -> Reference:
    """The parts of `uri`; ValueError when it is not a valid image reference with a registry host."""
    if not uri or uri != uri.strip() or "/" not in uri:
        raise ValueError(uri)
    registry, rest = uri.split("/", 1)
    if not _HOST.fullmatch(registry) or not ("." in registry or ":" in registry or registry == "localhost"):
        raise ValueError(uri)
    digest = tag = None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            raise ValueError(uri)
    if ":" in rest:
        rest, tag = rest.rsplit(":", 1)
        if not _TAG.fullmatch(tag):
            raise ValueError(uri)
    if not _REPOSITORY.fullmatch(rest):
        raise ValueError(uri)
    return Reference(registry, rest, tag if tag or digest else "latest", digest)


def is_loopback(reference: Reference) -> bool:
    return reference.host in ("127.0.0.1", "localhost", "::1") or reference.host.startswith("127.")
