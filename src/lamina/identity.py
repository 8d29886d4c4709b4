"""Who is calling: the `Caller` every request carries from the pipeline into its typed call.

Today every caller is anonymous and stands for the account's root principal; SigV4 verification
will fill the access key id and the principal from the signature. Imports nothing from lamina.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """The identity a request was made with, as authentication resolved it."""

    account_id: str
    principal_arn: str
    access_key_id: str | None = None
    source_ip: str | None = None
    authenticated: bool = False


def anonymous(account_id: str, source_ip: str | None = None) -> Caller:
    """An unsigned caller: the account's root-like default principal."""
    return Caller(account_id=account_id, principal_arn=f"arn:aws:iam::{account_id}:root", source_ip=source_ip)
