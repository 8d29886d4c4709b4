"""Code signatures: lamina's stand-in for AWS Signer's, embedded in the zip it covers.

`lamina sign --profile NAME function.zip` adds one entry, `.lamina-signature`, a JSON document
holding the signing profile version ARN, the signing job ARN, when it was signed, until when it is
valid, the manifest digest of every other entry (names and contents) and an Ed25519 signature
over all of those. The zip stays a plain zip, so it deploys through `aws lambda
update-function-code --zip-file` unchanged, and any change to another entry breaks the digest.

`judge` is the deploy-time check of reference section 5.3 as a pure function: integrity first
(always enforced), then mismatch (unsigned, unknown or not allowed profile version), expiry and
revocation. Imports nothing from lamina.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ENTRY = ".lamina-signature"
FORMAT = 1


class SignatureError(ValueError):
    """The zip cannot be read, or its signature entry is malformed."""


def manifest_digest(zip_bytes: bytes) -> str:
    """Hex SHA-256 over every entry but the signature: its name, then its content's SHA-256, in
    name order (the order entries are stored in does not matter; their names and bytes do)."""
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            lines = []
            for info in sorted(archive.infolist(), key=lambda i: i.filename):
                if info.filename == ENTRY:
                    continue
                content = hashlib.sha256(archive.read(info)).hexdigest()
                lines.append(f"{info.filename}\0{content}\n")
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise SignatureError(f"not a readable zip: {exc}") from exc
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def payload(fields: dict) -> bytes:
    """The bytes an Ed25519 signature covers: every field of the document but the signature."""
    signed = {k: v for k, v in fields.items() if k != "signature"}
    return json.dumps(signed, sort_keys=True, separators=(",", ":")).encode()


def new_key() -> tuple[str, str]:
    """(private, public) raw Ed25519 keys, base64."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes_raw()
    public = key.public_key().public_bytes_raw()
    return base64.b64encode(private).decode(), base64.b64encode(public).decode()


def sign(private_b64: str, fields: dict) -> dict:
    """The signature document: `fields` plus the signature over them."""
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(private_b64))
    return {**fields, "signature": base64.b64encode(key.sign(payload(fields))).decode()}


def signature_valid(public_b64: str, document: dict) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64))
        key.verify(base64.b64decode(document.get("signature", "")), payload(document))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def read(zip_bytes: bytes) -> dict | None:
    """The signature document of a zip, or None when it carries none."""
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            if ENTRY not in archive.namelist():
                return None
            document = json.loads(archive.read(ENTRY))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise SignatureError(f"unreadable signature: {exc}") from exc
    if not isinstance(document, dict):
        raise SignatureError("the signature is not a JSON object")
    return document


def embed(zip_bytes: bytes, document: dict) -> bytes:
    """The zip with `document` as its signature entry (replacing one already there)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename != ENTRY:
                target.writestr(info, source.read(info))
        entry = zipfile.ZipInfo(ENTRY, date_time=(1980, 1, 1, 0, 0, 0))
        entry.external_attr = 0o644 << 16
        target.writestr(entry, json.dumps(document, sort_keys=True, indent=1), zipfile.ZIP_DEFLATED)
    return out.getvalue()


@dataclass(frozen=True)
class Profile:
    """What the check needs of a signing profile version."""

    version_arn: str
    public_key: str  # base64 raw Ed25519
    revoked_from: float | None = None  # signatures made at or after this epoch are revoked


@dataclass(frozen=True)
class Finding:
    """Why a package fails the check: `kind` is integrity | mismatch | expiry | revocation."""

    kind: str
    detail: str


def judge(document: dict | None, digest: str, profile: Profile | None, allowed: frozenset[str],
          now: float) -> Finding | None:
    """The outcome of checking one package's signature `document` (None: unsigned) against the
    package's manifest `digest`, the signing profile version it names (None: unknown here) and the
    AllowedPublishers' profile version ARNs, at `now`."""
    if document is None:
        return Finding("mismatch", "the package is not signed")
    if document.get("format") != FORMAT or document.get("digest") != digest:
        return Finding("integrity", "the package changed after it was signed")
    if profile is not None and not signature_valid(profile.public_key, document):
        return Finding("integrity", "the signature does not match the package")
    arn = document.get("profileVersionArn")
    if arn not in allowed:
        return Finding("mismatch", f"signing profile version {arn} is not an allowed publisher")
    if profile is None:
        return Finding("mismatch", f"signing profile version {arn} is unknown")
    signed_at, expires_at = document.get("signedAt"), document.get("expiresAt")
    if not isinstance(signed_at, (int, float)) or not isinstance(expires_at, (int, float)):
        return Finding("integrity", "the signature has no validity period")
    if now >= expires_at:
        return Finding("expiry", "the signature expired")
    if profile.revoked_from is not None and signed_at >= profile.revoked_from:
        return Finding("revocation", f"signing profile version {arn} was revoked")
    return None
