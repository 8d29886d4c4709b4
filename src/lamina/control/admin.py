"""The administrator of an authenticated lamina: on the first start with `--auth sigv4` an IAM user
`admin` with AdministratorAccess and an access key are created, and the key is written once, as a
profile block for ~/.aws/credentials, to an owner-readable file in the data dir (`lamina
credentials` prints it). The key is returned to be printed once; it never goes to a log.
Imports lamina.control.iam, lamina.managed_policies, lamina.store.private_files.
"""

from __future__ import annotations

from pathlib import Path

from lamina import managed_policies
from lamina.control.iam import USER, Iam
from lamina.store import private_files

ADMIN_USER = "admin"
ADMIN_POLICY = managed_policies.arn("AdministratorAccess")


def profile_block(profile: str, access_key_id: str, secret: str, region: str, endpoint: str) -> str:
    return (f"[{profile}]\n"
            f"aws_access_key_id = {access_key_id}\n"
            f"aws_secret_access_key = {secret}\n"
            f"# region = {region}, endpoint_url = {endpoint} (in ~/.aws/config, or AWS_ENDPOINT_URL)\n")


def ensure_admin(iam: Iam, path: Path, *, profile: str, region: str, endpoint: str) -> tuple[str, str] | None:
    """The new administrator key (id, secret) when none was made before (no file at `path`), else None."""
    if path.exists():
        return None
    if iam.user(ADMIN_USER) is None:
        iam.create_user({"UserName": ADMIN_USER})
    iam.attach(USER, ADMIN_USER, ADMIN_POLICY)
    for row in iam.store.keys(ADMIN_USER):  # a key made by a start that died before writing the file
        iam.delete_access_key(ADMIN_USER, row.access_key_id)
    key = iam.create_access_key(ADMIN_USER)["AccessKey"]
    private_files.write(path, profile_block(profile, key["AccessKeyId"], key["SecretAccessKey"], region,
                                            endpoint).encode())
    return key["AccessKeyId"], key["SecretAccessKey"]
