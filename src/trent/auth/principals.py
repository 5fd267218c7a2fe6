"""Access key → (secret, Principal), through the store; the secret is unwrapped by the root of trust.

Every request reads the access key record fresh, so a key added or deactivated by `trent admin` takes
effect on the next request without a restart. Unwrapping is cached by (access key id, wrapped bytes): the
unwrap's AAD binds the wrapped secret to its access key id, so a copy moved to another record must fail, warm
cache or not.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from trent.auth import sigv4
from trent.kms.ids import AccountId
from trent.kms.keys import AccessKey
from trent.kms.principals import Principal, root_arn
from trent.rootoftrust.base import RootOfTrust, UnwrapError, WrappedMaterial, secret_aad
from trent.store.base import Reader

_ACCOUNT_ID = re.compile(r"[0-9]{12}")


class Authenticates(Protocol):
    def authenticate(self, request: sigv4.HttpRequest, now: datetime) -> tuple[Principal, str]:
        """The caller and the region its request was signed for; a SigV4 AuthError otherwise."""
        ...


class Authenticator:
    def __init__(self, store: Reader, root: RootOfTrust) -> None:
        self._store = store
        self._root = root
        self._secrets: dict[tuple[str, bytes], str] = {}

    def __repr__(self) -> str:
        return f"Authenticator(cached={len(self._secrets)})"

    def _secret(self, record: AccessKey) -> str | None:
        entry = (record.access_key_id, record.wrapped_secret)
        secret = self._secrets.get(entry)
        if secret is None:
            try:
                wrapped = WrappedMaterial.from_bytes(record.wrapped_secret)
                secret = self._root.unwrap(wrapped, secret_aad(record.access_key_id)).reveal().decode()
            except UnwrapError:
                return None  # a tampered record authenticates nobody
            if len(self._secrets) > 10_000:
                self._secrets.clear()
            self._secrets[entry] = secret
        return secret

    def authenticate(self, request: sigv4.HttpRequest, now: datetime) -> tuple[Principal, str]:
        """The caller and the region its request was signed for; a SigV4 AuthError otherwise."""
        found: list[AccessKey] = []

        def secret_for(access_key_id: str) -> str | None:
            record = self._store.get_access_key(access_key_id)
            if record is None or not record.active:
                return None
            found.append(record)
            return self._secret(record)

        verified = sigv4.verify(request, secret_for, now)
        record = found[0]
        return Principal(record.account, record.principal_arn, record.access_key_id), verified.region


class DevAuthenticator:
    """A dev server's authentication (docs/dev-mode.md): any access key id and secret, as LocalStack and moto
    take them. The request is still checked as SigV4 (form, signed headers, date, scope) but its signature is
    not, unless its access key is one the store holds (a seeded user's, say): then it is checked as always, and
    refused while inactive.
    An unknown key id of 12 digits is the root of that account (LocalStack's convention), made on first use
    (`ensure_account`); any other is the root of `default_account`."""

    def __init__(
        self,
        real: Authenticator,
        store: Reader,
        default_account: AccountId,
        ensure_account: Callable[[AccountId], None],
    ) -> None:
        self._real = real
        self._store = store
        self._default = default_account
        self._ensure_account = ensure_account

    def __repr__(self) -> str:
        return f"DevAuthenticator(default_account={self._default})"

    def authenticate(self, request: sigv4.HttpRequest, now: datetime) -> tuple[Principal, str]:
        verified = sigv4.check_unsigned(request, now)
        # The key id as parsed for the check itself (any field order the parser takes), not the SDK's layout
        # alone: a stored key is always checked as usual, and refused while inactive.
        key_id = verified.access_key_id
        if self._store.get_access_key(key_id) is not None:
            return self._real.authenticate(request, now)
        account = AccountId(key_id) if _ACCOUNT_ID.fullmatch(key_id) else self._default
        self._ensure_account(account)
        return Principal(account, root_arn(account), key_id), verified.region
