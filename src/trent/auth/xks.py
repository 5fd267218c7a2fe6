"""SigV4 of the XKS proxy API: service `kms-xks-proxy`, each logical key store with its own credential.

The specification (aws/aws-kms-xksproxy-api-spec, "Authentication" and Appendix A) has AWS KMS sign every
request with the key store's access key id and secret, SignedHeaders host;x-amz-date, within 5 minutes; a
rotated credential stays valid beside the new one until it is retired. The checks are auth/sigv4.py's; the
secret is the store record's, unwrapped by the root of trust and cached by (URI prefix, access key id, wrapped
bytes): the unwrap's AAD binds the wrapped secret to both, so a copy moved to another record must fail, warm
cache or not.
"""

from __future__ import annotations

from datetime import datetime

from trent.auth import sigv4
from trent.kms.xks import XksKeyStore
from trent.rootoftrust.base import RootOfTrust, UnwrapError, WrappedMaterial, xks_secret_aad

SERVICE = "kms-xks-proxy"


class XksAuthenticator:
    def __init__(self, root: RootOfTrust) -> None:
        self._root = root
        self._secrets: dict[tuple[str, str, bytes], str] = {}

    def __repr__(self) -> str:
        return f"XksAuthenticator(cached={len(self._secrets)})"

    def _secret(self, uri_prefix: str, access_key_id: str, wrapped: bytes) -> str | None:
        entry = (uri_prefix, access_key_id, wrapped)
        secret = self._secrets.get(entry)
        if secret is None:
            try:
                material = WrappedMaterial.from_bytes(wrapped)
                secret = self._root.unwrap(material, xks_secret_aad(uri_prefix, access_key_id)).reveal().decode()
            except (UnwrapError, UnicodeDecodeError):
                return None  # a tampered or moved record authenticates nobody
            if len(self._secrets) > 1_000:
                self._secrets.clear()
            self._secrets[entry] = secret
        return secret

    def authenticate(self, request: sigv4.HttpRequest, store: XksKeyStore, now: datetime) -> sigv4.Verified:
        """The access key id and region the request was signed with; a SigV4 AuthError otherwise."""

        def secret_for(access_key_id: str) -> str | None:
            if access_key_id == store.access_key_id:
                return self._secret(store.uri_prefix, access_key_id, store.wrapped_secret)
            if access_key_id == store.previous_access_key_id and store.previous_wrapped_secret is not None:
                return self._secret(store.uri_prefix, access_key_id, store.previous_wrapped_secret)
            return None

        return sigv4.verify(request, secret_for, now, SERVICE)
