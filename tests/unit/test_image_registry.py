"""The registry client's protocol, against an in-process fake registry (httpx.MockTransport):
bearer-token and basic challenges, index selection by architecture, media types, errors."""

import base64
import hashlib
import json

import httpx
import pytest

from lamina.images.reference import parse
from lamina.images.registry import BLOCK, ImageError, Registry, gathered

CONFIG = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"digest": "sha256:" + hashlib.sha256(CONFIG).hexdigest(), "size": len(CONFIG)},
                       "layers": []}).encode()
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
INDEX = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
    {"digest": "sha256:" + "0" * 64, "platform": {"os": "unknown", "architecture": "unknown"}},
    {"digest": MANIFEST_DIGEST, "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()


def fake(auth: str | None, *, index: bool = False):
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url}")
        if request.url.path == "/token":
            assert request.url.params["scope"] == "repository:app:pull"
            assert request.headers.get("authorization") == "Basic " + base64.b64encode(b"u:p").decode()
            return httpx.Response(200, json={"token": "T0K"})
        if auth == "bearer" and request.headers.get("authorization") != "Bearer T0K":
            return httpx.Response(401, headers={"www-authenticate": 'Bearer realm="https://auth.test/token",'
                                                                      'service="reg",scope="repository:app:pull"'})
        if auth == "basic" and request.headers.get("authorization") != "Basic " + base64.b64encode(b"u:p").decode():
            return httpx.Response(401, headers={"www-authenticate": 'Basic realm="reg"'})
        if request.url.path.endswith("/manifests/v1"):
            body, kind = (INDEX, "application/vnd.oci.image.index.v1+json") if index else \
                (MANIFEST, "application/vnd.oci.image.manifest.v1+json")
            return httpx.Response(200, content=body, headers={"content-type": kind})
        if request.url.path.endswith(f"/manifests/{MANIFEST_DIGEST}"):
            return httpx.Response(200, content=MANIFEST,
                                  headers={"content-type": "application/vnd.oci.image.manifest.v1+json"})
        return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})

    return httpx.MockTransport(handle), seen


def _registry(transport, credentials=("u", "p")):
    uri = "reg.test/app:v1"
    return Registry(parse(uri), uri, credentials=credentials, transport=transport)


@pytest.mark.parametrize("auth", [None, "bearer", "basic"])
def test_manifest_with_each_kind_of_auth(auth):
    transport, seen = fake(auth)
    digest, manifest = _registry(transport).manifest("x86_64")
    assert digest == MANIFEST_DIGEST and manifest["layers"] == []
    assert seen[0].startswith("GET https://reg.test/v2/app/manifests/v1")  # not loopback: HTTPS
    if auth == "bearer":
        assert any("/token?" in line for line in seen)


def test_an_index_picks_the_architecture():
    transport, seen = fake(None, index=True)
    digest, _ = _registry(transport).manifest("x86_64")
    assert digest == MANIFEST_DIGEST
    with pytest.raises(ImageError) as info:
        _registry(fake(None, index=True)[0]).manifest("arm64")
    assert info.value.code == "InvalidImage" and "linux/arm64" in info.value.message


def test_access_denied_and_missing():
    with pytest.raises(ImageError) as info:
        _registry(fake("basic")[0], credentials=None).manifest("x86_64")
    assert info.value.code == "ImageAccessDenied"
    uri = "reg.test/app:nope"
    with pytest.raises(ImageError) as info:
        Registry(parse(uri), uri, transport=fake(None)[0]).manifest("x86_64")
    assert info.value.code == "ImageDeleted"


