"""The root-of-trust port: wrap and unwrap key material and secrets. Nothing else ever sees a root key.

Every wrapped blob names the root key that made it, so root keys can rotate without rewrapping old blobs
(Vault's seal KeyInfo.KeyID). The AAD binds a blob to what it protects (key id and material version, or
an access key id), so a blob moved to another record fails to unwrap.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Protocol

from trent.kms.sensitive import Sensitive

_HEADER = struct.Struct(">BB")
FORMAT_VERSION = 1


class UnwrapError(Exception):
    """A wrapped blob failed authentication or names an unknown root key."""


class RootUnavailable(Exception):
    """The root of trust cannot answer now (an HSM that fails, is gone, or does not answer in time). Not an
    UnwrapError: nothing is known about the blob, and the request fails as KMSInternalException."""


class RootSetupError(Exception):
    """The root of trust cannot be opened as configured (a module, token, PIN, passphrase or key file problem);
    the message says what is wrong and names no secret."""


@dataclass(frozen=True, slots=True)
class WrappedMaterial:
    """Self-describing: format version, root key id, algorithm, then the algorithm's output."""

    root_key_id: str
    algorithm: str
    blob: bytes = field(repr=False)

    def to_bytes(self) -> bytes:
        rk, alg = self.root_key_id.encode(), self.algorithm.encode()
        return _HEADER.pack(FORMAT_VERSION, len(rk)) + rk + bytes([len(alg)]) + alg + self.blob

    @classmethod
    def from_bytes(cls, data: bytes) -> WrappedMaterial:
        try:
            version, rk_len = _HEADER.unpack_from(data)
            if version != FORMAT_VERSION:
                raise UnwrapError("unknown wrapped-material format")
            at = _HEADER.size
            rk = data[at : at + rk_len]
            at += rk_len
            alg_len = data[at]
            alg = data[at + 1 : at + 1 + alg_len]
            if len(rk) != rk_len or len(alg) != alg_len:
                raise UnwrapError("truncated wrapped material")
            return cls(rk.decode(), alg.decode(), data[at + 1 + alg_len :])
        except (struct.error, IndexError, UnicodeDecodeError) as exc:
            raise UnwrapError("malformed wrapped material") from exc


class RootOfTrust(Protocol):
    """wrap/unwrap with AAD. Implementations: software (root key file), PKCS#11 (an HSM).

    A root holds one or more root key versions; `wrap` uses the active one (the newest), `unwrap` the one the
    blob names. A root opened in one process is used only in that process (after a fork, an adapter with
    per-process state makes its own). `close` releases what the root holds (sessions, a login)."""

    @property
    def active_key_id(self) -> str: ...

    def wrap(self, material: Sensitive, aad: bytes) -> WrappedMaterial: ...

    def unwrap(self, wrapped: WrappedMaterial, aad: bytes) -> Sensitive: ...

    def close(self) -> None: ...


def material_aad(key_id: str, version: int) -> bytes:
    return f"trent:key-material:v1:{key_id}:{version}".encode()


def audit_key_aad() -> bytes:
    return b"trent:audit-key:v1"


def wrapping_key_aad(key_id: str, token_digest: bytes) -> bytes:
    """Binds an import set's wrapped private key to its key and its token: moved to another set, it will not open."""
    return f"trent:import-wrapping-key:v1:{key_id}:{token_digest.hex()}".encode()


def key_store_password_aad(custom_key_store_id: str) -> bytes:
    """Binds a custom key store's wrapped KeyStorePassword (its token's user PIN) to that store."""
    return f"trent:key-store-password:v1:{custom_key_store_id}".encode()


def xks_credential_aad(custom_key_store_id: str, access_key_id: str) -> bytes:
    """Binds an external key store's XKS proxy secret (RawSecretAccessKey) to that store and access key id."""
    return f"trent:xks-credential:v1:{custom_key_store_id}:{access_key_id}".encode()


def secret_aad(access_key_id: str) -> bytes:
    return f"trent:access-key-secret:v1:{access_key_id}".encode()


def xks_secret_aad(uri_prefix: str, access_key_id: str) -> bytes:
    """Binds an XKS key store's SigV4 secret to its URI prefix and access key id (docs/xks.md)."""
    return f"trent:xks-secret:v1:{uri_prefix}:{access_key_id}".encode()
