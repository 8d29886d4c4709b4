"""Code signatures: the manifest digest, embedding, and the deploy-time judgement as a table."""

import pytest

from lamina import signature
from lamina.control.code_signing import outcome
from lamina.signature import Finding, Profile, judge
from support import make_zip

ARN = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/p/v1"
OTHER = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/q/v1"
NOW = 1_000_000.0


def _signed(private, zip_bytes, arn=ARN, signed_at=NOW - 10, expires_at=NOW + 10):
    fields = {"format": 1, "digest": signature.manifest_digest(zip_bytes), "profileVersionArn": arn,
              "jobArn": "arn:job", "signedAt": signed_at, "expiresAt": expires_at}
    return signature.embed(zip_bytes, signature.sign(private, fields))


def test_digest_ignores_order_and_the_signature_but_not_content():
    a = make_zip({"a.py": "1", "b.py": "2"})
    b = make_zip({"b.py": "2", "a.py": "1"})
    assert signature.manifest_digest(a) == signature.manifest_digest(b)
    assert signature.manifest_digest(a) != signature.manifest_digest(make_zip({"a.py": "1", "b.py": "3"}))
    private, _ = signature.new_key()
    assert signature.manifest_digest(_signed(private, a)) == signature.manifest_digest(a)
    assert signature.read(a) is None
    with pytest.raises(signature.SignatureError):
        signature.manifest_digest(b"not a zip")


KEY, PUBLIC = signature.new_key()
OTHER_KEY, OTHER_PUBLIC = signature.new_key()
PACKAGE = make_zip({"app.py": "x"})


@pytest.mark.parametrize(("package", "profile", "allowed", "kind"), [
    (_signed(KEY, PACKAGE), Profile(ARN, PUBLIC), {ARN}, None),
    (PACKAGE, Profile(ARN, PUBLIC), {ARN}, "mismatch"),  # unsigned
    (_signed(KEY, PACKAGE), Profile(ARN, PUBLIC), {OTHER}, "mismatch"),  # not an allowed publisher
    (_signed(KEY, PACKAGE), None, {ARN}, "mismatch"),  # unknown profile version
    (_signed(OTHER_KEY, PACKAGE), Profile(ARN, PUBLIC), {ARN}, "integrity"),  # someone else's key
    (_signed(KEY, PACKAGE, expires_at=NOW), Profile(ARN, PUBLIC), {ARN}, "expiry"),
    (_signed(KEY, PACKAGE), Profile(ARN, PUBLIC, revoked_from=NOW - 20), {ARN}, "revocation"),
    (_signed(KEY, PACKAGE), Profile(ARN, PUBLIC, revoked_from=NOW - 5), {ARN}, None),  # signed before revocation
])
def test_judge(package, profile, allowed, kind):
    finding = judge(signature.read(package), signature.manifest_digest(package), profile, frozenset(allowed), NOW)
    assert (finding.kind if finding else None) == kind


def test_a_changed_entry_fails_integrity():
    package = _signed(KEY, PACKAGE)
    document = signature.read(package)
    finding = judge(document, signature.manifest_digest(make_zip({"app.py": "y"})), Profile(ARN, PUBLIC),
                    frozenset({ARN}), NOW)
    assert finding.kind == "integrity"


@pytest.mark.parametrize(("kind", "policy", "action"), [
    (None, "Enforce", "deploy"), (None, "Warn", "deploy"),
    ("integrity", "Warn", "refuse-integrity"), ("integrity", "Enforce", "refuse-integrity"),
    ("mismatch", "Enforce", "refuse"), ("mismatch", "Warn", "warn"),
    ("expiry", "Enforce", "refuse"), ("expiry", "Warn", "warn"),
    ("revocation", "Enforce", "refuse"), ("revocation", "Warn", "warn"),
])
def test_outcome(kind, policy, action):
    assert outcome(Finding(kind, "") if kind else None, policy) == action