def test_a_new_scope_asked_for_mid_pull_gets_its_own_token():
    """The manifest wants more than its first challenge named (two challenges in one request), the
    layer lives in another repository (a third scope), and tokens are reused per scope."""
    layer = b"layer bytes" * 1000
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"digest": "sha256:" + hashlib.sha256(CONFIG).hexdigest(), "size": 1},
                           "layers": [{"digest": layer_digest, "size": len(layer)}]}).encode()
    manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    tokens: list[str] = []

    def challenge(scope: str, error: str = "") -> httpx.Response:
        extra = f',error="{error}"' if error else ""
        return httpx.Response(401, headers={"www-authenticate": f'Bearer realm="https://auth.test/token",'
                                                                  f'service="reg",scope="{scope}"{extra}'})

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            scopes = request.url.params.get_list("scope")
            tokens.append(" ".join(scopes))
            return httpx.Response(200, json={"token": "T:" + " ".join(scopes)})
        held = (request.headers.get("authorization") or "").removeprefix("Bearer T:")
        if "/manifests/" in request.url.path:
            if not held:
                return challenge("repository:app:pull")
            if held != "repository:app:pull repository:app:metadata_read":
                return challenge("repository:app:pull repository:app:metadata_read", "insufficient_scope")
            return httpx.Response(200, content=manifest,
                                  headers={"content-type": "application/vnd.oci.image.manifest.v1+json"})
        if request.url.path.endswith(layer_digest):
            if held != "repository:base:pull":
                return challenge("repository:base:pull", "insufficient_scope")
            return httpx.Response(200, content=layer)
        return httpx.Response(404)

    registry = _registry(httpx.MockTransport(handle), credentials=None)
    digest, got = registry.manifest("x86_64")
    assert digest == manifest_digest
    assert b"".join(registry.blob_chunks(got["layers"][0])) == layer
    registry._manifest(manifest_digest)  # back to the manifest's scope: its token is reused
    assert tokens == ["repository:app:pull", "repository:app:pull repository:app:metadata_read",
                      "repository:base:pull"]


def test_a_layer_that_does_not_match_its_digest_fails():
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"not the layer")

    registry = _registry(httpx.MockTransport(handle), credentials=None)
    with pytest.raises(ImageError) as info:
        list(registry.blob_chunks({"digest": "sha256:" + "1" * 64}))
    assert info.value.code == "InvalidImage" and "does not match its digest" in info.value.message


@pytest.mark.parametrize(("sizes", "size", "expected"), [
    ([], 4, []),
    ([1, 1, 1, 1, 1], 2, [2, 2, 1]),
    ([5, 1, 3], 4, [5, 4]),
    ([2, 2], 4, [4]),
    ([1], 4, [1]),
])
def test_gathered_joins_chunks_into_pieces_of_at_least_a_size(sizes, size, expected):
    chunks = [bytes([n]) * k for n, k in enumerate(sizes)]
    pieces = list(gathered(chunks, size))
    assert [len(p) for p in pieces] == expected and b"".join(pieces) == b"".join(chunks)


def test_a_blob_arrives_in_blocks_and_is_checked_whole():
    blob = bytes(range(256)) * (3 * BLOCK // 256 + 100)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()

    def serving(body: bytes):  # in network-sized chunks
        return httpx.MockTransport(lambda request: httpx.Response(
            200, content=(body[i:i + 65536] for i in range(0, len(body), 65536))))

    pieces = list(_registry(serving(blob), credentials=None).blob_chunks({"digest": digest}))
    assert b"".join(pieces) == blob and len(pieces) == 4 and all(len(p) >= BLOCK for p in pieces[:-1])
    with pytest.raises(ImageError, match="does not match its digest"):
        list(_registry(serving(blob[:-1] + b"x"), credentials=None).blob_chunks({"digest": digest}))


def test_a_refused_token_is_fetched_again():
    """A token the registry stops accepting (expired) is not offered again: a fresh one is fetched."""
    issued = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            issued.append(f"T{len(issued)}")
            return httpx.Response(200, json={"token": issued[-1]})
        if request.headers.get("authorization") != f"Bearer {issued[-1] if issued else ''}" or len(issued) < 2 \
                and "/manifests/" in request.url.path and request.url.path.endswith("again"):
            return httpx.Response(401, headers={"www-authenticate": 'Bearer realm="https://auth.test/token",'
                                                                      'service="reg",scope="repository:app:pull"'})
        return httpx.Response(200, content=MANIFEST, headers={"content-type": "application/vnd.oci.image.manifest.v1+json"})

    registry = _registry(httpx.MockTransport(handle), credentials=None)
    registry._manifest("v1")
    registry._manifest("again")  # T0 is refused now: T1 is fetched and accepted
    assert issued == ["T0", "T1"]
