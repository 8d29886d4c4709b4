"""Code signing configs: Lambda's side of code signing (reference section 5).

Owns the CodeSigningConfig operations, which function uses which config, and the deploy-time
check: every code deployment (CreateFunction, UpdateFunctionCode, and layers attached by either
or by UpdateFunctionConfiguration) of a function with a config is judged by
lamina.signature.judge against the config's AllowedPublishers. An integrity failure is always
refused (InvalidCodeSignatureException); a mismatch, expiry or revocation is refused under
`Enforce` (CodeVerificationFailedException) and under `Warn` deploys with a warning log line and
a SignatureValidationErrors count (`warn`). A config's Tags (CreateCodeSigningConfig's, then
TagResource's through lamina.control.tags) are kept beside it, not in it (AWS shows them only
through ListTags), and go when it is deleted. Imports lamina.store, lamina.signature, lamina.model,
lamina.errors, lamina.arn and lamina.control only.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable

from lamina import arn as arns
from lamina import signature
from lamina.control import paging
from lamina.control.tags import check_count
from lamina.errors import (
    CodeVerificationFailedException,
    InvalidCodeSignatureException,
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lamina.model import lambda_timestamp
from lamina.store.code_signing import CodeSigningStore

log = logging.getLogger("lamina.codesigning")
_ID = re.compile(r"csc-[a-z0-9]{17}")
VERIFICATION_FAILED = ("Lambda cannot deploy the function. The function or layer might be signed using a signature "
                       "that the client is not configured to accept. Check the provided signature for {arn}.")
IMAGES_UNSIGNED = "Code signing is not supported for functions created with container images."
INTEGRITY_FAILED = ("The code signature failed the integrity check. Lambda always blocks deployment if the "
                    "integrity check fails, even if code signing policy is set to WARN.")


def outcome(finding: signature.Finding | None, policy: str) -> str:
    """What a deployment does about `finding` under UntrustedArtifactOnDeployment `policy`:
    deploy | warn | refuse | refuse-integrity."""
    if finding is None:
        return "deploy"
    if finding.kind == "integrity":
        return "refuse-integrity"
    return "refuse" if policy == "Enforce" else "warn"


class CodeSigning:
    def __init__(self, store: CodeSigningStore, region: str, account_id: str, *,
                 profile: Callable[[str], signature.Profile | None],
                 function_exists: Callable[[str], bool],
                 read_blob: Callable[[str], bytes],
                 warn: Callable[[str], None] = lambda function: None,
                 is_image: Callable[[str], bool] = lambda function: False,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._region = region
        self._account_id = account_id
        self._profile = profile
        self._function_exists = function_exists
        self._read_blob = read_blob
        self._warn = warn
        self._is_image = is_image
        self._clock = clock
        self._lock = threading.Lock()

    # -- naming ------------------------------------------------------------------------------
    def config_arn(self, csc_id: str) -> str:
        return arns.code_signing_config_arn(self._region, self._account_id, csc_id)

    def _id_of(self, arn: str) -> str | None:
        csc_id = arn.rsplit(":", 1)[-1]
        return csc_id if _ID.fullmatch(csc_id) and arn == self.config_arn(csc_id) else None

    def _config(self, arn: str) -> dict:
        csc_id = self._id_of(arn)
        doc = self._store.get_config(csc_id) if csc_id else None
        if doc is None:
            raise ResourceNotFoundException(f"The Lambda code signing configuration {arn} can not be found.")
        return doc

    def _function_arn(self, name: str) -> str:
        return arns.function_arn(self._region, self._account_id, name)

    # -- configs -----------------------------------------------------------------------------
    def create(self, params: dict) -> dict:
        tags = dict(params.get("Tags") or {})
        check_count(tags)
        csc_id = "csc-" + secrets.token_hex(9)[:17]
        doc = {"CodeSigningConfigId": csc_id, "CodeSigningConfigArn": self.config_arn(csc_id),
               "Description": params.get("Description", ""),
               "AllowedPublishers": {"SigningProfileVersionArns":
                                     list(params["AllowedPublishers"]["SigningProfileVersionArns"])},
               "CodeSigningPolicies": {"UntrustedArtifactOnDeployment":
                                       (params.get("CodeSigningPolicies") or {}).get("UntrustedArtifactOnDeployment")
                                       or "Warn"},
               "LastModified": lambda_timestamp()}
        self._store.put_config(csc_id, doc, tags)
        return doc

    def get(self, arn: str) -> dict:
        return self._config(arn)

    def update(self, params: dict) -> dict:
        with self._store.locked("config", params["CodeSigningConfigArn"]), self._lock:
            doc = self._config(params["CodeSigningConfigArn"])
            if "Description" in params:
                doc["Description"] = params["Description"]
            if "AllowedPublishers" in params:
                doc["AllowedPublishers"] = {"SigningProfileVersionArns":
                                            list(params["AllowedPublishers"]["SigningProfileVersionArns"])}
            if (params.get("CodeSigningPolicies") or {}).get("UntrustedArtifactOnDeployment"):
                doc["CodeSigningPolicies"] = {"UntrustedArtifactOnDeployment":
                                              params["CodeSigningPolicies"]["UntrustedArtifactOnDeployment"]}
            doc["LastModified"] = lambda_timestamp()
            self._store.put_config(doc["CodeSigningConfigId"], doc)
        return doc

    def delete(self, arn: str) -> None:
        with self._store.locked("config", arn), self._lock:
            doc = self._config(arn)
            users = self._store.functions_of(doc["CodeSigningConfigId"], None, 1)
            if users:
                raise ResourceConflictException(
                    f"The code signing configuration {arn} cannot be deleted because it is used by the function "
                    f"{self._function_arn(users[0])}.")
            self._store.delete_config(doc["CodeSigningConfigId"])

    def list(self, params: dict) -> tuple[list[dict], str | None]:
        every = self._store.list_configs(None, 1_000_000)
        return paging.page(every, params, key=lambda doc: doc["CodeSigningConfigId"])

    def list_functions(self, params: dict) -> tuple[list[str], str | None]:
        doc = self._config(params["CodeSigningConfigArn"])
        names = self._store.functions_of(doc["CodeSigningConfigId"], None, 1_000_000)
        page, marker = paging.page(names, params, key=lambda name: name)
        return [self._function_arn(name) for name in page], marker

    # -- functions ---------------------------------------------------------------------------
    def _existing_config(self, arn: str) -> dict:
        """A config named by a function operation: AWS's CodeSigningConfigNotFoundException."""
        csc_id = self._id_of(arn)
        doc = self._store.get_config(csc_id) if csc_id else None
        if doc is None:
            raise arns.code_signing_config_not_found(arn)
        return doc

    def put_function(self, function_name: str, arn: str) -> dict:
        doc = self._existing_config(arn)  # checked before the function, as on AWS
        if not self._function_exists(function_name):
            raise ResourceNotFoundException(f"Function not found: {self._function_arn(function_name)}")
        if self._is_image(function_name):
            raise InvalidParameterValueException(IMAGES_UNSIGNED)
        self._store.bind(function_name, doc["CodeSigningConfigId"])
        return {"CodeSigningConfigArn": arn, "FunctionName": function_name}

    def get_function(self, function_name: str) -> dict:
        if not self._function_exists(function_name):
            raise ResourceNotFoundException(f"Function not found: {self._function_arn(function_name)}")
        csc_id = self._store.config_of(function_name)
        return {"CodeSigningConfigArn": self.config_arn(csc_id) if csc_id else "", "FunctionName": function_name}

    def delete_function(self, function_name: str) -> None:
        if not self._function_exists(function_name):
            raise ResourceNotFoundException(f"Function not found: {self._function_arn(function_name)}")
        self._store.unbind(function_name)

    def bind(self, function_name: str, arn: str) -> None:
        """CreateFunction's CodeSigningConfigArn, once the function exists."""
        self._store.bind(function_name, self._existing_config(arn)["CodeSigningConfigId"])

    def function_deleted(self, function_name: str) -> None:
        self._store.unbind(function_name)

    # -- the deploy-time check -------------------------------------------------------------------
    def check(self, function_name: str, code: bytes | None, layers: list[dict],
              config_arn: str | None = None) -> dict:
        """Check a deployment of `function_name` (its zip `code`, None when only layers change, and its
        layers) against its config (`config_arn` for a function being created). Raises AWS's error
        when it must be refused; returns the version's changes: the signing members of the code
        (`signing_profile_version_arn`, `signing_job_arn`) and of each layer (`layers`)."""
        if config_arn is not None:
            doc: dict | None = self._existing_config(config_arn)
        else:
            csc_id = self._store.config_of(function_name)
            doc = self._store.get_config(csc_id) if csc_id else None
        changes: dict = {}
        if doc is None:
            if code is not None:
                changes.update(signing_profile_version_arn=None, signing_job_arn=None)
            changes["layers"] = [{k: v for k, v in layer.items() if not k.startswith("Signing")} for layer in layers]
            return changes
        allowed = frozenset(doc["AllowedPublishers"]["SigningProfileVersionArns"])
        policy = doc["CodeSigningPolicies"]["UntrustedArtifactOnDeployment"]
        if code is not None:
            document = self._judge(function_name, code, allowed, policy, doc["CodeSigningConfigArn"])
            changes["signing_profile_version_arn"] = document.get("profileVersionArn") if document else None
            changes["signing_job_arn"] = document.get("jobArn") if document else None
        signed_layers = []
        for layer in layers:
            document = self._judge(function_name, self._read_blob(layer["CodeHex"]), allowed, policy, layer["Arn"])
            plain = {k: v for k, v in layer.items() if not k.startswith("Signing")}
            if document:
                plain.update(SigningProfileVersionArn=document.get("profileVersionArn"),
                             SigningJobArn=document.get("jobArn"))
            signed_layers.append(plain)
        changes["layers"] = signed_layers
        return changes

    def _judge(self, function_name: str, package: bytes, allowed: frozenset[str], policy: str,
               subject: str) -> dict | None:
        try:
            document = signature.read(package)
            digest = signature.manifest_digest(package)
        except signature.SignatureError:
            raise InvalidCodeSignatureException(INTEGRITY_FAILED) from None
        arn = document.get("profileVersionArn") if document else None
        profile = self._profile(arn) if isinstance(arn, str) else None
        finding = signature.judge(document, digest, profile, allowed, self._clock())
        action = outcome(finding, policy)
        if action == "refuse-integrity":
            raise InvalidCodeSignatureException(INTEGRITY_FAILED)
        if action == "refuse":
            log.warning("code signing: deployment of %s refused: %s (%s)", function_name, finding.detail, subject)
            self._warn(function_name)
            raise CodeVerificationFailedException(VERIFICATION_FAILED.format(arn=subject))
        if action == "warn":
            log.warning("code signing: %s deployed with a signature validation error: %s (%s)", function_name,
                        finding.detail, subject)
            self._warn(function_name)
            return document if finding.kind != "mismatch" else None
        return document

