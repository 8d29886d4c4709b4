"""The OCI Distribution (Docker Registry HTTP API v2) client: manifests, image indexes, configs
and blobs, with bearer-token and basic auth (a token per scope: a registry may ask for a new scope mid-pull).

Plain HTTP only for loopback registries and hosts named insecure; everything else is HTTPS.
A manifest list / OCI index picks the entry for linux and the function's architecture (attestation
entries `unknown/unknown` ignored). Blobs stream from the response (one pooled connection per session) and are checked against their
digest as they pass.
Failures are `ImageError`s carrying AWS's state reason code (ImageAccessDenied, ImageDeleted,
InvalidImage). Imports lamina.images.reference only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import httpx

from lamina.images.reference import Reference, is_loopback

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")
ACCEPT = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))
ARCHITECTURES = {"x86_64": "amd64", "arm64": "arm64"}
MAX_MANIFEST = 4 * 1024 * 1024
BLOCK = 1 << 20  # a blob's network chunks (64 KiB) are gathered into pieces this large before they
# are hashed and handed on: fewer, larger steps for the hash and the decompressor, each of which
# releases the GIL and must win it back from the thread that writes the files


class ImageError(Exception):
    """Why an image cannot be used: `code` is the StateReasonCode AWS reports."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def unsupported(uri: str) -> ImageError:
    return ImageError("InvalidImage", f"The image manifest, config or layer media type for the source image {uri} "
                                      "is not supported.")


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


_TLS: list = []


def _tls_context():
    """One verifying TLS context for every registry session (building one reads the CA bundle:
    tens of milliseconds a pull otherwise)."""
    if not _TLS:
        _TLS.append(httpx.create_ssl_context())
    return _TLS[0]


def gathered(chunks: Iterable[bytes], size: int = BLOCK) -> Iterator[bytes]:
    """`chunks` joined into pieces of at least `size` bytes (the last one may be shorter)."""
    parts: list[bytes] = []
    held = 0
    for chunk in chunks:
        parts.append(chunk)
        held += len(chunk)
        if held >= size:
            yield parts[0] if len(parts) == 1 else b"".join(parts)
            parts, held = [], 0
    if held:
        yield b"".join(parts)


