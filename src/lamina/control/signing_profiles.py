"""Signing profiles: the signer side of code signing, a small subset of AWS Signer.

AWS Signer's own signature format cannot be reproduced, so lamina signs: each signing profile
version holds an Ed25519 key pair; `sign` (what `lamina sign` calls) signs a package's manifest
digest with the profile's newest version for the profile's validity period (or less) and names
a signing job. PutSigningProfile on a name that exists makes a new version with a new key (older
versions stay valid until revoked); RevokeSigningProfile revokes one version for signatures made
from its effective time on; CancelSigningProfile stops a profile from signing (its signatures
stay valid). ARNs as AWS Signer writes them:
`arn:aws:signer:REGION:ACCOUNT:/signing-profiles/NAME` and `.../NAME/VERSION`.
Imports lamina.store, lamina.signature and lamina.errors only.
"""

from __future__ import annotations

import secrets
import string
import threading
import time
import uuid

from lamina import signature
from lamina.errors import SignerBadRequestException as SignerBadRequest
from lamina.errors import SignerNotFoundException as SignerNotFound
from lamina.errors import SignerValidationException as SignerValidation
from lamina.store.code_signing import CodeSigningStore

PLATFORM = "AWSLambda-SHA384-ECDSA"  # the one platform Lambda code signing uses
PLATFORM_NAME = "AWS Lambda"
UNIT_SECONDS = {"DAYS": 86_400, "MONTHS": 30 * 86_400, "YEARS": 365 * 86_400}
DEFAULT_VALIDITY = {"value": 135, "type": "MONTHS"}  # AWS Signer's default
_ALPHABET = string.ascii_letters + string.digits


def validity_seconds(period: dict) -> int:
    return int(period["value"]) * UNIT_SECONDS[period["type"]]


def public_view(doc: dict) -> dict:
    """GetSigningProfile / ListSigningProfiles members of a stored version (never its keys)."""
    out = {"profileName": doc["name"], "profileVersion": doc["version"], "profileVersionArn": doc["versionArn"],
           "platformId": doc["platformId"], "platformDisplayName": PLATFORM_NAME,
           "signatureValidityPeriod": doc["signatureValidityPeriod"], "status": doc["status"], "arn": doc["arn"],
           "tags": dict(doc.get("tags") or {})}
    if doc.get("revocationRecord"):
        out["revocationRecord"] = doc["revocationRecord"]
    return out


class SigningProfiles:
    def __init__(self, store: CodeSigningStore, region: str, account_id: str) -> None:
        self._store = store
        self._region = region
        self._account_id = account_id
        self._lock = threading.Lock()

    def profile_arn(self, name: str) -> str:
        return f"arn:aws:signer:{self._region}:{self._account_id}:/signing-profiles/{name}"

    def _latest(self, name: str) -> dict:
        versions = self._store.profile_versions(name)
        if not versions:
            raise SignerNotFound(f"Signing profile {name} not found.")
        return versions[-1]

    def put(self, name: str, params: dict) -> dict:
        platform = params.get("platformId")
        if platform != PLATFORM:
            raise SignerValidation(f"Invalid platformId: {platform}. lamina signs for {PLATFORM} (AWS Lambda).")
        period = params.get("signatureValidityPeriod") or DEFAULT_VALIDITY
        if period.get("type") not in UNIT_SECONDS or not isinstance(period.get("value"), int) or period["value"] < 1:
            raise SignerValidation("signatureValidityPeriod needs a positive value and a type of DAYS, MONTHS or "
                                   "YEARS.")
        private, public = signature.new_key()
        version = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        arn = self.profile_arn(name)
        doc = {"name": name, "version": version, "arn": arn, "versionArn": f"{arn}/{version}",
               "platformId": platform, "signatureValidityPeriod": {"value": period["value"], "type": period["type"]},
               "status": "Active", "tags": dict(params.get("tags") or {}), "privateKey": private,
               "publicKey": public}
        with self._lock:
            self._store.add_profile_version(name, version, doc)
        return {"arn": arn, "profileVersion": version, "profileVersionArn": doc["versionArn"]}

    def get(self, name: str) -> dict:
        return public_view(self._latest(name))

    def list(self, params: dict) -> dict:
        newest: dict[str, dict] = {}
        for doc in self._store.profile_versions():
            newest[doc["name"]] = doc
        statuses = set(params.get("statuses") or ())
        out = []
        for doc in newest.values():
            if doc["status"] == "Canceled" and not params.get("includeCanceled") and "Canceled" not in statuses:
                continue
            if statuses and doc["status"] not in statuses:
                continue
            view = public_view(doc)
            view.pop("platformDisplayName")
            out.append({**view, "validityPeriod": view.pop("signatureValidityPeriod")})
        return {"profiles": out}

    def revoke(self, name: str, params: dict) -> None:
        version, reason, effective = params.get("profileVersion"), params.get("reason"), params.get("effectiveTime")
        if not version or not reason or effective is None:
            raise SignerValidation("profileVersion, reason and effectiveTime are required.")
        with self._store.locked("profile", name), self._lock:
            doc = next((d for d in self._store.profile_versions(name) if d["version"] == version), None)
            if doc is None:
                raise SignerNotFound(f"Signing profile {name} version {version} not found.")
            now = time.time()
            doc["status"] = "Revoked"
            doc["statusReason"] = reason
            doc["revocationRecord"] = {"effectiveTime": float(effective), "revokedAt": now,
                                       "revokedBy": f"arn:aws:iam::{self._account_id}:root"}
            self._store.save_profile_version(name, version, doc)

    def cancel(self, name: str) -> None:
        with self._store.locked("profile", name), self._lock:
            doc = self._latest(name)
            doc["status"] = "Canceled"
            self._store.save_profile_version(name, doc["version"], doc)

    def sign(self, name: str, digest: str, validity_s: int | None = None) -> dict:
        """The signature document for a package whose manifest digest is `digest`, signed now by the
        profile's newest version, valid for the profile's period (or `validity_s`, if shorter)."""
        doc = self._latest(name)
        if doc["status"] != "Active":
            raise SignerBadRequest(f"Signing profile {name} is {doc['status']}: it cannot sign.")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise SignerValidation("digest must be the hex SHA-256 manifest digest of the package.")
        period = validity_seconds(doc["signatureValidityPeriod"])
        if validity_s is not None:
            if validity_s < 1:
                raise SignerValidation("validity must be at least 1 second.")
            period = min(period, validity_s)
        now = time.time()
        job_arn = f"arn:aws:signer:{self._region}:{self._account_id}:/signing-jobs/{uuid.uuid4()}"
        fields = {"format": signature.FORMAT, "digest": digest, "profileVersionArn": doc["versionArn"],
                  "jobArn": job_arn, "signedAt": now, "expiresAt": now + period}
        return signature.sign(doc["privateKey"], fields)

    def profile(self, version_arn: str) -> signature.Profile | None:
        """What the deploy-time check needs of a profile version, by its ARN (None: unknown)."""
        prefix = f"arn:aws:signer:{self._region}:{self._account_id}:/signing-profiles/"
        if not version_arn.startswith(prefix) or version_arn.count("/") != 3:
            return None
        name, version = version_arn[len(prefix):].split("/", 1)
        doc = next((d for d in self._store.profile_versions(name) if d["version"] == version), None)
        if doc is None:
            return None
        record = doc.get("revocationRecord")
        return signature.Profile(doc["versionArn"], doc["publicKey"], record["effectiveTime"] if record else None)

