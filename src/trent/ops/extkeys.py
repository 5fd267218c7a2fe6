"""Keys in an external key store (Origin EXTERNAL_KEY_STORE): AWS's double encryption.

"AWS KMS first encrypts the data ... using AWS KMS key material ... then ... the external key store proxy
encrypts [that ciphertext] with the external key" (Developer Guide, "External key stores", double encryption):
neither Trent's material alone nor the proxy alone opens a ciphertext. The key has Trent material, generated
and wrapped by the root of trust as for any symmetric key, and an external key (XksKeyId) on the proxy.

The blob (docs/decisions/0016-external-key-stores.md): the symmetric blob header (key id, material version,
nonce, IV: crypto/ciphertext.py), then, instead of its body (the Trent layer's ciphertext || tag), the proxy's
Encrypt answer for that body: format 1 || 1-byte length || IV || 1-byte length || tag || 1-byte length ||
ciphertextMetadata || the proxy's ciphertext. The proxy's additionalAuthenticatedData is SHA-256(header ||
encryption context encoding), which binds the outer layer to the key, version and context as the inner layer is.

Every failure of the proxy or of the store's connection in a cryptographic operation is KMSInvalidStateException
("AWS KMS cryptographic operations return KMSInvalidStateException for all failures related to the external
configuration or connection state of the external key store": Developer Guide, "Troubleshooting external key
stores"), with a message naming the cause; a ciphertext the proxy refuses is InvalidCiphertextException.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace

from cryptography.exceptions import InvalidTag

from trent.crypto import ciphertext, symmetric
from trent.kms.errors import (
    InvalidCiphertextException,
    KMSInvalidStateException,
    XksKeyAlreadyInUseException,
    XksKeyInvalidConfigurationException,
    XksKeyNotFoundException,
)
from trent.kms.keys import Key
from trent.kms.keystores import CustomKeyStore
from trent.kms.operations import Operation
from trent.kms.specs import Origin
from trent.ops import extstores
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.keyring import MissingMaterial
from trent.xksclient.port import FailureKind, ProxyFailure, ProxySealed, ProxyTarget

_F = FailureKind
FORMAT = 1
_TAG = 16
# Why a cryptographic operation could not use the external key (KMSInvalidStateException's message).
REASONS: Mapping[FailureKind, str] = {
    _F.NOT_REACHABLE: "its external key store proxy cannot be reached",
    _F.TIMED_OUT: "its external key store proxy did not answer in time",
    _F.INVALID_TLS: "TLS with its external key store proxy failed",
    _F.ACCESS_DENIED: "its external key store proxy denied the request",
    _F.INVALID_RESPONSE: "its external key store proxy gave an answer that is not valid",
    _F.INVALID_CONFIGURATION: "its external key store proxy is not configured correctly",
    _F.KEY_NOT_FOUND: "its external key was not found",
    _F.KEY_STATE: "its external key (or its key store on the proxy) is not enabled",
    _F.KEY_USAGE: "its external key does not allow this operation",
}


def is_external(key: Key) -> bool:
    return key.origin is Origin.EXTERNAL_KEY_STORE


def check_external_key(deps: Deps, ctx: RequestContext, store: CustomKeyStore, xks_key_id: str) -> None:
    """CreateKey's checks of the external key: GetKeyMetadata must show AES_256 for both ENCRYPT and DECRYPT
    (XksKeyInvalidConfigurationException), found (XksKeyNotFoundException), and no other key of the store may
    use it (XksKeyAlreadyInUseException)."""
    after: str | None = None
    while True:
        page = deps.store.list_keys(ctx.account, ctx.region, after, 1000)
        for other in page.items:
            if other.custom_key_store_id == store.custom_key_store_id and other.xks_key_id == xks_key_id:
                raise XksKeyAlreadyInUseException(
                    f"External key {xks_key_id} is already associated with KMS key {other.arn}."
                )
        if page.next_marker is None:
            break
        after = page.next_marker
    try:
        info = deps.xks_proxy.key_metadata(
            extstores.target(deps, store), xks_key_id, extstores.request_metadata(ctx, Operation.CreateKey)
        )
    except ProxyFailure as failure:
        if failure.kind is _F.KEY_NOT_FOUND:
            raise XksKeyNotFoundException(f"The external key {xks_key_id} was not found.") from None
        if failure.kind in (_F.KEY_STATE, _F.KEY_USAGE):
            raise XksKeyInvalidConfigurationException(f"The external key {xks_key_id} is not usable.") from None
        error = extstores.MANAGEMENT_ERRORS.get(failure.kind, XksKeyInvalidConfigurationException)
        raise error(f"The external key store proxy check failed: {failure.detail}.") from None
    if info.key_spec != "AES_256" or not {"ENCRYPT", "DECRYPT"} <= set(info.key_usage):
        raise XksKeyInvalidConfigurationException(
            f"The external key {xks_key_id} must be an AES_256 key whose key usage includes ENCRYPT and DECRYPT."
        )
    if info.key_status != "ENABLED":
        raise XksKeyInvalidConfigurationException(f"The external key {xks_key_id} is not enabled.")


def _serving(deps: Deps, key: Key) -> ProxyTarget:
    store = deps.store.get_custom_key_store(key.custom_key_store_id or "")
    if store is None or not store.connected:
        raise KMSInvalidStateException(f"{key.arn} is unavailable.")
    try:
        return extstores.target(deps, store)
    except ProxyFailure:
        raise KMSInvalidStateException(
            f"{key.arn} is unavailable: its external key store credential is not usable."
        ) from None


def _failed(key: Key, failure: ProxyFailure) -> Exception:
    if failure.kind is _F.INVALID_CIPHERTEXT:
        return InvalidCiphertextException()
    return KMSInvalidStateException(f"{key.arn} is unavailable: {REASONS.get(failure.kind, failure.detail)}.")


def _proxy_aad(header: bytes, context_aad: bytes) -> bytes:
    return hashlib.sha256(header + context_aad).digest()


def _pack(sealed: ProxySealed) -> bytes:
    parts = (sealed.initialization_vector, sealed.authentication_tag, sealed.ciphertext_metadata)
    if any(len(p) > 0xFF for p in parts):
        raise ProxyFailure(_F.INVALID_RESPONSE, "the proxy's IV, tag or ciphertext metadata is too long")
    return bytes([FORMAT]) + b"".join(bytes([len(p)]) + p for p in parts) + sealed.ciphertext


def _unpack(body: bytes) -> ProxySealed:
    if not body or body[0] != FORMAT:
        raise InvalidCiphertextException()
    at, parts = 1, []
    for _ in range(3):
        if at >= len(body) or at + 1 + body[at] > len(body):
            raise InvalidCiphertextException()
        parts.append(body[at + 1 : at + 1 + body[at]])
        at += 1 + body[at]
    return ProxySealed(body[at:], parts[0], parts[1], parts[2])


def seal(deps: Deps, ctx: RequestContext, operation: str, key: Key, plaintext: bytes, context_aad: bytes) -> bytes:
    target = _serving(deps, key)
    loaded = deps.keyring.load(deps.store, key)
    inner = ciphertext.unpack(symmetric.encrypt(loaded.secret, key.key_id, key.current_version, plaintext, context_aad))
    metadata = extstores.request_metadata(ctx, operation, key.arn)
    try:
        sealed = deps.xks_proxy.encrypt(
            target, key.xks_key_id or "", inner.body, _proxy_aad(inner.header, context_aad), metadata
        )
        return inner.header + _pack(sealed)
    except ProxyFailure as failure:
        raise _failed(key, failure) from None


def open_blob(
    deps: Deps, ctx: RequestContext, operation: str, key: Key, blob: ciphertext.Blob, context_aad: bytes
) -> bytes:
    sealed = _unpack(blob.body)
    target = _serving(deps, key)
    metadata = extstores.request_metadata(ctx, operation, key.arn)
    try:
        inner = deps.xks_proxy.decrypt(
            target, key.xks_key_id or "", sealed, _proxy_aad(blob.header, context_aad), metadata
        )
    except ProxyFailure as failure:
        raise _failed(key, failure) from None
    if len(inner) < _TAG:
        raise InvalidCiphertextException()
    try:
        loaded = deps.keyring.load(deps.store, key, blob.material_version)
        return symmetric.decrypt(loaded.secret, replace(blob, body=inner), context_aad)
    except (MissingMaterial, InvalidTag):
        raise InvalidCiphertextException() from None