class Registry:
    """One image's registry session (its token is reused for every request of the pull)."""

    def __init__(self, reference: Reference, uri: str, *, insecure: frozenset[str] = frozenset(),
                 credentials: tuple[str, str] | None = None, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.reference = reference
        self.uri = uri
        plain = is_loopback(reference) or reference.registry in insecure or reference.host in insecure
        self._base = f"{'http' if plain else 'https'}://{reference.registry}/v2/{reference.repository}"
        self._credentials = credentials
        self._authorization: str | None = None
        self._tokens: dict[str, str] = {}
        self._tokens_lock = threading.Lock()
        self._client = httpx.Client(timeout=timeout, follow_redirects=True, transport=transport,
                                    verify=_tls_context(), limits=httpx.Limits(max_keepalive_connections=4))

    def close(self) -> None:
        self._client.close()

    # -- requests ------------------------------------------------------------------------------
    def _token(self, challenge: str, failed: str | None = None) -> str | None:
        """The Authorization value that answers `challenge` (a WWW-Authenticate header), fetched
        once per realm and scope (a blob may need another scope than the manifest)."""
        scheme, params = _challenge(challenge)
        if scheme == "basic":
            if not self._credentials:
                return None
            user, password = self._credentials
            return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if scheme != "bearer" or "realm" not in params:
            return None
        scopes = (params.get("scope") or f"repository:{self.reference.repository}:pull").split()
        key = f"{params['realm']} {params.get('service', '')} {' '.join(scopes)}"
        with self._tokens_lock:
            if key in self._tokens and self._tokens[key] != failed:  # a refused one (expired) is fetched again
                return self._tokens[key]
        query = [("scope", scope) for scope in scopes]
        if "service" in params:
            query.insert(0, ("service", params["service"]))
        auth = httpx.BasicAuth(*self._credentials) if self._credentials else None
        try:
            token = self._client.get(params["realm"], params=query, auth=auth)
        except httpx.HTTPError:
            return None
        if token.status_code != 200:
            return None
        try:
            body = token.json()
        except ValueError:
            return None
        value = body.get("token") or body.get("access_token")
        if not value:
            return None
        with self._tokens_lock:
            self._tokens[key] = f"Bearer {value}"
        return self._tokens[key]

    def _send(self, method: str, url: str, headers: dict[str, str], stream: bool = False) -> httpx.Response:
        """One request, answering the registry's challenges: a 401 whose challenge was not met yet
        in this request (a first one, or a new scope asked for mid-pull) gets a token for it and
        one more try."""
        tried: set[str] = set()
        authorization = self._authorization
        while True:
            sent = dict(headers)
            if authorization:
                sent["Authorization"] = authorization
            try:
                request = self._client.build_request(method, url, headers=sent)
                response = self._client.send(request, stream=stream)
            except httpx.HTTPError as exc:
                raise ImageError("ImageAccessDenied", f"Lambda cannot reach the registry of {self.uri}: {exc}") \
                    from exc
            challenge = response.headers.get("www-authenticate", "")
            if response.status_code != 401 or challenge in tried or len(tried) >= 3:
                return response
            tried.add(challenge)
            response.close()
            fresh = self._token(challenge, failed=authorization)
            if fresh is None:
                return response
            authorization = self._authorization = fresh

    def _check(self, response: httpx.Response, what: str) -> None:
        if response.status_code in (401, 403):
            raise ImageError("ImageAccessDenied", f"Lambda does not have permission to access the image {self.uri}.")
        if response.status_code == 404:
            raise ImageError("ImageDeleted", f"The image {self.uri} does not exist: the registry has no {what}.")
        if response.status_code != 200:
            raise ImageError("InvalidImage", f"The registry answered {response.status_code} for the {what} of "
                                             f"{self.uri}.")

    # -- manifests -----------------------------------------------------------------------------
    def _manifest(self, reference: str) -> tuple[str, str, dict]:
        response = self._send("GET", f"{self._base}/manifests/{reference}", {"Accept": ACCEPT})
        self._check(response, "manifest")
        body = response.content
        if len(body) > MAX_MANIFEST:
            raise ImageError("InvalidImage", f"The manifest of {self.uri} is too large.")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if reference.startswith("sha256:") and reference != digest:
            raise ImageError("InvalidImage", f"The manifest of {self.uri} does not match its digest.")
        try:
            manifest = json.loads(body)
        except ValueError as exc:
            raise ImageError("InvalidImage", f"The manifest of {self.uri} is not JSON.") from exc
        media_type = manifest.get("mediaType") or response.headers.get("content-type", "").split(";")[0]
        return digest, media_type, manifest

    def manifest(self, architecture: str) -> tuple[str, dict]:
        """(digest, manifest) of the image for linux/`architecture` (x86_64 | arm64)."""
        digest, media_type, manifest = self._manifest(self.reference.reference)
        if media_type in INDEX_TYPES or "manifests" in manifest:
            wanted = ARCHITECTURES.get(architecture, architecture)
            chosen = next((entry for entry in manifest.get("manifests") or ()
                           if (entry.get("platform") or {}).get("os") == "linux"
                           and (entry.get("platform") or {}).get("architecture") == wanted), None)
            if chosen is None:
                raise ImageError("InvalidImage", f"The image {self.uri} has no manifest for linux/{wanted} "
                                                 f"(the function's architecture {architecture}).")
            digest, media_type, manifest = self._manifest(chosen["digest"])
        if media_type not in MANIFEST_TYPES or not isinstance(manifest.get("layers"), list) \
                or not isinstance(manifest.get("config"), dict):
            raise unsupported(self.uri)
        return digest, manifest

    # -- blobs ---------------------------------------------------------------------------------
    def blob_bytes(self, descriptor: dict, limit: int = MAX_MANIFEST) -> bytes:
        response = self._send("GET", f"{self._base}/blobs/{descriptor['digest']}", {})
        self._check(response, f"blob {descriptor['digest']}")
        body = response.content
        if len(body) > limit or "sha256:" + hashlib.sha256(body).hexdigest() != descriptor["digest"]:
            raise ImageError("InvalidImage", f"The blob {descriptor['digest']} of {self.uri} does not match its "
                                             "digest.")
        return body

    def blob_chunks(self, descriptor: dict, progress: Callable[[int], None] = lambda n: None,
                    stop: threading.Event | None = None) -> Iterator[bytes]:
        """A blob's bytes as they arrive on the (reused) connection, in pieces of BLOCK bytes;
        the last step checks them against the digest (ImageError InvalidImage). Closing the
        iterator ends the download."""
        digest = descriptor.get("digest") or ""
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise unsupported(self.uri)
        response = self._send("GET", f"{self._base}/blobs/{digest}", {}, stream=True)
        try:
            self._check(response, f"layer {digest}")
            hasher = hashlib.sha256()
            for chunk in gathered(response.iter_bytes()):
                if stop is not None and stop.is_set():
                    return
                hasher.update(chunk)
                progress(len(chunk))
                yield chunk
        except httpx.HTTPError as exc:
            raise ImageError("ImageAccessDenied", f"Lambda could not download {digest} of {self.uri}: {exc}") from exc
        finally:
            response.close()
        if "sha256:" + hasher.hexdigest() != digest:
            raise ImageError("InvalidImage", f"The layer {digest} of {self.uri} does not match its digest.")

    def blob_to(self, descriptor: dict, path: Path, progress: Callable[[int], None] = lambda n: None,
                stop: threading.Event | None = None) -> Path:
        """Download a blob to `path`, checking its digest (a layer fetched while another unpacks)."""
        with open(path, "wb") as out:
            for chunk in self.blob_chunks(descriptor, progress, stop):
                out.write(chunk)
        return path
