"""Access key → (secret, Principal), through the store; the secret is unwrapped by the root of trust.

Every request reads the access key record fresh, so a key added or deactivated by `trent admin` takes
effect on the next request without a restart. Unwrapping is cached by the wrapped bytes themselves.
"""

from __future__ import annotations

from datetime import datetime

from trent.auth import sigv4
from trent.kms.keys import AccessKey
from trent.kms.principals import Principal
from trent.rootoftrust.base import RootOfTrust, UnwrapError, WrappedMaterial, secret_aad
from trent.store.base import Reader


class Authenticator:
    def __init__(self, store: Reader, root: RootOfTrust) -> None:
        self._store = store
        self._root = root
        self._secrets: dict[bytes, str] = {}

    def __repr__(self) -> str:
        return f"Authenticator(cached={len(self._secrets)})"

    def _secret(self, record: AccessKey) -> str | None:
        secret = self._secrets.get(record.wrapped_secret)
        if secret is None:
            try:
                wrapped = WrappedMaterial.from_bytes(record.wrapped_secret)
                secret = self._root.unwrap(wrapped, secret_aad(record.access_key_id)).reveal().decode()
            except UnwrapError:
                return None  # a tampered record authenticates nobody
            if len(self._secrets) > 10_000:
                self._secrets.clear()
            self._secrets[record.wrapped_secret] = secret
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
