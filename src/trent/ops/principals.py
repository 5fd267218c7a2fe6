"""Administration of access keys (not KMS operations: `trent admin` and first start call these)."""

from __future__ import annotations

import re
import secrets
import string

from trent.kms.ids import AccountId
from trent.kms.keys import AccessKey
from trent.kms.sensitive import Sensitive
from trent.ops.deps import Deps
from trent.rootoftrust.base import WrappedMaterial, secret_aad

_ID_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"
ACCESS_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")


class AccessKeyError(ValueError):
    """An access key id or secret that cannot be used (bad shape, or the id is taken)."""


def new_access_key_id() -> str:
    return "AKIA" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


def new_secret() -> Sensitive:
    return Sensitive("".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40)).encode())


def create_access_key(
    deps: Deps,
    account: AccountId,
    principal_arn: str,
    access_key_id: str | None = None,
    secret: Sensitive | None = None,
) -> tuple[AccessKey, Sensitive]:
    """Store a new access key, its secret wrapped by the root of trust; returns the key and its secret."""
    access_key_id = access_key_id or new_access_key_id()
    if ACCESS_KEY_ID.fullmatch(access_key_id) is None:
        raise AccessKeyError("an access key id is 16-128 uppercase letters and digits")
    secret = secret or new_secret()
    if len(secret) < 16:
        raise AccessKeyError("a secret access key must be at least 16 characters")
    wrapped = deps.root_of_trust.wrap(secret, secret_aad(access_key_id)).to_bytes()
    record = AccessKey(access_key_id, account, principal_arn, wrapped, deps.clock())
    with deps.store.transaction() as tx:
        if tx.get_access_key(access_key_id) is not None:
            raise AccessKeyError(f"access key {access_key_id} already exists")
        tx.put_access_key(record)
    return record, secret


def secret_of(deps: Deps, record: AccessKey) -> Sensitive:
    return deps.root_of_trust.unwrap(
        WrappedMaterial.from_bytes(record.wrapped_secret), secret_aad(record.access_key_id)
    )
