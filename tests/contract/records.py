"""Records the contract tests store: small builders with fixed dates, so each test says only what it varies."""

from __future__ import annotations

from datetime import UTC, datetime

from trent.kms.ids import AccountId, AliasName, KeyId, Region
from trent.kms.keys import Alias, Grant, Key
from trent.kms.specs import KeySpec, KeyState, KeyUsage, Origin

ACCOUNT, OTHER_ACCOUNT = AccountId("111122223333"), AccountId("444455556666")
REGION, OTHER_REGION = Region("us-east-1"), Region("eu-west-1")
NOW = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def key(n: int, **changes: object) -> Key:
    """Key number `n` (its id ends in n), ENABLED, in ACCOUNT and REGION, at revision 1 (not a fresh one, so
    that each call builds the same record); `changes` evolve it (revision + 1)."""
    base = Key(
        key_id=KeyId(f"00000000-0000-4000-8000-{n:012d}"),
        account=ACCOUNT,
        region=REGION,
        spec=KeySpec.SYMMETRIC_DEFAULT,
        usage=KeyUsage.ENCRYPT_DECRYPT,
        origin=Origin.AWS_KMS,
        state=KeyState.ENABLED,
        creation_date=NOW,
        revision=1,
        policy_revision=1,
    )
    return base.evolve(**changes) if changes else base


def alias(name: str, target: Key, account: AccountId = ACCOUNT, region: Region = REGION) -> Alias:
    return Alias(account, region, AliasName(f"alias/{name}"), target.store_id, NOW, NOW)


def grant(grant_id: str, target: Key, retiring: str | None = None) -> Grant:
    grantee = f"arn:aws:iam::{ACCOUNT}:user/grantee"
    return Grant(grant_id, target.store_id, grantee, ("Encrypt", "Decrypt"), ACCOUNT, NOW, retiring_principal=retiring)
