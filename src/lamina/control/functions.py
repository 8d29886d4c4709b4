"""Function operations: create, read, list, update code and configuration, publish, delete.

One method per API operation, taking the operation's input members by their model names
(already checked against the service model by the HTTP layer) and returning lamina.model
records. State moves Pending → Active and InProgress → Successful in a deferred step that
unpacks the code and its layers and checks the runtime can run here; both report
LastUpdateStatus, and a finished update gets a new RevisionId. PublishVersion makes a new
version whenever $LATEST changed (its LastModified moved) since the last one. Imports
lamina.store, lamina.model, lamina.errors, lamina.arn, lamina.events and lamina.control only;
announces changes by publishing lamina.events (FunctionChanged, FunctionDeleted, VersionDeleted).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from lamina import arn as arns
from lamina.control import code_signing, configuration, package, paging
from lamina.control.tags import check_count
from lamina.errors import (
    NOT_FOUND,
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lamina.events import FunctionChanged, FunctionDeleted, VersionDeleted
from lamina.images import reference as image_reference
from lamina.images.registry import ImageError
from lamina.model import LATEST, Function, FunctionVersion, lambda_timestamp
from lamina.store import archive
from lamina.store.aliases import AliasStore
from lamina.store.blobs import BlobStore
from lamina.store.functions import FunctionStore

LIST_PAGE_CAP = paging.LIST_PAGE_CAP
IMAGE_URI_ON_ZIP = "Please don't provide ImageUri when updating a function with packageType Zip."


@dataclass(frozen=True)
class Account:
    region: str
    account_id: str


class Functions:
    def __init__(self, store: FunctionStore, blobs: BlobStore, aliases: AliasStore, account: Account, *,
                 runtime_problem: Callable[[str], str | None],
                 layer_lookup: Callable[[str], dict | None],
                 publish: Callable[[object], None],
                 defer: Callable[[Callable[[], None]], None],
                 allow_deprecated_runtimes: bool = False,
                 role_assumable: Callable[[str], bool] | None = None, fetch_s3: package.Fetch | None = None,
                 file_system_problem: Callable[[str], str | None] | None = None,
                 code_check: Callable[..., dict] | None = None,
                 bind_code_signing: Callable[[str, str], None] | None = None,
                 pull_image: Callable[..., object] | None = None,
                 image_problem: str = "lamina does not run container image functions here.") -> None:
        self._store = store
        # With auth on: whether Lambda may assume a role (it exists and trusts lambda.amazonaws.com).
        self._role_assumable = role_assumable
        self._blobs = blobs
        self._aliases = aliases
        self._account = account
        self._runtime_problem = runtime_problem
        self._layer_lookup = layer_lookup
        self._publish_event = publish
        self._defer = defer
        self._allow_deprecated = allow_deprecated_runtimes
        self._fetch_s3 = fetch_s3
        self._file_system_problem = file_system_problem
        # code signing (lamina.control.code_signing): check(name, zip or None, layers, config ARN) → changes
        self._code_check = code_check or (lambda name, code, layers, config_arn=None: {})
        self._bind_code_signing = bind_code_signing
        # container images (lamina.images.store.ImageStore.pull): (uri, architecture, progress) → PulledImage
        self._pull_image = pull_image
        self._image_problem = image_problem
        self._lock = threading.RLock()

    # -- naming ------------------------------------------------------------------------------
    def arn(self, name: str, qualifier: str | None = None) -> str:
        return arns.function_arn(self._account.region, self._account.account_id, name, qualifier)

    def ref(self, function_name: str, qualifier: str | None = None) -> arns.FunctionRef:
        ref = arns.parse_function_name(function_name, self._account.region, self._account.account_id)
        return arns.FunctionRef(ref.name, arns.merge_qualifier(ref.qualifier, qualifier))

    def _function(self, name: str) -> Function:
        function = self._store.get(name)
        if function is None:
            raise ResourceNotFoundException(f"Function not found: {self.arn(name)}")
        return function

    def _check_role(self, params: dict) -> None:
        if self._role_assumable is not None and "Role" in params and not self._role_assumable(params["Role"]):
            raise InvalidParameterValueException("The role defined for the function cannot be assumed by Lambda.")

    # -- create -------------------------------------------------------------------------------
    def create(self, params: dict) -> FunctionVersion:
        configuration.check_supported(params)
        self._check_role(params)
        check_count(params.get("Tags") or {})
        name = self.ref(params["FunctionName"]).name
        if params.get("PackageType") == "Image":
            return self._create_image(name, params)
        if params.get("Runtime") is None or params.get("Handler") is None:
            raise InvalidParameterValueException(
                "Runtime and Handler are mandatory parameters for functions created with deployment packages."
            )
        configuration.check_runtime(params["Runtime"], updating=False, allow_deprecated=self._allow_deprecated)
        zip_bytes = self._zip_from(params.get("Code") or {})
        latest = configuration.apply(FunctionVersion(name=name), params, self._layer_lookup,
                                      self._file_system_problem)
        config_arn = params.get("CodeSigningConfigArn")
        latest = latest.copy(**self._code_check(name, zip_bytes, latest.layers, config_arn))
        latest = self._with_code(latest, zip_bytes)
        latest.revision_id = str(uuid.uuid4())
        function = Function(name=name, latest=latest, tags=dict(params.get("Tags") or {}))
        with self._lock:
            if not self._store.create(function):
                raise ResourceConflictException(f"Function already exist: {name}")
            if config_arn and self._bind_code_signing is not None:
                self._bind_code_signing(name, config_arn)
        self._defer(lambda: self._settle(name, publish=bool(params.get("Publish"))))
        return latest

    def _create_image(self, name: str, params: dict) -> FunctionVersion:
        if any(params.get(member) for member in ("Runtime", "Handler", "Layers")):
            raise InvalidParameterValueException(
                "Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image.")
        code = params.get("Code") or {}
        if not code.get("ImageUri"):
            raise InvalidParameterValueException("Please provide a source for function code.")
        if params.get("CodeSigningConfigArn"):
            raise InvalidParameterValueException(code_signing.IMAGES_UNSIGNED)
        self._check_image_uri(code["ImageUri"])
        latest = FunctionVersion(name=name, package_type="Image", image_uri=code["ImageUri"])
        latest = configuration.apply(latest, params, self._layer_lookup, self._file_system_problem)
        latest = latest.copy(revision_id=str(uuid.uuid4()), last_modified=lambda_timestamp())
        function = Function(name=name, latest=latest, tags=dict(params.get("Tags") or {}))
        with self._lock:
            if not self._store.create(function):
                raise ResourceConflictException(f"Function already exist: {name}")
        self._defer(lambda: self._settle(name, publish=bool(params.get("Publish"))))
        return latest

    def _check_image_uri(self, uri: str) -> None:
        if self._pull_image is None:
            raise InvalidParameterValueException(self._image_problem)
        try:
            image_reference.parse(uri)
        except ValueError:
            raise InvalidParameterValueException(
                f"Source image {uri} is not valid. Provide a valid source image.") from None

    def _zip_from(self, code: dict) -> bytes:
        return package.zip_bytes(code, member="Code", what="function code", fetch=self._fetch_s3)

    @staticmethod
    def _check_package(version: FunctionVersion, data: bytes) -> None:
        """The zip's own checks, with its layers counted against the 250 MB unzipped limit."""
        layers_size = sum(int(layer.get("UnzippedSize", 0)) for layer in version.layers)
        archive.check_zip(data, extra_unzipped=layers_size)

    def _with_code(self, version: FunctionVersion, data: bytes) -> FunctionVersion:
        self._check_package(version, data)
        blob = self._blobs.put(data)
        return version.copy(code_sha256=blob.sha256_b64, code_hex=blob.sha256_hex, code_size=blob.size,
                            last_modified=lambda_timestamp())

    def _settle(self, name: str, *, publish: bool = False) -> None:
        """The deferred half of a create or update: unpack the code, check the runtime, go Active.
        Unpacking can take seconds, so it runs outside the lock (other operations go on meanwhile);
        what it unpacked is checked again under the lock before the state is saved."""
        function = self._store.get(name)
        if function is None:
            return
        while True:
            prepared = function.latest
            problem, code, pulled = self._prepare(prepared)
            with self._store.locked(name), self._lock:
                function = self._store.get(name)
                if function is None:
                    return
                latest = function.latest
                if _source(latest) != _source(prepared):
                    continue  # changed while unpacking: prepare what is there now
                settled = dict(state="Failed" if problem else "Active", state_reason=problem,
                               state_reason_code=code, last_update_status="Failed" if problem else "Successful",
                               last_update_status_reason=problem, last_update_status_reason_code=code, **pulled)
                if latest.state == "Pending":  # a finished create reports LastUpdateStatus too, as on AWS
                    latest = latest.copy(**settled)
                else:  # a finished update is a change of its own: a new RevisionId, as on AWS
                    latest = latest.copy(**settled, revision_id=str(uuid.uuid4()))
                self._store.save_version(latest)
                if publish and not problem:
                    self._publish(function, latest, description=None)
                break
        self._publish_event(FunctionChanged(name))

    # -- read ---------------------------------------------------------------------------------
    def get(self, function_name: str, qualifier: str | None = None) -> tuple[Function, FunctionVersion]:
        ref = self.ref(function_name, qualifier)
        function = self._function(ref.name)
        if ref.qualifier in (None, LATEST):
            return function, function.latest
        number = ref.qualifier
        if not number.isdigit():
            alias = self._aliases.get(ref.name, ref.qualifier)
            number = alias.function_version if alias else None
        version = None
        if number == LATEST:
            version = function.latest
        elif number is not None:
            version = self._store.get_version(ref.name, number)
        if version is None:
            raise ResourceNotFoundException(f"Function not found: {self.arn(ref.name, ref.qualifier)}")
        return function, version

    def list(self, *, marker: str | None = None, max_items: int | None = None,
             function_version: str | None = None,
             master_region: str | None = None) -> tuple[list[FunctionVersion], str | None]:
        if function_version not in (None, "ALL"):
            raise InvalidParameterValueException("Invalid value for FunctionVersion. Valid value is ALL.")
        if master_region is not None:  # lists Lambda@Edge replicas only, and lamina holds none
            if function_version is None:
                raise InvalidParameterValueException(
                    f"The combination MasterArn={master_region} and FunctionVersion=NULL is not supported. "
                    "Please see our documentation for valid combinations of ListFunctions options."
                )
            return [], None
        return _store_page(lambda after, limit: self._store.list_versions(
            after=after, limit=limit, latest_only=function_version is None), marker, max_items)

    def list_versions(self, function_name: str, *, marker: str | None = None,
                      max_items: int | None = None) -> tuple[list[FunctionVersion], str | None]:
        name = self.ref(function_name).name
        self._function(name)
        return _store_page(lambda after, limit: self._store.list_versions(name, after=after, limit=limit),
                           marker, max_items)

    # -- update -------------------------------------------------------------------------------
    def _updatable(self, function_name: str, revision_id: str | None) -> Function:
        ref = self.ref(function_name)
        if ref.qualifier not in (None, LATEST):
            raise InvalidParameterValueException(
                "Please provide an unqualified function name or use $LATEST as the qualifier."
            )
        function = self._function(ref.name)
        latest = function.latest
        if latest.state == "Pending":
            raise ResourceConflictException(
                "The operation cannot be performed at this time. The function is currently in the following "
                f"state: {latest.state}"
            )
        if latest.last_update_status == "InProgress":
            raise ResourceConflictException(
                "The operation cannot be performed at this time. An update is in progress for resource: "
                f"{self.arn(function.name)}"
            )
        if revision_id is not None and revision_id != latest.revision_id:
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias "
                "API to retrieve the latest Revision Id"
            )
        return function

    def _begin_update(self, version: FunctionVersion, publish: bool) -> FunctionVersion:
        version = version.copy(
            revision_id=str(uuid.uuid4()), last_modified=lambda_timestamp(), last_update_status="InProgress",
            last_update_status_reason="The function is being created.", last_update_status_reason_code="Creating",
        )
        self._store.save_version(version)
        self._publish_event(FunctionChanged(version.name))
        self._defer(lambda: self._settle(version.name, publish=publish))
        return version

    def _progress(self, prepared: FunctionVersion, text: str) -> None:
        """Pull progress in StateReason (creating) or LastUpdateStatusReason (updating)."""
        with self._store.locked(prepared.name), self._lock:
            function = self._store.get(prepared.name)
            if function is None or _source(function.latest) != _source(prepared):
                return
            latest = function.latest
            if latest.state == "Pending":
                latest = latest.copy(state_reason=f"The function is being created. {text}")
            elif latest.last_update_status == "InProgress":
                latest = latest.copy(last_update_status_reason=f"The function is being updated. {text}")
            else:
                return
            self._store.save_version(latest)

    def _pull(self, version: FunctionVersion) -> tuple[str | None, str | None, dict]:
        try:
            pulled = self._pull_image(version.image_uri, version.architectures[0],  # type: ignore[misc]
                                      lambda text: self._progress(version, text))
        except ImageError as exc:
            return exc.message, exc.code, {}
        except Exception as exc:  # noqa: BLE001 - a pull that breaks fails the function, never the server
            return f"Lambda could not pull the image {version.image_uri}: {exc}", "InvalidImage", {}
        return None, None, {"code_sha256": pulled.digest_hex, "resolved_image_uri": pulled.resolved_uri}

    def _prepare(self, version: FunctionVersion) -> tuple[str | None, str | None, dict]:
        """Unpack a version's code and layers once per digest (pull its image) and check its runtime
        can run here: (problem, its reason code, changes to the version), or (None, None, changes)."""
        if version.package_type == "Image":
            return self._pull(version)
        problem, code = self._prepare_zip(version)
        return problem, code, {}

    def _prepare_zip(self, version: FunctionVersion) -> tuple[str | None, str | None]:
        try:  # the layers too: publishing a layer leaves its unpacking to the first function using it
            for code_hex in _packages(version):
                self._blobs.unpacked(code_hex)
        except Exception as exc:  # a package that cannot be unpacked fails the function, as on AWS
            return f"Could not unpack the deployment package: {exc}", "InvalidZipFileException"
        if version.runtime:
            problem = self._runtime_problem(version.runtime)
            if problem:
                return problem, "InvalidRuntime"
        return None, None

    def _update_image(self, function: Function, params: dict) -> FunctionVersion:
        if not params.get("ImageUri") or params.get("ZipFile") or params.get("S3Bucket"):
            raise InvalidParameterValueException(
                "Please provide ImageUri when updating a function with packageType Image.")
        self._check_image_uri(params["ImageUri"])
        updated = function.latest.copy(image_uri=params["ImageUri"])
        if "Architectures" in params:
            updated = updated.copy(architectures=list(params["Architectures"]))
        if params.get("DryRun"):
            return updated
        return self._begin_update(updated, publish=bool(params.get("Publish")))

    def update_configuration(self, params: dict) -> FunctionVersion:
        configuration.check_supported(params)
        self._check_role(params)
        with self._store.locked(self.ref(params["FunctionName"]).name), self._lock:
            function = self._updatable(params["FunctionName"], params.get("RevisionId"))
            if "Runtime" in params:
                configuration.check_runtime(params["Runtime"], updating=True,
                                            allow_deprecated=self._allow_deprecated)
            if function.latest.package_type == "Image" and params.get("Layers"):
                raise InvalidParameterValueException(
                    "Lambda layers are not supported for functions created with container images.")
            updated = configuration.apply(function.latest, params, self._layer_lookup,
                                          self._file_system_problem)
            if "Layers" in params:
                self._check_package(updated, self._blobs.read(updated.code_hex))
                updated = updated.copy(layers=self._code_check(function.name, None, updated.layers)["layers"])
            return self._begin_update(updated, publish=False)

    def update_code(self, params: dict) -> FunctionVersion:
        self._updatable(params["FunctionName"], params.get("RevisionId"))  # its errors come before S3's
        # Outside the lock: reading from S3 may take a while (an image function's update has no zip).
        zip_bytes = None if params.get("ImageUri") else self._zip_from(params)
        with self._store.locked(self.ref(params["FunctionName"]).name), self._lock:
            function = self._updatable(params["FunctionName"], params.get("RevisionId"))
            if function.latest.package_type == "Image":
                return self._update_image(function, params)
            if params.get("ImageUri") or zip_bytes is None:
                raise InvalidParameterValueException(IMAGE_URI_ON_ZIP)
            updated = function.latest
            if "Architectures" in params:
                updated = updated.copy(architectures=list(params["Architectures"]))
            updated = updated.copy(**self._code_check(function.name, zip_bytes, updated.layers))
            if params.get("DryRun"):
                self._check_package(updated, zip_bytes)
                digest = base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()
                return updated.copy(code_sha256=digest, code_size=len(zip_bytes))
            updated = self._with_code(updated, zip_bytes)
            return self._begin_update(updated, publish=bool(params.get("Publish")))

    # -- publish ------------------------------------------------------------------------------
    def publish(self, params: dict) -> FunctionVersion:
        ref = self.ref(params["FunctionName"])
        with self._store.locked(ref.name), self._lock:
            function = self._function(ref.name)
            latest = function.latest
            if latest.state == "Pending" or latest.last_update_status == "InProgress":
                raise ResourceConflictException(
                    "The operation cannot be performed at this time. An update is in progress for resource: "
                    f"{self.arn(function.name)}"
                )
            sha = params.get("CodeSha256")
            if sha is not None and sha != latest.code_sha256:
                raise InvalidParameterValueException(
                    f"CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST "
                    f"({latest.code_sha256}). Please try again with the CodeSHA256 in $LATEST."
                )
            revision = params.get("RevisionId")
            if revision is not None and revision != latest.revision_id:
                raise PreconditionFailedException(
                    "The Revision Id provided does not match the latest Revision Id. Call the "
                    "GetFunction/GetAlias API to retrieve the latest Revision Id"
                )
            version = self._publish(function, latest, description=params.get("Description"))
        self._publish_event(FunctionChanged(ref.name))
        return version

    def _publish(self, function: Function, latest: FunctionVersion, description: str | None) -> FunctionVersion:
        previous = self._store.get_version(function.name, str(function.last_version_number)) \
            if function.last_version_number else None
        if previous is not None and _unchanged_since(
                previous, self._store.published_from(function.name, previous.version), latest):
            return previous
        number = function.last_version_number + 1
        version = latest.copy(
            version=str(number), revision_id=str(uuid.uuid4()), last_modified=lambda_timestamp(),
            description=latest.description if description is None else description,
            last_update_status="Successful", last_update_status_reason=None, last_update_status_reason_code=None,
        )
        if not self._store.publish(version, source_modified=latest.last_modified):  # another node published it
            raise ResourceConflictException(
                "The operation cannot be performed at this time. An update is in progress for resource: "
                f"{self.arn(function.name)}"
            )
        return version

    # -- delete -------------------------------------------------------------------------------
    def delete(self, function_name: str, qualifier: str | None = None) -> None:
        ref = self.ref(function_name, qualifier)
        with self._store.locked(ref.name), self._lock:
            function = self._function(ref.name)
            if ref.qualifier == LATEST:
                raise InvalidParameterValueException(
                    "$LATEST version cannot be deleted without deleting the function."
                )
            if ref.qualifier is not None:
                if not ref.qualifier.isdigit():
                    raise InvalidParameterValueException("Deletion of aliases is not currently supported.")
                version = self._store.get_version(ref.name, ref.qualifier)
                if version is None:
                    raise ResourceNotFoundException(f"Function not found: {self.arn(ref.name, ref.qualifier)}")
                using = [a.name for a in self._aliases.pointing_at(ref.name, ref.qualifier)]
                if using:
                    raise ResourceConflictException(
                        "Unable to delete version because the following aliases reference it: "
                        f"[{', '.join(using)}]"
                    )
                self._store.delete_version(ref.name, ref.qualifier)
                codes = {version.code_hex}
            else:
                codes = {v.code_hex for v in self._store.list_versions(ref.name)}
                self._aliases.delete_all(function.name)
                self._store.delete(function.name)
            for code_hex in codes - {""}:  # image functions keep no code blob
                if not self._store.code_in_use(code_hex):
                    self._blobs.delete(code_hex)
        self._publish_event(FunctionChanged(ref.name) if ref.qualifier is not None else FunctionDeleted(ref.name))
        if ref.qualifier is not None:
            self._publish_event(VersionDeleted(ref.name, ref.qualifier))

    # -- revisions ----------------------------------------------------------------------------
    def revise(self, function_name: str, qualifier: str | None, expected: str | None = None) -> str:
        """Give the function, version or alias a new RevisionId (its resource policy changed) and
        return it; with `expected`, only if that is its current one (else PreconditionFailed)."""
        with self._store.locked(self.ref(function_name).name), self._lock:
            function, version = self.get(function_name, qualifier)
            alias = None
            if qualifier not in (None, LATEST) and not qualifier.isdigit():
                alias = self._aliases.get(function.name, qualifier)
            current = alias.revision_id if alias is not None else version.revision_id
            if expected is not None and expected != current:
                raise PreconditionFailedException(
                    "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to "
                    "retrieve the latest Revision Id"
                )
            revision = str(uuid.uuid4())
            if alias is not None:
                alias.revision_id = revision
                self._aliases.save(alias)
            else:
                self._store.save_version(version.copy(revision_id=revision))
            return revision

    # -- code download ------------------------------------------------------------------------
    def code(self, code_hex: str) -> bytes:
        """A stored package (function code or layer content) by its digest: Code.Location's target."""
        if not self._blobs.exists(code_hex):
            raise ResourceNotFoundException(NOT_FOUND)
        return self._blobs.read(code_hex)


