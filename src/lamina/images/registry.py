"""The OCI Distribution (Docker Registry HTTP API v2) client: manifests, image indexes, configs
and blobs, with bearer-token and basic auth.

Plain HTTP only for loopback registries and hosts named insecure; everything else is HTTPS.
A manifest list / OCI index picks the entry for linux and the function's architecture (attestation
entries `unknown/unknown` ignored). Blobs stream to a file and are checked against their digest.
Failures are `ImageError`s carrying AWS's state reason code (ImageAccessDenied, ImageDeleted,
InvalidImage). Imports lamina.images.reference only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import queue
import re
import threading
from collections.abc import Callable
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
        self._client = httpx.Client(timeout=timeout, follow_redirects=True, transport=transport)

    def close(self) -> None:
        self._client.close()

    # -- requests ------------------------------------------------------------------------------
    def _authorise(self, response: httpx.Response) -> bool:
        scheme, params = _challenge(response.headers.get("www-authenticate", ""))
        if scheme == "basic" and self._credentials:
            user, password = self._credentials
            self._authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            return True
        if scheme == "bearer" and "realm" in params:
            query = {k: v for k, v in params.items() if k in ("service", "scope")}
            query.setdefault("scope", f"repository:{self.reference.repository}:pull")
            auth = httpx.BasicAuth(*self._credentials) if self._credentials else None
            token = self._client.get(params["realm"], params=query, auth=auth)
            if token.status_code != 200:
                return False
            body = token.json()
            value = body.get("token") or body.get("access_token")
            if not value:
                return False
            self._authorization = f"Bearer {value}"
            return True
        return False

    def _send(self, method: str, url: str, headers: dict[str, str], stream: bool = False) -> httpx.Response:
        for attempt in range(2):
            sent = dict(headers)
            if self._authorization:
                sent["Authorization"] = self._authorization
            try:
                request = self._client.build_request(method, url, headers=sent)
                response = self._client.send(request, stream=stream)
            except httpx.HTTPError as exc:
                raise ImageError("ImageAccessDenied", f"Lambda cannot reach the registry of {self.uri}: {exc}") \
                    from exc
            if response.status_code == 401 and attempt == 0:
                response.close()
                if self._authorise(response):
                    continue
            return response
        return response

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

    def blob_stream(self, descriptor: dict, path: Path, progress: Callable[[int], None] = lambda n: None) -> BlobStream:
        """A file-like reader of a blob as it downloads, saving it to `path` (once `finish()` has
        checked its digest), so a layer can be unpacked while it is still arriving."""
        digest = descriptor["digest"]
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest or ""):
            raise unsupported(self.uri)
        response = self._send("GET", f"{self._base}/blobs/{digest}", {}, stream=True)
        try:
            self._check(response, f"layer {digest}")
        except ImageError:
            response.close()
            raise
        return BlobStream(response, path, digest, self.uri, progress)

    def blob_to(self, descriptor: dict, path: Path, progress: Callable[[int], None] = lambda n: None) -> None:
        """Download a blob to `path` (atomically), checking its digest."""
        digest = descriptor["digest"]
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest or ""):
            raise unsupported(self.uri)
        partial = path.with_name(path.name + f".{os.getpid()}.part")
        hasher = hashlib.sha256()
        response = self._send("GET", f"{self._base}/blobs/{digest}", {}, stream=True)
        try:
            self._check(response, f"layer {digest}")
            with open(partial, "wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    hasher.update(chunk)
                    out.write(chunk)
                    progress(len(chunk))
        except httpx.HTTPError as exc:
            raise ImageError("ImageAccessDenied", f"Lambda could not download {digest} of {self.uri}: {exc}") from exc
        finally:
            response.close()
        if "sha256:" + hasher.hexdigest() != digest:
            partial.unlink(missing_ok=True)
            raise ImageError("InvalidImage", f"The layer {digest} of {self.uri} does not match its digest.")
        os.replace(partial, path)


class BlobStream:
    """read(n) over a blob's download: a thread receives it (teeing it into a file and a SHA-256)
    while the caller unpacks what has arrived, so the network and the disk work at once."""

    _END = b""

    def __init__(self, response: httpx.Response, path: Path, digest: str, uri: str,
                 progress: Callable[[int], None]) -> None:
        self._response = response
        self._path = path
        self._partial = path.with_name(path.name + f".{os.getpid()}.part")
        self._hasher = hashlib.sha256()
        self._digest = digest
        self._uri = uri
        self._progress = progress
        self._queue: queue.Queue = queue.Queue(maxsize=64)
        self._buffer = bytearray()
        self._done = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True, name="layer-download")
        self._thread.start()

    def _receive(self) -> None:
        try:
            with open(self._partial, "wb") as out:
                for chunk in self._response.iter_bytes(1 << 20):
                    if self._stop.is_set():
                        return
                    self._hasher.update(chunk)
                    out.write(chunk)
                    self._progress(len(chunk))
                    self._queue.put(chunk)
        except BaseException as exc:  # noqa: BLE001 - handed to the reader
            self._error = exc
        finally:
            self._queue.put(self._END)

    def _more(self) -> None:
        chunk = self._queue.get()
        if chunk is self._END or chunk == self._END:
            self._done = True
            if self._error is not None:
                error, self._error = self._error, None
                if isinstance(error, ImageError):
                    raise error
                raise ImageError("ImageAccessDenied", f"Lambda could not download {self._digest} of {self._uri}: "
                                                      f"{error}") from error
            return
        self._buffer += chunk

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self._buffer) < size) and not self._done:
            self._more()
        if size < 0:
            size = len(self._buffer)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def finish(self) -> None:
        """Read what is left, check the digest, keep the blob."""
        while not self._done:
            self._more()
            self._buffer.clear()
        self._thread.join()
        self._response.close()
        if "sha256:" + self._hasher.hexdigest() != self._digest:
            self._partial.unlink(missing_ok=True)
            raise ImageError("InvalidImage", f"The layer {self._digest} of {self._uri} does not match its digest.")
        os.replace(self._partial, self._path)

    def discard(self) -> None:
        self._stop.set()
        while not self._done:  # let the thread end (it may be blocked on a full queue)
            try:
                self._more()
            except ImageError:
                pass
            self._buffer.clear()
        self._thread.join()
        self._response.close()
        self._partial.unlink(missing_ok=True)
