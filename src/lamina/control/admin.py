"""The administrator of an authenticated lamina: on the first start with `--auth sigv4` an IAM user
`admin` with AdministratorAccess and an access key are created, and the key is written once, as a
profile block for ~/.aws/credentials, to an owner-readable file in the data dir (`lamina
credentials` prints it). The key is returned to be printed once; it never goes to a log.

In a cluster (a shared database) every front must hand out the same key: the first front to start
makes it and records it among the shared secrets; the others write that key to their own data dir's
file (and return None: it was printed by the front that made it).
Imports lamina.control.iam, lamina.managed_policies, lamina.store.private_files, lamina.store.secrets.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from lamina import managed_policies
from lamina.control.iam import USER, Iam
from lamina.errors import IamError
from lamina.store import private_files
from lamina.store.secrets import ADMIN_KEY, SecretStore

ADMIN_USER = "admin"
CLAIM_ATTEMPTS = 40  # how often a front tries to make or find the cluster's key (CLAIM_PAUSE apart when
CLAIM_PAUSE = 0.25  # the user's two keys are taken)
ADMIN_POLICY = managed_policies.arn("AdministratorAccess")


def profile_block(profile: str, access_key_id: str, secret: str, region: str, endpoint: str) -> str:
    return (f"[{profile}]\n"
            f"aws_access_key_id = {access_key_id}\n"
            f"aws_secret_access_key = {secret}\n"
            f"# region = {region}, endpoint_url = {endpoint} (in ~/.aws/config, or AWS_ENDPOINT_URL)\n")


def ensure_admin(iam: Iam, path: Path, *, profile: str, region: str, endpoint: str,
                 shared: SecretStore | None = None) -> tuple[str, str] | None:
    """The new administrator key (id, secret) when none was made before (no file at `path`), else None.
    With `shared` (a cluster's database) the key is the cluster's: made by the first front only."""
    if shared is not None:
        return _ensure_shared_admin(iam, path, shared, profile=profile, region=region, endpoint=endpoint)
    if path.exists():
        return None
    _ensure_user(iam)
    for row in iam.store.keys(ADMIN_USER):  # a key made by a start that died before writing the file
        iam.delete_access_key(ADMIN_USER, row.access_key_id)
    key = iam.create_access_key(ADMIN_USER)["AccessKey"]
    private_files.write(path, profile_block(profile, key["AccessKeyId"], key["SecretAccessKey"], region,
                                            endpoint).encode())
    return key["AccessKeyId"], key["SecretAccessKey"]


def _ensure_user(iam: Iam) -> None:
    if iam.user(ADMIN_USER) is None:
        try:
            iam.create_user({"UserName": ADMIN_USER})
        except IamError as error:  # another front made it meanwhile
            if error.code != "EntityAlreadyExists":
                raise
    iam.attach(USER, ADMIN_USER, ADMIN_POLICY)


def _recorded(iam: Iam, shared: SecretStore) -> tuple[str, str] | None:
    """The cluster's administrator key, if one is recorded and still exists."""
    raw = shared.get(ADMIN_KEY)
    if raw is None:
        return None
    key_id, secret = json.loads(raw)
    row = iam.store.key(key_id)
    return (key_id, secret) if row is not None and row.user_name == ADMIN_USER else None


def _ensure_shared_admin(iam: Iam, path: Path, shared: SecretStore, *, profile: str, region: str,
                         endpoint: str) -> tuple[str, str] | None:
    made = None
    key = _recorded(iam, shared)
    for attempt in range(CLAIM_ATTEMPTS):
        if key is not None:
            break
        _ensure_user(iam)
        try:
            fresh = iam.create_access_key(ADMIN_USER)["AccessKey"]
        except IamError as error:  # two keys already: other fronts' being claimed, or a dead start's
            if error.code != "LimitExceeded":
                raise
            time.sleep(CLAIM_PAUSE)
            key = _recorded(iam, shared)
            if key is None and attempt >= CLAIM_ATTEMPTS // 2:  # nobody claims them: stale, remove them
                for row in iam.store.keys(ADMIN_USER):
                    _forget(iam, row.access_key_id)
            continue
        made = (fresh["AccessKeyId"], fresh["SecretAccessKey"])
        value = json.dumps(made).encode()
        stale = shared.get(ADMIN_KEY)
        if stale is None:
            shared.add(ADMIN_KEY, value)
        elif _recorded(iam, shared) is None:  # recorded, but that key was deleted: replace it (once)
            shared.replace(ADMIN_KEY, stale, value)
        key = _recorded(iam, shared)
        if key != made:  # another front recorded its key first: use that one
            _forget(iam, made[0])
            made = None
    if key is None:
        raise RuntimeError("lamina could not agree on an administrator access key with the other fronts")
    if not path.exists():
        try:
            private_files.write(path, profile_block(profile, key[0], key[1], region, endpoint).encode())
        except FileExistsError:
            pass
    return made


def _forget(iam: Iam, access_key_id: str) -> None:
    try:
        iam.delete_access_key(ADMIN_USER, access_key_id)
    except IamError as error:  # already deleted by another front
        if error.code != "NoSuchEntity":
            raise
