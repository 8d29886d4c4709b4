"""Who is calling: the `Caller` every request carries from the pipeline into its typed call.

Without authentication every caller is anonymous and stands for the account's root principal; with
SigV4 (lamina.api.signatures) the caller is the IAM user whose access key signed the request, or the
assumed-role session whose temporary credentials did. Authorization (the policy evaluator) reads
`principal_arn`, `kind` and the names; `identity_policies` (lamina.control.sts) reads the names to
find the policies that apply. Imports nothing from lamina.
"""

from __future__ import annotations

from dataclasses import dataclass

ROOT, USER, ASSUMED_ROLE = "root", "user", "assumed-role"


@dataclass(frozen=True)
class Caller:
    """The identity a request was made with, as authentication resolved it."""

    account_id: str
    principal_arn: str
    access_key_id: str | None = None
    source_ip: str | None = None
    authenticated: bool = False
    kind: str = ROOT  # root | user | assumed-role
    user_name: str | None = None  # kind user
    role_name: str | None = None  # kind assumed-role
    session_name: str | None = None  # kind assumed-role
    user_id: str | None = None  # GetCallerIdentity's UserId: AIDA… for a user, AROA…:session for a session

    @property
    def role_arn(self) -> str | None:
        """The IAM role of an assumed-role session (path-less, as session ARNs drop the path)."""
        if self.kind != ASSUMED_ROLE:
            return None
        return f"arn:aws:iam::{self.account_id}:role/{self.role_name}"


def anonymous(account_id: str, source_ip: str | None = None) -> Caller:
    """An unsigned caller: the account's root-like default principal."""
    return Caller(account_id=account_id, principal_arn=f"arn:aws:iam::{account_id}:root", source_ip=source_ip)