def _unchanged_since(published: FunctionVersion, source_modified: str | None, latest: FunctionVersion) -> bool:
    """Whether nothing happened to $LATEST since `published` was taken from it: every configuration
    or code update (even to the same values or bytes) gives $LATEST a new LastModified. Versions
    stored before that was recorded fall back to comparing configuration and code."""
    if source_modified is not None and source_modified != latest.last_modified:
        return False
    return _same(published, latest)


def _same(published: FunctionVersion, latest: FunctionVersion) -> bool:
    ignore = {"version", "revision_id", "last_modified", "description", "state", "state_reason",
              "state_reason_code", "last_update_status", "last_update_status_reason",
              "last_update_status_reason_code"}
    a, b = published.to_dict(), latest.to_dict()
    return all(a[key] == b[key] for key in a if key not in ignore)


def _store_page(fetch, marker: str | None, max_items: int | None) -> tuple[list[FunctionVersion], str | None]:
    """One page of versions read from the store after `marker`, and the next page's marker."""
    limit = min(max_items or LIST_PAGE_CAP, LIST_PAGE_CAP)
    items = fetch(_decode_marker(marker), limit + 1)
    if len(items) <= limit:
        return items, None
    items = items[:limit]
    last = items[-1]
    return items, _encode_marker(last.name, 0 if last.version == LATEST else int(last.version))


def _encode_marker(name: str, number: int) -> str:
    return base64.urlsafe_b64encode(f"{name}:{number}".encode()).decode()


def _decode_marker(marker: str | None) -> tuple[str, int] | None:
    if not marker:
        return None
    try:
        name, number = base64.urlsafe_b64decode(marker.encode()).decode().rsplit(":", 1)
        return name, int(number)
    except ValueError as exc:
        raise InvalidParameterValueException(f"Invalid marker: {marker}") from exc


def _source(version: FunctionVersion) -> tuple:
    """What a version is prepared from: packages, runtime, image."""
    return _packages(version), version.runtime, version.image_uri, tuple(version.architectures)


def _packages(version: FunctionVersion) -> tuple[str, ...]:
    """The digests a version runs from: its code, then its layers in order."""
    return (version.code_hex, *(layer["CodeHex"] for layer in version.layers))
